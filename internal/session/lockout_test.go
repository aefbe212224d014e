package session

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestEachLockInARowLastsTwiceTheLastUpToTheCap(t *testing.T) {
	p := Lockout{MaxFailures: 5, Window: 15 * time.Minute, LockFor: 15 * time.Minute, LockMax: 24 * time.Hour}
	want := []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour,
		8 * time.Hour, 16 * time.Hour, 24 * time.Hour, 24 * time.Hour}
	for i, w := range want {
		if got := p.LockLength(i + 1); got != w {
			t.Errorf("lock %d in a row lasts %s, want %s", i+1, got, w)
		}
	}
}

func TestALockFollowsOnlyALockThatEndedWithinTheCap(t *testing.T) {
	p := DefaultLockout
	cases := []struct {
		name       string
		seen       Failures
		wantStreak int
		wantUntil  time.Time
	}{
		{"FirstLockLastsLockForFromNow", Failures{}, 1, t0.Add(15 * time.Minute)},
		{"AfterALockThatEndedAMinuteAgo", Failures{Until: t0.Add(-time.Minute), Streak: 3}, 4, t0.Add(2 * time.Hour)},
		{"AfterALockThatEndedADayAgo", Failures{Until: t0.Add(-24 * time.Hour), Streak: 3}, 1, t0.Add(15 * time.Minute)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := p.lock(c.seen, t0)
			if got.Streak != c.wantStreak || !got.Until.Equal(c.wantUntil) {
				t.Errorf("lock = streak %d until %s, want %d until %s", got.Streak, got.Until, c.wantStreak, c.wantUntil)
			}
			if !p.Locked(got, t0) || p.Locked(got, got.Until) {
				t.Errorf("Locked(%+v) does not hold from now to its end", got)
			}
		})
	}
}

func TestALockLastsAtLeastToTheEndOfItsWindow(t *testing.T) {
	p := Lockout{MaxFailures: 5, Window: time.Hour, LockFor: time.Minute, LockMax: time.Hour}
	start := time.UnixMilli(p.WindowOf(t0) * time.Hour.Milliseconds()).UTC()
	got := p.lock(Failures{}, start.Add(time.Minute))
	if !got.Until.Equal(start.Add(time.Hour)) {
		t.Errorf("until %s, want the window's end %s", got.Until, start.Add(time.Hour))
	}
}

func TestWindowsFollowEachOtherFromTheEpoch(t *testing.T) {
	p := DefaultLockout
	start := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC) // a quarter hour since the epoch
	for _, at := range []time.Time{start, start.Add(time.Minute), start.Add(p.Window - time.Millisecond)} {
		if p.WindowOf(at) != p.WindowOf(start) || !p.WindowEnd(at).Equal(start.Add(p.Window)) {
			t.Errorf("%s: window %d ending %s; want %d ending %s", at, p.WindowOf(at), p.WindowEnd(at), p.WindowOf(start), start.Add(p.Window))
		}
	}
	if p.WindowOf(start.Add(p.Window)) != p.WindowOf(start)+1 {
		t.Errorf("the next window does not follow at the end of the last")
	}
}

func TestAFullWindowRefusesUntilItEnds(t *testing.T) {
	p := DefaultLockout
	f := Failures{Window: p.WindowOf(t0), Count: 5}
	if !p.Locked(f, t0) || p.Locked(f, p.WindowEnd(t0)) {
		t.Errorf("a full window must refuse while it runs, and only then")
	}
	if !p.Until(f, t0).Equal(p.WindowEnd(t0)) {
		t.Errorf("a full window takes attempts again at %s, want its end %s", p.Until(f, t0), p.WindowEnd(t0))
	}
	if p.Locked(Failures{Window: p.WindowOf(t0), Count: 4}, t0) {
		t.Errorf("a window with room refuses")
	}
	if (Lockout{}).Locked(f, t0) {
		t.Errorf("a lockout with MaxFailures 0 refuses")
	}
}

