package dynamo_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/session"
)

const window = 15 * time.Minute

func failuresOf(t *testing.T, u *dynamo.Users, name string) session.Failures {
	t.Helper()
	got, err := u.User(context.Background(), name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return got.Failures
}

var policy = session.Lockout{MaxFailures: 5, Window: window, LockFor: window, LockMax: 24 * time.Hour, FamiliarFor: 24 * time.Hour}

// reserve reserves an attempt the way a log-in does: with what it read.
func reserve(t *testing.T, u *dynamo.Users, name string, c session.Class, at time.Time) (session.Failures, bool) {
	t.Helper()
	got, err := u.User(context.Background(), name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	seen := got.FailuresOf(c)
	w, ok, err := u.Reserve(context.Background(), name, c, &seen, at, policy)
	if err != nil {
		t.Fatalf("reserve for %s at %v: %v", name, at, err)
	}
	return w, ok
}

func TestReservedAttempts(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		f := dynamotest.Setup(t, srv)
		ctx := context.Background()
		rec := &dynamotest.Recorder{API: f.DB}
		// As deployed: the engine's failed condition says why, or (dynalite)
		// a read does.
		u := &dynamo.Users{DB: rec, Table: f.Tables.Users, ReadOnFailedCondition: srv.Kind == localdynamo.Dynalite}
		add := func(t *testing.T, name string) {
			t.Helper()
			if err := u.Add(ctx, session.User{Name: name, PasswordHash: "h"}, t0); err != nil {
				t.Fatal(err)
			}
		}

		t.Run("AttemptsInAWindowAddUpToTheLimitAndTheWindowEndsByItself", func(t *testing.T) {
			add(t, "a@d")
			if got := failuresOf(t, u, "a@d"); got != (session.Failures{}) {
				t.Fatalf("new user has failures %+v", got)
			}
			for i := range policy.MaxFailures {
				w, ok := reserve(t, u, "A@d", session.Unfamiliar, t0.Add(time.Duration(i)*time.Second))
				if want := (session.Failures{Count: i + 1, Pending: i + 1, Since: t0}); !ok || w != want {
					t.Fatalf("reservation %d = %+v, %v; want %+v", i+1, w, ok, want)
				}
			}
			if w, ok := reserve(t, u, "a@d", session.Unfamiliar, t0.Add(window-time.Millisecond)); ok {
				t.Fatalf("a full window took one more: %+v", w)
			}
			// No clean-up ran: the next attempt after the window starts anew.
			later := t0.Add(window)
			if w, ok := reserve(t, u, "a@d", session.Unfamiliar, later); !ok || w != (session.Failures{Count: 1, Pending: 1, Since: later}) {
				t.Fatalf("after the window: %+v, %v; want a new window, with nothing pending from the last", w, ok)
			}
		})

		t.Run("EachReservationAndSettlementIsOneRequest", func(t *testing.T) {
			add(t, "one@d")
			for i, at := range []time.Time{t0, t0.Add(time.Second), t0.Add(window)} {
				rec.Reset()
				seen := failuresOf(t, u, "one@d")
				rec.Reset()
				w, ok, err := u.Reserve(ctx, "one@d", session.Unfamiliar, &seen, at, policy)
				if err != nil || !ok {
					t.Fatal(ok, err)
				}
				if err := u.Settle(ctx, "one@d", session.Unfamiliar, session.Settlement{Window: w, Stale: []session.Mark{{Digest: "d", At: at}}}); err != nil {
					t.Fatal(err)
				}
				if calls := rec.Reset(); !slices.Equal(calls, []string{"UpdateItem", "UpdateItem"}) {
					t.Fatalf("attempt %d made %v, want two UpdateItems", i, calls)
				}
			}
			// A class seen locked (full, nothing in flight) costs one
			// refused request, and its settlement one more, as any attempt.
			for range policy.MaxFailures - 1 {
				w, _ := reserve(t, u, "one@d", session.Unfamiliar, t0.Add(window))
				st := session.Settlement{Window: w}
				if w.Count == policy.MaxFailures {
					// The wrong password that fills the window locks it,
					// in the same one request when no other is in flight.
					st.Lock = session.Failures{Until: t0.Add(2 * window), Streak: 1}
				}
				rec.Reset()
				if err := u.Settle(ctx, "one@d", session.Unfamiliar, st); err != nil {
					t.Fatal(err)
				}
				if calls := rec.Reset(); !slices.Equal(calls, []string{"UpdateItem"}) {
					t.Fatalf("settling %+v made %v, want one UpdateItem", st, calls)
				}
			}
			if got := failuresOf(t, u, "one@d"); !got.Until.Equal(t0.Add(2 * window)) {
				t.Fatalf("the filling wrong password did not lock: %+v", got)
			}
			full := failuresOf(t, u, "one@d")
			rec.Reset()
			if _, ok, err := u.Reserve(ctx, "one@d", session.Unfamiliar, &full, t0.Add(window+time.Minute), policy); ok || err != nil {
				t.Fatalf("reserve on a class seen full = %v, %v; want refused", ok, err)
			}
			if err := u.Settle(ctx, "one@d", session.Unfamiliar, session.Settlement{}); err != nil {
				t.Fatal(err)
			}
			if calls := rec.Reset(); !slices.Equal(calls, []string{"UpdateItem", "UpdateItem"}) {
				t.Fatalf("a locked attempt made %v, want two UpdateItems", calls)
			}
		})

		t.Run("AStaleReadStillCountsRight", func(t *testing.T) {
			add(t, "stale@d")
			reserve(t, u, "stale@d", session.Unfamiliar, t0)
			// The log-in read "no window", but another started one since.
			none := session.Failures{}
			w, ok, err := u.Reserve(ctx, "stale@d", session.Unfamiliar, &none, t0.Add(time.Second), policy)
			if err != nil || !ok || w.Count != 2 || !w.Since.Equal(t0) {
				t.Fatalf("reserve = %+v, %v, %v; want 2 since %v", w, ok, err, t0)
			}
			// The log-in read a running window, but an operator cleared it since.
			seen := failuresOf(t, u, "stale@d")
			if err := u.ClearFailures(ctx, "stale@d"); err != nil {
				t.Fatal(err)
			}
			at := t0.Add(2 * time.Second)
			if w, ok, err := u.Reserve(ctx, "stale@d", session.Unfamiliar, &seen, at, policy); err != nil || !ok || w != (session.Failures{Count: 1, Pending: 1, Since: at}) {
				t.Fatalf("reserve = %+v, %v, %v; want 1 in a window since %v", w, ok, err, at)
			}
			// The log-in read a window that has ended since.
			later := at.Add(window)
			if w, ok, err := u.Reserve(ctx, "stale@d", session.Unfamiliar, &seen, later, policy); err != nil || !ok || w != (session.Failures{Count: 1, Pending: 1, Since: later}) {
				t.Fatalf("reserve = %+v, %v, %v; want 1 since %v", w, ok, err, later)
			}
		})

		t.Run("AttemptsAtOnceNeverPassTheLimit", func(t *testing.T) {
			dynamotest.RequireAtomicWrites(t, srv)
			add(t, "busy@d")
			const n = 30
			var wg sync.WaitGroup
			var mu sync.Mutex
			granted := 0
			for i := range n {
				// All of them read the account before any counted.
				seen := session.Failures{}
				wg.Go(func() {
					_, ok, err := u.Reserve(ctx, "busy@d", session.Unfamiliar, &seen, t0.Add(time.Duration(i)*time.Millisecond), policy)
					if err != nil {
						t.Error(err)
					}
					mu.Lock()
					defer mu.Unlock()
					if ok {
						granted++
					}
				})
			}
			wg.Wait()
			if got := failuresOf(t, u, "busy@d"); granted != policy.MaxFailures || got.Count != policy.MaxFailures {
				t.Fatalf("%d of %d attempts at once were granted, count %d; want %d", granted, n, got.Count, policy.MaxFailures)
			}
		})

		t.Run("ARefusalTellsWhetherAttemptsAreInFlight", func(t *testing.T) {
			add(t, "flight@d")
			var held []session.Failures
			for range policy.MaxFailures {
				w, _ := reserve(t, u, "flight@d", session.Unfamiliar, t0)
				held = append(held, w)
			}
			// Full of attempts in flight: refused, but busy, so the
			// log-in may wait for them.
			f, ok := reserve(t, u, "flight@d", session.Unfamiliar, t0.Add(time.Second))
			if ok || !policy.Busy(f, t0.Add(time.Second)) || f.Pending != policy.MaxFailures {
				t.Fatalf("reserve on a window full of attempts in flight = %+v, %v; want refused, busy with %d pending", f, ok, policy.MaxFailures)
			}
			// One gives its attempt back (a right password): the next
			// attempt gets it.
			if err := u.Settle(ctx, "flight@d", session.Unfamiliar, session.Settlement{Window: held[0], Refund: true}); err != nil {
				t.Fatal(err)
			}
			if w, ok := reserve(t, u, "flight@d", session.Unfamiliar, t0.Add(time.Second)); !ok || w.Count != policy.MaxFailures {
				t.Fatalf("reserve after a refund = %+v, %v; want the freed attempt", w, ok)
			}
			// All settled wrong: locked, not busy, refused at once.
			for _, w := range held[1:] {
				if err := u.Settle(ctx, "flight@d", session.Unfamiliar, session.Settlement{Window: w}); err != nil {
					t.Fatal(err)
				}
			}
			last := failuresOf(t, u, "flight@d")
			if err := u.Settle(ctx, "flight@d", session.Unfamiliar, session.Settlement{Window: last}); err != nil {
				t.Fatal(err)
			}
			quiet := failuresOf(t, u, "flight@d")
			rec.Reset()
			f, ok, err := u.Reserve(ctx, "flight@d", session.Unfamiliar, &quiet, t0.Add(2*time.Second), policy)
			if ok || err != nil || policy.Busy(f, t0.Add(2*time.Second)) || !policy.Locked(f, t0.Add(2*time.Second)) {
				t.Fatalf("reserve on a full window with nothing in flight = %+v, %v, %v; want refused, not busy", f, ok, err)
			}
			if calls := rec.Reset(); !slices.Equal(calls, []string{"UpdateItem"}) {
				t.Fatalf("a refusal of a quiet full window made %v, want one UpdateItem", calls)
			}
		})

		t.Run("ALockHoldsOnlyWhileWrongPasswordsFillTheWindow", func(t *testing.T) {
			lock := session.Failures{Until: t0.Add(2 * window), Streak: 1}
			for _, rightFirst := range []bool{true, false} {
				name := fmt.Sprintf("fill-%v@d", rightFirst)
				add(t, name)
				for range policy.MaxFailures - 2 {
					w, _ := reserve(t, u, name, session.Unfamiliar, t0)
					if err := u.Settle(ctx, name, session.Unfamiliar, session.Settlement{Window: w}); err != nil {
						t.Fatal(err)
					}
				}
				right, _ := reserve(t, u, name, session.Unfamiliar, t0)
				filling, _ := reserve(t, u, name, session.Unfamiliar, t0) // wrong, and the window is full
				succeed := func() {
					if _, err := u.Succeed(ctx, name, session.Unfamiliar, right, nil, "k", t0); err != nil {
						t.Fatal(err)
					}
				}
				if rightFirst {
					succeed()
				}
				rec.Reset()
				if err := u.Settle(ctx, name, session.Unfamiliar, session.Settlement{Window: filling, Lock: lock}); err != nil {
					t.Fatal(err)
				}
				calls := rec.Reset()
				if !rightFirst {
					succeed()
				}
				// Either way: the right password's place is free again, and
				// no lock stands on a window wrong passwords did not fill.
				got := failuresOf(t, u, name)
				if got != (session.Failures{Count: policy.MaxFailures - 1, Settled: policy.MaxFailures, Since: t0}) {
					t.Errorf("right password settled first %v: %+v, want %d counted, none pending, no lock", rightFirst, got, policy.MaxFailures-1)
				}
				if want := map[bool]int{true: 2, false: 1}[rightFirst]; len(calls) != want {
					t.Errorf("right password settled first %v: the filling wrong one's settlement made %v, want %d UpdateItems", rightFirst, calls, want)
				}
			}
		})

		t.Run("AReservationLeftByACrashEndsWithItsWindow", func(t *testing.T) {
			add(t, "crash@d")
			// Written straight into the engine: a window full of attempts
			// whose invocations died before settling.
			_, err := f.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName:        aws.String(f.Tables.Users),
				Key:              map[string]types.AttributeValue{"user_key": &types.AttributeValueMemberS{Value: "crash@d"}},
				UpdateExpression: aws.String("SET failed_count = :n, pending_count = :n, failed_since_ms = :t"),
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":n": &types.AttributeValueMemberN{Value: "5"},
					":t": &types.AttributeValueMemberN{Value: strconv.FormatInt(t0.UnixMilli(), 10)},
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			in := t0.Add(window - time.Millisecond)
			if f, ok := reserve(t, u, "crash@d", session.Unfamiliar, in); ok || !policy.Busy(f, in) {
				t.Fatalf("within the window: %+v, %v; want refused, busy (a log-in waits BusyWait, then is refused)", f, ok)
			}
			after := t0.Add(window)
			if w, ok := reserve(t, u, "crash@d", session.Unfamiliar, after); !ok || w != (session.Failures{Count: 1, Pending: 1, Since: after}) {
				t.Fatalf("when the window ends: %+v, %v; want a new window with only this attempt pending", w, ok)
			}
		})

		t.Run("RightPasswordsAtOnceAllGetCheckedAndWrongOnesNeverPassTheLimit", func(t *testing.T) {
			dynamotest.RequireAtomicWrites(t, srv)
			for _, c := range []struct {
				name         string
				right, wrong int
			}{{"TwentyRight", 20, 0}, {"TenRightThirtyWrong", 10, 30}} {
				t.Run(c.name, func(t *testing.T) {
					name := strings.ToLower(c.name) + "@d"
					add(t, name)
					var mu sync.Mutex
					var loggedIn, rightRefused, wrongChecked int
					var wg sync.WaitGroup
					start := make(chan struct{})
					for i := range c.right + c.wrong {
						right := i%4 == 0 && i/4 < c.right || c.wrong == 0
						wg.Go(func() {
							<-start
							seen := failuresOf(t, u, name)
							w, ok, err := u.Reserve(ctx, name, session.Unfamiliar, &seen, t0, policy)
							// As a log-in does, without its time bound.
							for tries := 0; !ok && err == nil && policy.Retry(w, t0) && tries < 10000; tries++ {
								time.Sleep(time.Millisecond)
								last := w
								w, ok, err = u.Reserve(ctx, name, session.Unfamiliar, &last, t0, policy)
							}
							if err != nil {
								t.Error(err)
								return
							}
							mu.Lock()
							switch {
							case !ok && right:
								rightRefused++
							case ok && !right:
								wrongChecked++
							}
							mu.Unlock()
							if !ok {
								return
							}
							time.Sleep(2 * time.Millisecond) // the password check
							if right {
								if _, err := u.Succeed(ctx, name, session.Unfamiliar, w, nil, "k", t0); err != nil {
									t.Error(err)
								}
								mu.Lock()
								loggedIn++
								mu.Unlock()
								return
							}
							st := session.Settlement{Window: w}
							if w.Count >= policy.MaxFailures {
								st.Lock = session.Failures{Until: t0.Add(window), Streak: 1}
							}
							if err := u.Settle(ctx, name, session.Unfamiliar, st); err != nil {
								t.Error(err)
							}
						})
					}
					close(start)
					wg.Wait()
					got := failuresOf(t, u, name)
					t.Logf("%d right: %d logged in, %d refused; %d wrong: %d checked; then %+v", c.right, loggedIn, rightRefused, c.wrong, wrongChecked, got)
					if wrongChecked > policy.MaxFailures || got.Count != wrongChecked || got.Pending != 0 {
						t.Errorf("%d wrong passwords checked, count %d, %d pending; want at most %d checked, all counted, none pending",
							wrongChecked, got.Count, got.Pending, policy.MaxFailures)
					}
					// A right password is refused only by a window that wrong
					// passwords filled.
					if loggedIn+rightRefused != c.right || rightRefused > 0 && wrongChecked < policy.MaxFailures {
						t.Errorf("%d of %d right passwords logged in with %d wrong checked; want all unless %d wrong were checked",
							loggedIn, c.right, wrongChecked, policy.MaxFailures)
					}
				})
			}
		})

		t.Run("EachClassHasItsOwnWindow", func(t *testing.T) {
			add(t, "owner@d")
			for range policy.MaxFailures {
				reserve(t, u, "owner@d", session.Unfamiliar, t0)
			}
			if _, ok := reserve(t, u, "owner@d", session.Unfamiliar, t0); ok {
				t.Fatal("the unfamiliar window took one past the limit")
			}
			if w, ok := reserve(t, u, "owner@d", session.Familiar, t0); !ok || w.Count != 1 {
				t.Fatalf("familiar reservation = %+v, %v; a full unfamiliar window refused it", w, ok)
			}
		})

		t.Run("ARefundGivesTheAttemptBackAndALockOutlastsItsWindow", func(t *testing.T) {
			add(t, "lock@d")
			var w session.Failures
			for range policy.MaxFailures {
				w, _ = reserve(t, u, "lock@d", session.Unfamiliar, t0)
			}
			if err := u.Settle(ctx, "lock@d", session.Unfamiliar, session.Settlement{Window: w, Refund: true}); err != nil {
				t.Fatal(err)
			}
			if got := failuresOf(t, u, "lock@d"); got.Count != policy.MaxFailures-1 {
				t.Fatalf("count after a refund = %d, want %d", got.Count, policy.MaxFailures-1)
			}
			w, _ = reserve(t, u, "lock@d", session.Unfamiliar, t0)
			until := t0.Add(3 * window)
			stale := []session.Mark{{Digest: "0123456789abcdef", At: t0}}
			if err := u.Settle(ctx, "lock@d", session.Unfamiliar, session.Settlement{Window: w, Stale: stale,
				Lock: session.Failures{Until: until, Streak: 2}}); err != nil {
				t.Fatal(err)
			}
			got, err := u.User(ctx, "lock@d")
			if err != nil {
				t.Fatal(err)
			}
			if f := got.Failures; !f.Until.Equal(until) || f.Streak != 2 || !slices.Equal(got.Stale, stale) {
				t.Fatalf("after the lock: %+v, stale %v", got, got.Stale)
			}
			if _, ok := reserve(t, u, "lock@d", session.Unfamiliar, t0.Add(window)); ok {
				t.Fatal("an attempt after the window but within the lock was granted")
			}
			if _, ok := reserve(t, u, "lock@d", session.Unfamiliar, until); !ok {
				t.Fatal("an attempt after the lock was refused")
			}
		})

		t.Run("UnknownUserCostsWhatAKnownOneDoesAndCreatesNothing", func(t *testing.T) {
			rec.Reset()
			_, ok, err := u.Reserve(ctx, "ghost@d", session.Unfamiliar, nil, t0, policy)
			if ok || session.ErrorCode(err) != session.ENOTFOUND {
				t.Fatalf("reserve = %v, %v; want ENOTFOUND", ok, err)
			}
			if err := u.Settle(ctx, "ghost@d", session.Unfamiliar, session.Settlement{}); err != nil {
				t.Fatal(err)
			}
			if calls := rec.Reset(); !slices.Equal(calls, []string{"UpdateItem", "UpdateItem"}) {
				t.Fatalf("unknown user made %v, want two UpdateItems", calls)
			}
			if _, err := u.User(ctx, "ghost@d"); session.ErrorCode(err) != session.ENOTFOUND {
				t.Fatalf("a failed log-in created a user: %v", err)
			}
			if _, err := u.Succeed(ctx, "ghost@d", session.Unfamiliar, session.Failures{Count: 1, Since: t0}, nil, "k", t0); session.ErrorCode(err) != session.ENOTFOUND {
				t.Fatalf("succeed of no user: %v, want ENOTFOUND", err)
			}
		})

		t.Run("SucceedGivesBackOnlyItsOwnAttemptEndsTheLockAndKeepsTheSources", func(t *testing.T) {
			add(t, "both@d")
			for _, c := range session.Classes {
				w, _ := reserve(t, u, "both@d", c, t0)
				// A wrong password, settled, and a lock from another time.
				if err := u.Settle(ctx, "both@d", c, session.Settlement{Window: w, Lock: session.Failures{Until: t0.Add(-time.Minute), Streak: 2}}); err != nil {
					t.Fatal(err)
				}
			}
			mine, _ := reserve(t, u, "both@d", session.Familiar, t0)
			sources := []session.Mark{{Digest: "aaaaaaaaaaaaaaaa", At: t0}}
			before, _ := u.User(ctx, "both@d")
			rec.Reset()
			after, err := u.Succeed(ctx, "both@d", session.Familiar, mine, sources, "key-1", t0.Add(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if calls := rec.Reset(); !slices.Equal(calls, []string{"UpdateItem"}) {
				t.Fatalf("a success made %v, want one UpdateItem", calls)
			}
			// Its own attempt is given back, the wrong one stays counted;
			// the row of locks ends; the other class is untouched.
			if after.FamiliarFailures != (session.Failures{Count: 1, Settled: 2, Since: t0}) ||
				after.Failures != (session.Failures{Count: 1, Settled: 1, Since: t0, Until: t0.Add(-time.Minute), Streak: 2}) ||
				!slices.Equal(after.Sources, sources) || after.SourceKey != "key-1" || after.Revision != before.Revision {
				t.Fatalf("after success: %+v", after)
			}
			// A success whose window has ended since gives nothing back in
			// the next one (a second request), and the first key stays:
			// digests made with it must still match.
			next, _ := reserve(t, u, "both@d", session.Familiar, t0.Add(window))
			rec.Reset()
			after, err = u.Succeed(ctx, "both@d", session.Familiar, mine, sources, "key-2", t0.Add(window))
			if err != nil || after.SourceKey != "key-1" || after.FamiliarFailures != next {
				t.Fatalf("success of an ended window: %+v, %v; want the new window %+v untouched, key-1", after, err, next)
			}
			if calls := rec.Reset(); !slices.Equal(calls, []string{"UpdateItem", "UpdateItem"}) {
				t.Fatalf("a success of an ended window made %v, want two UpdateItems", calls)
			}
		})

		t.Run("ClearEndsEveryClassAndListShowsThem", func(t *testing.T) {
			add(t, "locked@d")
			for _, c := range session.Classes {
				for range policy.MaxFailures {
					reserve(t, u, "locked@d", c, t0)
				}
			}
			list, err := u.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			full := session.Failures{Count: policy.MaxFailures, Pending: policy.MaxFailures, Since: t0}
			i := slices.IndexFunc(list, func(x session.User) bool { return x.Name == "locked@d" })
			if i < 0 || list[i].Failures != full || list[i].FamiliarFailures != full {
				t.Fatalf("list = %+v, want locked@d with both classes full", list)
			}
			if err := u.ClearFailures(ctx, "LOCKED@d"); err != nil {
				t.Fatal(err)
			}
			if got, _ := u.User(ctx, "locked@d"); got.Failures != (session.Failures{}) || got.FamiliarFailures != (session.Failures{}) {
				t.Fatalf("failures after clear = %+v", got)
			}
			if err := u.ClearFailures(ctx, "ghost@d"); session.ErrorCode(err) != session.ENOTFOUND {
				t.Fatalf("clear of unknown user: %v, want ENOTFOUND", err)
			}
			if _, err := u.User(ctx, "ghost@d"); session.ErrorCode(err) != session.ENOTFOUND {
				t.Fatalf("clear created a user: %v", err)
			}
		})
	})
}

func TestCountLive(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		f := dynamotest.Setup(t, srv)
		ctx := context.Background()
		s := &dynamo.Sessions{DB: f.DB, Table: f.Tables.Sessions}
		now := t0.Add(lifetime.Absolute)
		// seed gives user 3 live sessions, 1 idled out, 1 more live under
		// another spelling of the name, and 1 kept alive to the end of its
		// absolute lifetime: 4 live, 5 the index cannot tell from live.
		seed := func(t *testing.T, user string) {
			for range 3 {
				newSession(t, s, user, now.Add(-time.Minute))
			}
			newSession(t, s, user, now.Add(-lifetime.Idle))
			newSession(t, s, strings.ToUpper(user), now.Add(-time.Second))
			tok, _ := session.NewToken()
			old := session.Record{Hash: tok.Hash(), Session: session.Session{User: user, Created: t0, LastAccessed: now.Add(-time.Second)}}
			if err := s.Create(ctx, old, lifetime); err != nil {
				t.Fatal(err)
			}
		}
		recorded := func() (*dynamotest.Recorder, *dynamo.Sessions) {
			rec := &dynamotest.Recorder{API: f.DB}
			return rec, &dynamo.Sessions{DB: rec, Table: f.Tables.Sessions}
		}
		newSession(t, s, "bob@corp", now)

		t.Run("CountsOnlyTheUsersLiveSessions", func(t *testing.T) {
			seed(t, "alice@corp")
			for name, want := range map[string]int{"alice@corp": 4, "ALICE@Corp": 4, "bob@corp": 1, "carol@corp": 0} {
				if got, err := s.CountLive(ctx, name, "", now, lifetime, 0); err != nil || got != want {
					t.Errorf("CountLive(%s) = %d, %v; want %d", name, got, err, want)
				}
			}
		})

		t.Run("BelowTheCapIsOneQueryOfTheIndex", func(t *testing.T) {
			seed(t, "dave@corp")
			rec, rs := recorded()
			// The idle session still counts: below the cap that changes nothing.
			if got, err := rs.CountLive(ctx, "dave@corp", "", now, lifetime, 550); err != nil || got != 5 {
				t.Fatalf("CountLive below the cap = %d, %v; want 5 (4 live, 1 idle the index cannot tell)", got, err)
			}
			if calls := rec.Reset(); !slices.Equal(calls, []string{"Query"}) {
				t.Fatalf("CountLive below the cap made %v, want one Query", calls)
			}
		})

		t.Run("AtTheCapCountsExactlyAndDeletesTheDead", func(t *testing.T) {
			seed(t, "erin@corp")
			rec, rs := recorded()
			if got, err := rs.CountLive(ctx, "erin@corp", "", now, lifetime, 5); err != nil || got != 4 {
				t.Fatalf("CountLive at the cap = %d, %v; want exactly the 4 live", got, err)
			}
			calls := rec.Reset()
			if !slices.Equal(calls, []string{"Query", "Query", "BatchGetItem", "DeleteItem"}) {
				t.Fatalf("CountLive at the cap made %v, want the count, the candidates, their items, one delete of the idle one", calls)
			}
			// The idle session is gone: the next count is cheap again.
			if got, err := rs.CountLive(ctx, "erin@corp", "", now, lifetime, 5); err != nil || got != 4 {
				t.Fatalf("CountLive after the clean-up = %d, %v; want 4", got, err)
			}
			if calls := rec.Reset(); !slices.Equal(calls, []string{"Query"}) {
				t.Fatalf("CountLive after the clean-up made %v, want one Query", calls)
			}
		})

		t.Run("AToolThatNeverLogsOutIsNotCappedByItsIdleSessions", func(t *testing.T) {
			// A log-in every 2 minutes for a day, 30 minutes of idle timeout:
			// about 15 live, the rest idle until TTL removes them.
			const cap = 20
			for i := range 40 {
				newSession(t, s, "monitor@corp", now.Add(-lifetime.Idle-time.Duration(i)*2*time.Minute))
			}
			for i := range cap - 1 {
				newSession(t, s, "monitor@corp", now.Add(-time.Duration(i)*time.Minute))
			}
			if got, err := s.CountLive(ctx, "monitor@corp", "", now, lifetime, cap); err != nil || got != cap-1 {
				t.Fatalf("CountLive = %d, %v; want %d: idle sessions must not count against the cap", got, err, cap-1)
			}
		})

		t.Run("CountsAcrossPages", func(t *testing.T) {
			seed(t, "frank@corp")
			paged := &dynamo.Sessions{DB: f.DB, Table: f.Tables.Sessions}
			dynamo.SetCountPage(paged, 2)
			if got, err := paged.CountLive(ctx, "frank@corp", "", now, lifetime, 550); err != nil || got != 5 {
				t.Fatalf("CountLive over pages of 2 below the cap = %d, %v; want 5", got, err)
			}
			if got, err := paged.CountLive(ctx, "frank@corp", "", now, lifetime, 0); err != nil || got != 4 {
				t.Fatalf("exact CountLive over pages of 2 = %d, %v; want 4", got, err)
			}
		})
	})
}

