package session

import (
	"context"
	"fmt"
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
	window := Failures{Count: 5, Since: t0.Add(-time.Minute)}
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
			got := p.lock(c.seen, window, t0)
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
	got := p.lock(Failures{}, Failures{Count: 5, Since: t0}, t0.Add(time.Minute))
	if !got.Until.Equal(t0.Add(time.Hour)) {
		t.Errorf("until %s, want the window's end %s", got.Until, t0.Add(time.Hour))
	}
}

func TestAFullWindowRefusesUntilItEnds(t *testing.T) {
	p := DefaultLockout
	f := Failures{Count: 5, Since: t0}
	if !p.Locked(f, t0.Add(time.Minute)) || p.Locked(f, t0.Add(p.Window)) {
		t.Errorf("a full window must refuse while it runs, and only then")
	}
	if p.Locked(Failures{Count: 4, Since: t0}, t0) {
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

func TestOnlyAClassRefusingWhileAttemptsAreInFlightIsBusy(t *testing.T) {
	p := DefaultLockout
	cases := []struct {
		name        string
		f           Failures
		busy, retry bool
	}{
		{"FullOfAttemptsInFlight", Failures{Count: 5, Pending: 5, Since: t0}, true, true},
		{"FullWithOneInFlight", Failures{Count: 5, Pending: 1, Since: t0}, true, true},
		{"LockedWhileAnAttemptIsInFlight", Failures{Count: 5, Pending: 1, Since: t0, Until: t0.Add(time.Hour), Streak: 1}, true, true},
		{"FullOfSettledFailures", Failures{Count: 5, Since: t0}, false, false},
		{"LockedWithNothingInFlight", Failures{Count: 2, Since: t0, Until: t0.Add(time.Hour), Streak: 1}, false, false},
		{"RoomInTheWindowTakenByOthers", Failures{Count: 4, Pending: 4, Since: t0}, false, true},
		{"AWindowThatHasEnded", Failures{Count: 5, Pending: 5, Since: t0.Add(-p.Window)}, false, true},
	}
	for _, c := range cases {
		at := t0.Add(time.Second)
		if busy, retry := p.Busy(c.f, at), p.Retry(c.f, at); busy != c.busy || retry != c.retry {
			t.Errorf("%s: Busy, Retry(%+v) = %v, %v; want %v, %v", c.name, c.f, busy, retry, c.busy, c.retry)
		}
	}
}

// scriptedUsers answers each Reserve with the next of its refusals, then
// reserves; it counts the calls.
type scriptedUsers struct {
	stubUsers
	refusals []Failures
	calls    *int
}

func (u scriptedUsers) Reserve(_ context.Context, _ string, _ Class, _ *Failures, now time.Time, _ Lockout) (Failures, bool, error) {
	*u.calls++
	if *u.calls <= len(u.refusals) {
		return u.refusals[*u.calls-1], false, nil
	}
	return Failures{Count: 5, Pending: 5, Since: now}, true, nil
}

func TestALogInWaitsForAttemptsInFlightButNotForALock(t *testing.T) {
	now := time.Now().UTC()
	busy := Failures{Count: 5, Pending: 5, Since: now}
	cases := []struct {
		name      string
		refusals  []Failures
		wantCalls int
		wantIn    bool
	}{
		{"BusyTwiceThenRoom", []Failures{busy, busy}, 3, true},
		{"RoomTakenByOthersThenRoom", []Failures{{Count: 4, Pending: 4, Since: now}}, 2, true},
		{"FullOfSettledFailures", []Failures{{Count: 5, Since: now}}, 1, false},
		{"Locked", []Failures{{Count: 1, Since: now, Until: now.Add(time.Hour), Streak: 1}}, 1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			s := newTestService(stubSessions{}, 0)
			s.Users = scriptedUsers{stubUsers: s.Users.(stubUsers), refusals: c.refusals, calls: &calls}
			s.Lockout = DefaultLockout
			s.Now = func() time.Time { return now }
			_, _, err := s.Login(context.Background(), "alice", testPassword)
			if (err == nil) != c.wantIn || calls != c.wantCalls {
				t.Fatalf("log-in = %v after %d reservations; want logged in %v after %d", err, calls, c.wantIn, c.wantCalls)
			}
		})
	}
}

func TestAWaitEndsAtItsBoundAndRefuses(t *testing.T) {
	now := time.Now().UTC()
	calls := 0
	stuck := make([]Failures, 1000) // a reservation that never settles
	for i := range stuck {
		stuck[i] = Failures{Count: 5, Pending: 1, Since: now}
	}
	s := newTestService(stubSessions{}, 0)
	s.Users = scriptedUsers{stubUsers: s.Users.(stubUsers), refusals: stuck, calls: &calls}
	s.Lockout = DefaultLockout
	s.Now = func() time.Time { return now }
	// A deadline closer than BusyWait ends the wait busyReserve before it.
	ctx, cancel := context.WithTimeout(context.Background(), busyReserve+200*time.Millisecond)
	defer cancel()
	_, _, err := s.Login(ctx, "alice", testPassword)
	if ErrorCode(err) != EUNAUTHENTICATED || calls < 2 || calls >= len(stuck) {
		t.Fatalf("log-in = %v after %d reservations; want refused after a bounded wait", err, calls)
	}
	if ctx.Err() != nil {
		t.Fatalf("the wait ran to the deadline: no time was left to answer")
	}
}

func TestAWaitForAttemptsThatNeverSettleEndsAfterBusyWait(t *testing.T) {
	now := time.Now().UTC()
	calls := 0
	stuck := make([]Failures, 1000) // reservations whose invocations died
	for i := range stuck {
		stuck[i] = Failures{Count: 5, Pending: 5, Settled: 3, Since: now}
	}
	s := newTestService(stubSessions{}, 0)
	s.Users = scriptedUsers{stubUsers: s.Users.(stubUsers), refusals: stuck, calls: &calls}
	s.Lockout = DefaultLockout
	s.Now = func() time.Time { return now }
	_, _, err := s.Login(context.Background(), "alice", testPassword)
	if ErrorCode(err) != EUNAUTHENTICATED || calls < 2 || calls >= len(stuck) {
		t.Fatalf("log-in = %v after %d reservations; want refused once nothing settled for BusyWait", err, calls)
	}
}

func TestAWaitGoesOnWhileAttemptsSettle(t *testing.T) {
	now := time.Now().UTC()
	calls := 0
	// Settling, but never giving a place to this log-in, for longer than
	// BusyWait: it keeps waiting, and gets a place in the end.
	const tries = 40
	moving := make([]Failures, tries)
	for i := range moving {
		moving[i] = Failures{Count: 5, Pending: 5, Settled: i, Since: now}
	}
	s := newTestService(stubSessions{}, 0)
	s.Users = slowUsers{scriptedUsers{stubUsers: s.Users.(stubUsers), refusals: moving, calls: &calls}, BusyWait / tries * 2}
	s.Lockout = DefaultLockout
	s.Now = func() time.Time { return now }
	if _, _, err := s.Login(context.Background(), "alice", testPassword); err != nil || calls != tries+1 {
		t.Fatalf("log-in = %v after %d reservations; want a session after %d", err, calls, tries+1)
	}
}

// slowUsers takes delay over each reservation.
type slowUsers struct {
	scriptedUsers
	delay time.Duration
}

func (u slowUsers) Reserve(ctx context.Context, name string, c Class, seen *Failures, now time.Time, p Lockout) (Failures, bool, error) {
	time.Sleep(u.delay)
	return u.scriptedUsers.Reserve(ctx, name, c, seen, now, p)
}