func TestASourceIsAnIPv4AddressOrAnIPv6Slash64(t *testing.T) {
	cases := map[string]string{
		"192.0.2.7":               "192.0.2.7",
		"::ffff:192.0.2.7":        "192.0.2.7",
		"2001:db8:1:2:3:4:5:6":    "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1":    "2001:db8:1:2::/64",
		"2001:db8:1:3::1":         "2001:db8:1:3::/64",
		"":                        "",
		"not-an-address":          "",
		"192.0.2.7, 198.51.100.1": "",
	}
	for in, want := range cases {
		if got := SourcePrefix(in); got != want {
			t.Errorf("SourcePrefix(%q) = %q, want %q", in, got, want)
		}
	}
	if SourceDigest("k", "2001:db8:1:2::1") != SourceDigest("k", "2001:db8:1:2::99") {
		t.Errorf("two addresses of one /64 are two sources")
	}
	if SourceDigest("k", "192.0.2.7") == SourceDigest("other", "192.0.2.7") {
		t.Errorf("the digest does not depend on the user's key")
	}
	if d := SourceDigest("k", "192.0.2.7"); strings.Contains(d, "192") || len(d) != 16 {
		t.Errorf("digest %q: want 16 hex digits, never the address", d)
	}
}

func TestASourceIsFamiliarForThePeriodAfterALogInFromIt(t *testing.T) {
	p := DefaultLockout
	u := User{SourceKey: "k", Sources: []Mark{{SourceDigest("k", "192.0.2.7"), t0}}}
	cases := []struct {
		addr string
		at   time.Time
		want Class
	}{
		{"192.0.2.7", t0.Add(time.Hour), Familiar},
		{"192.0.2.7", t0.Add(p.FamiliarFor), Unfamiliar},
		{"192.0.2.8", t0, Unfamiliar},
		{"", t0, Unfamiliar},
	}
	for _, c := range cases {
		if got := p.classOf(u, c.addr, c.at); got != c.want {
			t.Errorf("classOf(%q, +%s) = %s, want %s", c.addr, c.at.Sub(t0), got, c.want)
		}
	}
}

func TestWhatTheUserItemRemembersIsBounded(t *testing.T) {
	var marks []Mark
	for i := range 3 * MaxStale {
		marks = remember(marks, fmt.Sprint(i), t0.Add(time.Duration(i)*time.Second), time.Hour, MaxStale)
	}
	if len(marks) != MaxStale || marks[0].Digest != fmt.Sprint(3*MaxStale-1) {
		t.Fatalf("remembered %d marks, newest %q; want %d, the newest first", len(marks), marks[0].Digest, MaxStale)
	}
	marks = remember(marks, "new", t0.Add(2*time.Hour), time.Hour, MaxStale)
	if len(marks) != 1 {
		t.Errorf("marks older than their life were kept: %v", marks)
	}
}

func TestANameThatIsNoUsersIsMasked(t *testing.T) {
	for _, login := range []string{"MyS3cret-Typed-As-User", "hunter2@vsphere.local", strings.Repeat("x", 300)} {
		m := MaskName(login)
		if strings.Contains(m, login[:5]) || len(m) > 12 {
			t.Errorf("MaskName(%q) = %q: keeps too much", login, m)
		}
		if m != MaskName(strings.ToUpper(login)) {
			t.Errorf("MaskName is not the same for one name in another case")
		}
	}
}

// countingUsers is a user store that keeps one user's counter and lock
// as the engine would (the conditions of docs/SECURITY.md), and counts the
// writes each log-in makes.
type countingUsers struct {
	stubUsers
	state  *Failures
	stale  *[]Mark
	writes *[]string
}

func (u countingUsers) User(ctx context.Context, name string) (User, error) {
	user, err := u.stubUsers.User(ctx, name)
	user.Failures, user.Stale = *u.state, *u.stale
	return user, err
}

func (u countingUsers) Fail(_ context.Context, _ string, _ Class, f Failure, now time.Time, p Lockout) (int, error) {
	*u.writes = append(*u.writes, "Fail")
	if f.Digest == "" || p.Locked(*u.state, now) || seenWithin(*u.stale, f.Digest, now, p.Window) {
		return 0, nil
	}
	*u.state = Failures{Window: p.WindowOf(now), Count: p.Counted(*u.state, now) + 1, Until: u.state.Until, Streak: u.state.Streak}
	*u.stale = f.Stale
	return u.state.Count, nil
}

func (u countingUsers) Lock(_ context.Context, _ string, _ Class, lock Failures) error {
	*u.writes = append(*u.writes, "Lock")
	u.state.Until, u.state.Streak = lock.Until, lock.Streak
	return nil
}

func (u countingUsers) Succeed(ctx context.Context, name string, _ Class, _ []Mark, _ string, now time.Time, p Lockout) (User, bool, error) {
	*u.writes = append(*u.writes, "Succeed")
	if p.Locked(*u.state, now) {
		return User{}, false, nil
	}
	u.state.Until, u.state.Streak = time.Time{}, 0
	user, err := u.User(ctx, name)
	return user, err == nil, err
}