func TestSessionsIndexIsAsDocumented(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		f := dynamotest.Setup(t, srv)
		wantIndex(t, f.DB, f.Tables.Sessions)
	})
}

func TestCreateTablesRefusesASessionsTableWithoutTheIndex(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		f := dynamotest.Setup(t, srv)
		ctx := context.Background()
		old := dynamo.Tables{Sessions: dynamotest.UniquePrefix(t) + "sessions", Users: f.Tables.Users}
		_, err := f.DB.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:            aws.String(old.Sessions),
			BillingMode:          types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("token_hash"), AttributeType: types.ScalarAttributeTypeS}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("token_hash"), KeyType: types.KeyTypeHash}},
		})
		if err != nil {
			t.Fatal(err)
		}
		err = dynamo.CreateTables(ctx, f.DB, old)
		if err == nil || !strings.Contains(err.Error(), "no index "+dynamo.SessionsByUser) {
			t.Fatalf("CreateTables over a sessions table without the index: %v, want a refusal naming the index", err)
		}
	})
}

// wantIndex checks the sessions index exactly as template.yaml must declare
// it.
func wantIndex(t *testing.T, db *dynamo.Client, table string) {
	t.Helper()
	d, err := db.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		key     string
		include []string
	}{
		dynamo.SessionsByUser:    {"user_key", []string{"created_ms"}},
		dynamo.SessionsBySubject: {"oidc_subject", []string{"idp", "oidc_sid", "user"}},
	}
	if len(d.Table.GlobalSecondaryIndexes) != len(want) {
		t.Fatalf("indexes = %+v, want exactly %s and %s", d.Table.GlobalSecondaryIndexes, dynamo.SessionsByUser, dynamo.SessionsBySubject)
	}
	for _, g := range d.Table.GlobalSecondaryIndexes {
		w, ok := want[aws.ToString(g.IndexName)]
		if !ok || g.IndexStatus != types.IndexStatusActive {
			t.Fatalf("index %s is %s", aws.ToString(g.IndexName), g.IndexStatus)
		}
		if len(g.KeySchema) != 1 || aws.ToString(g.KeySchema[0].AttributeName) != w.key || g.KeySchema[0].KeyType != types.KeyTypeHash {
			t.Fatalf("index %s key = %+v, want %s HASH", aws.ToString(g.IndexName), g.KeySchema, w.key)
		}
		p := g.Projection
		attrs := slices.Sorted(slices.Values(p.NonKeyAttributes))
		if p.ProjectionType != types.ProjectionTypeInclude || !slices.Equal(attrs, w.include) {
			t.Fatalf("index %s projection = %s %v, want INCLUDE %s", aws.ToString(g.IndexName), p.ProjectionType, attrs, w.include)
		}
	}
}