func TestEachRefusalMakesOneWriteAndOnlyTheOneThatFillsTheWindowLocks(t *testing.T) {
	var state Failures
	var stale []Mark
	var writes []string
	s := newTestService(stubSessions{}, 0)
	s.Users = countingUsers{stubUsers: s.Users.(stubUsers), state: &state, stale: &stale, writes: &writes}
	s.Lockout = DefaultLockout
	s.Now = func() time.Time { return t0 }
	try := func(user, password string, want ...string) {
		t.Helper()
		writes = nil
		if _, _, err := s.Login(context.Background(), user, password); ErrorCode(err) != EUNAUTHENTICATED {
			t.Fatalf("log-in with %q: %v, want refused", password, err)
		}
		if !slices.Equal(writes, want) {
			t.Fatalf("log-in with %q wrote %v, want %v", password, writes, want)
		}
	}
	try("nobody", "wrong-0", "Fail")
	for i := range s.Lockout.MaxFailures - 1 {
		try("alice", fmt.Sprint("wrong-", i), "Fail")
		try("alice", fmt.Sprint("wrong-", i), "Fail") // a repeat: counted once
	}
	if state.Count != s.Lockout.MaxFailures-1 {
		t.Fatalf("counted %d, want %d: each wrong password once", state.Count, s.Lockout.MaxFailures-1)
	}
	try("alice", "wrong-last", "Fail", "Lock")
	if !s.Lockout.Locked(state, t0) || state.Streak != 1 {
		t.Fatalf("the password that filled the window left %+v, want a lock", state)
	}
	try("alice", testPassword, "Fail") // locked: the right password is refused as a wrong one
	s.Now = func() time.Time { return state.Until }
	writes = nil
	if _, _, err := s.Login(context.Background(), "alice", testPassword); err != nil || !slices.Equal(writes, []string{"Succeed"}) {
		t.Fatalf("after the lock: %v with writes %v, want a session after one write", err, writes)
	}
}

// fullingUsers fills the class between a log-in's read and its write: a
// right password checked while wrong ones filled its window.
type fullingUsers struct{ stubUsers }

func (fullingUsers) Succeed(context.Context, string, Class, []Mark, string, time.Time, Lockout) (User, bool, error) {
	return User{}, false, nil
}

type countingDeletes struct {
	stubSessions
	deleted *int
}

func (s countingDeletes) Delete(context.Context, TokenHash, time.Time, Lifetime) error {
	*s.deleted++
	return nil
}

func TestARightPasswordCheckedWhileTheWindowFilledIsRefusedAndKeepsNoSession(t *testing.T) {
	deleted := 0
	s := newTestService(stubSessions{}, 0)
	s.Sessions = countingDeletes{deleted: &deleted}
	s.Users = fullingUsers{stubUsers: s.Users.(stubUsers)}
	s.Lockout = DefaultLockout
	if _, _, err := s.Login(context.Background(), "alice", testPassword); ErrorCode(err) != EUNAUTHENTICATED || deleted != 1 {
		t.Fatalf("log-in = %v, %d sessions deleted; want refused, its session deleted", err, deleted)
	}
}

// ctxUsers records the context each store call of a log-in gets.
type ctxUsers struct {
	stubUsers
	seen *[]context.Context
}

func (u ctxUsers) User(ctx context.Context, name string) (User, error) {
	*u.seen = append(*u.seen, ctx)
	return u.stubUsers.User(ctx, name)
}

func TestALogInWhoseClientHungUpRunsToItsEndWithinItsDeadline(t *testing.T) {
	var seen []context.Context
	s := newTestService(stubSessions{}, 0)
	s.Users = ctxUsers{stubUsers: s.Users.(stubUsers), seen: &seen}
	deadline := time.Now().Add(time.Hour)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	cancel() // the client hung up before the log-in began
	if _, _, err := s.Login(ctx, "alice", testPassword); err != nil {
		t.Fatalf("log-in of a client that hung up = %v, want it to run to its session", err)
	}
	if d, ok := seen[0].Deadline(); len(seen) != 1 || !ok || !d.Equal(deadline) {
		t.Fatalf("the store saw deadline %v (%v), want the invocation's %v", d, ok, deadline)
	}
}
