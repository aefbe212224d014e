package dynamo_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
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

var policy = session.Lockout{MaxFailures: 5, Window: window, LockFor: window, LockMax: 24 * time.Hour, FamiliarFor: 24 * time.Hour}

// windowStart is when the window of at began.
func windowStart(at time.Time) time.Time {
	return time.UnixMilli(policy.WindowOf(at) * window.Milliseconds()).UTC()
}

func failuresOf(t *testing.T, u *dynamo.Users, name string, c session.Class) session.Failures {
	t.Helper()
	got, err := u.User(context.Background(), name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return got.FailuresOf(c)
}

// wrong counts a wrong password as a log-in does; it returns the count
// after it, 0 when nothing was counted.
func wrong(t *testing.T, u *dynamo.Users, name string, c session.Class, digest string, at time.Time) int {
	t.Helper()
	got, err := u.User(context.Background(), name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	n, err := u.Fail(context.Background(), name, c, session.Failure{Digest: digest,
		Stale: []session.Mark{{Digest: digest, At: at}}, Earlier: []int64{got.FailuresOf(c).Window, got.FailuresOf(c).Older}}, at, policy)
	if err != nil {
		t.Fatalf("count %s's wrong password %s at %v: %v", name, digest, at, err)
	}
	return n
}

func TestFailedLogInCounts(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		f := dynamotest.Setup(t, srv)
		ctx := context.Background()
		rec := &dynamotest.Recorder{API: f.DB}
		u := &dynamo.Users{DB: rec, Table: f.Tables.Users}
		add := func(t *testing.T, name string) {
			t.Helper()
			if err := u.Add(ctx, session.User{Name: name, PasswordHash: "h"}, t0); err != nil {
				t.Fatal(err)
			}
		}
		succeed := func(t *testing.T, name string, c session.Class, at time.Time) (session.User, bool) {
			t.Helper()
			after, ok, err := u.Succeed(ctx, name, c, nil, "k", at, policy)
			if err != nil {
				t.Fatal(err)
			}
			return after, ok
		}

		t.Run("WrongPasswordsAddUpToTheLimitAndTheNextWindowStartsAtZero", func(t *testing.T) {
			add(t, "a@d")
			if got := failuresOf(t, u, "a@d", session.Unfamiliar); got != (session.Failures{}) {
				t.Fatalf("new user has failures %+v", got)
			}
			for i := range policy.MaxFailures {
				if n := wrong(t, u, "A@d", session.Unfamiliar, fmt.Sprint("d", i), t0); n != i+1 {
					t.Fatalf("wrong password %d: count %d, want %d", i+1, n, i+1)
				}
			}
			if n := wrong(t, u, "a@d", session.Unfamiliar, "d-past-the-limit", t0); n != 0 {
				t.Fatalf("a full window counted one more: %d", n)
			}
			if got := failuresOf(t, u, "a@d", session.Unfamiliar); !policy.Locked(got, t0) || got.Count != policy.MaxFailures {
				t.Fatalf("after the limit: %+v, want the window full", got)
			}
			// No clean-up ran: the next window counts from zero.
			next := windowStart(t0).Add(window)
			if n := wrong(t, u, "a@d", session.Unfamiliar, "d-next", next); n != 1 {
				t.Fatalf("in the next window: count %d, want 1", n)
			}
			// A log-in that began in the last window and writes late still
			// meets that window's full count: its wrong password is not
			// counted, and its right one is refused.
			late := windowStart(t0).Add(window - time.Millisecond)
			if n, err := u.Fail(ctx, "a@d", session.Unfamiliar, session.Failure{Digest: "d-late"}, late, policy); n != 0 || err != nil {
				t.Fatalf("a late wrong password of the full window: %d, %v; want not counted", n, err)
			}
			if _, ok := succeed(t, "a@d", session.Unfamiliar, late); ok {
				t.Fatal("a late right password of the full window got in")
			}
			// Counts of windows before the last go with the next count.
			later := next.Add(2 * window)
			wrong(t, u, "a@d", session.Unfamiliar, "d-later", later)
			item, _ := f.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(f.Tables.Users),
				Key: map[string]types.AttributeValue{"user_key": &types.AttributeValueMemberS{Value: "a@d"}}})
			for k := range item.Item {
				if strings.HasPrefix(k, "failures_") && k != fmt.Sprint("failures_", policy.WindowOf(later)) {
					t.Errorf("the count %s of an earlier window stays on the item", k)
				}
			}
		})

		t.Run("EachRefusalAndEachSuccessIsOneUpdateItem", func(t *testing.T) {
			add(t, "one@d")
			for i, f := range []session.Failure{{Digest: "new", Stale: []session.Mark{{Digest: "new", At: t0}}}, {}} {
				rec.Reset()
				if _, err := u.Fail(ctx, "one@d", session.Unfamiliar, f, t0, policy); err != nil {
					t.Fatal(err)
				}
				if calls := rec.Reset(); !slices.Equal(calls, []string{"UpdateItem"}) {
					t.Fatalf("refusal %d made %v, want one UpdateItem", i, calls)
				}
			}
			if _, ok := succeed(t, "one@d", session.Unfamiliar, t0); !ok {
				t.Fatal("a right password with room in the window was refused")
			}
			if calls := rec.Reset(); !slices.Equal(calls, []string{"UpdateItem"}) {
				t.Fatalf("a success made %v, want one UpdateItem", calls)
			}
		})

		t.Run("ARepeatedWrongPasswordCountsOnceWithinAWindowsLength", func(t *testing.T) {
			add(t, "stale@d")
			if n := wrong(t, u, "stale@d", session.Unfamiliar, "same", t0); n != 1 {
				t.Fatalf("first time: count %d", n)
			}
			if n := wrong(t, u, "stale@d", session.Unfamiliar, "same", t0.Add(time.Minute)); n != 0 {
				t.Fatalf("the same digest again counted: %d", n)
			}
			if n := wrong(t, u, "stale@d", session.Unfamiliar, "same", t0.Add(window)); n != 1 {
				t.Fatalf("the same digest a window's length later: count %d, want 1 in its new window", n)
			}
		})

		t.Run("OneWrongPasswordSentAtOnceCountsOnce", func(t *testing.T) {
			dynamotest.RequireAtomicWrites(t, srv)
			add(t, "flood@d")
			var wg sync.WaitGroup
			start := make(chan struct{})
			for range 30 {
				wg.Go(func() {
					<-start
					// Each as a log-in that read the user before any counted.
					if _, err := u.Fail(ctx, "flood@d", session.Unfamiliar, session.Failure{Digest: "same",
						Stale: []session.Mark{{Digest: "same", At: t0}}}, t0, policy); err != nil {
						t.Error(err)
					}
				})
			}
			close(start)
			wg.Wait()
			if got := failuresOf(t, u, "flood@d", session.Unfamiliar); got.Count != 1 {
				t.Fatalf("one wrong password sent 30 times at once counted %d times, want 1", got.Count)
			}
		})

		t.Run("AtOnceNoMoreThanTheLimitIsCountedAndRightPasswordsPassOnlyWhileThereIsRoom", func(t *testing.T) {
			dynamotest.RequireAtomicWrites(t, srv)
			for _, c := range []struct {
				name         string
				right, wrong int
			}{{"TwentyRight", 20, 0}, {"ThirtyWrong", 0, 30}, {"TenRightThirtyWrong", 10, 30}} {
				t.Run(c.name, func(t *testing.T) {
					name := strings.ToLower(c.name) + "@d"
					add(t, name)
					var mu sync.Mutex
					var in, refused, counted int
					var wg sync.WaitGroup
					start := make(chan struct{})
					for i := range c.right + c.wrong {
						right := i < c.right
						wg.Go(func() {
							<-start
							if right {
								_, ok, err := u.Succeed(ctx, name, session.Unfamiliar, nil, "k", t0, policy)
								if err != nil {
									t.Error(err)
								}
								mu.Lock()
								if ok {
									in++
								} else {
									refused++
								}
								mu.Unlock()
								return
							}
							n, err := u.Fail(ctx, name, session.Unfamiliar, session.Failure{Digest: fmt.Sprint("w", i),
								Stale: []session.Mark{{Digest: fmt.Sprint("w", i), At: t0}}}, t0, policy)
							if err != nil {
								t.Error(err)
							}
							if n > 0 {
								mu.Lock()
								counted++
								mu.Unlock()
							}
						})
					}
					close(start)
					wg.Wait()
					got := failuresOf(t, u, name, session.Unfamiliar)
					t.Logf("%d right: %d in, %d refused; %d wrong: %d counted; then %+v", c.right, in, refused, c.wrong, counted, got)
					if want := min(c.wrong, policy.MaxFailures); counted != want || got.Count != want {
						t.Errorf("%d wrong passwords at once: %d counted, count %d; want %d", c.wrong, counted, got.Count, want)
					}
					// A right password is refused only by a window that wrong
					// passwords filled.
					if in+refused != c.right || refused > 0 && counted < policy.MaxFailures {
						t.Errorf("%d of %d right passwords in with %d wrong counted; want all unless %d wrong were counted",
							in, c.right, counted, policy.MaxFailures)
					}
					if c.wrong >= policy.MaxFailures {
						if _, ok := succeed(t, name, session.Unfamiliar, t0); ok {
							t.Errorf("a right password passed a full window")
						}
					}
				})
			}
		})

		t.Run("EachClassHasItsOwnCounter", func(t *testing.T) {
			add(t, "owner@d")
			for i := range policy.MaxFailures {
				wrong(t, u, "owner@d", session.Unfamiliar, fmt.Sprint("s", i), t0)
			}
			if n := wrong(t, u, "owner@d", session.Familiar, "f", t0); n != 1 {
				t.Fatalf("familiar count = %d; a full unfamiliar window refused it", n)
			}
			if _, ok := succeed(t, "owner@d", session.Familiar, t0); !ok {
				t.Fatal("a full unfamiliar window refused the owner from a familiar source")
			}
		})

		t.Run("ALockOutlastsItsWindowIsNeverShortenedAndASuccessEndsTheRow", func(t *testing.T) {
			add(t, "lock@d")
			until := t0.Add(3 * window)
			if err := u.Lock(ctx, "lock@d", session.Unfamiliar, session.Failures{Until: until, Streak: 2}); err != nil {
				t.Fatal(err)
			}
			if err := u.Lock(ctx, "lock@d", session.Unfamiliar, session.Failures{Until: t0.Add(window), Streak: 1}); err != nil {
				t.Fatal(err)
			}
			if got := failuresOf(t, u, "lock@d", session.Unfamiliar); !got.Until.Equal(until) || got.Streak != 2 {
				t.Fatalf("after a shorter lock: %+v, want until %s streak 2", got, until)
			}
			later := windowStart(t0).Add(2 * window)
			if n := wrong(t, u, "lock@d", session.Unfamiliar, "x", later); n != 0 {
				t.Fatal("a wrong password within the lock was counted")
			}
			if _, ok := succeed(t, "lock@d", session.Unfamiliar, later); ok {
				t.Fatal("a right password within the lock got in")
			}
			after, ok := succeed(t, "lock@d", session.Unfamiliar, until)
			if !ok || after.Failures != (session.Failures{}) {
				t.Fatalf("after the lock: %v, %+v; want in, and the row of locks ended", ok, after.Failures)
			}
		})

		t.Run("UnknownUserCostsWhatAKnownOneDoesAndCreatesNothing", func(t *testing.T) {
			rec.Reset()
			if n, err := u.Fail(ctx, "ghost@d", session.Unfamiliar, session.Failure{}, t0, policy); n != 0 || err != nil {
				t.Fatalf("Fail of no user = %d, %v", n, err)
			}
			if calls := rec.Reset(); !slices.Equal(calls, []string{"UpdateItem"}) {
				t.Fatalf("unknown user made %v, want one UpdateItem", calls)
			}
			if n := func() int {
				n, _ := u.Fail(ctx, "ghost@d", session.Unfamiliar, session.Failure{Digest: "d"}, t0, policy)
				return n
			}(); n != 0 {
				t.Fatalf("counted a wrong password of no user: %d", n)
			}
			if err := u.Lock(ctx, "ghost@d", session.Unfamiliar, session.Failures{Until: t0.Add(window), Streak: 1}); err != nil {
				t.Fatal(err)
			}
			if _, ok := succeed(t, "ghost@d", session.Unfamiliar, t0); ok {
				t.Fatal("succeed of no user reported a user")
			}
			if _, err := u.User(ctx, "ghost@d"); session.ErrorCode(err) != session.ENOTFOUND {
				t.Fatalf("a failed log-in created a user: %v", err)
			}
		})

		t.Run("SucceedEndsTheRowKeepsTheSourcesAndForgivesNoWrongPassword", func(t *testing.T) {
			add(t, "both@d")
			for _, c := range session.Classes {
				wrong(t, u, "both@d", c, "w-"+c.String(), t0)
				if err := u.Lock(ctx, "both@d", c, session.Failures{Until: t0.Add(-time.Minute), Streak: 2}); err != nil {
					t.Fatal(err)
				}
			}
			sources := []session.Mark{{Digest: "aaaaaaaaaaaaaaaa", At: t0}}
			before, _ := u.User(ctx, "both@d")
			after, ok, err := u.Succeed(ctx, "both@d", session.Familiar, sources, "key-1", t0.Add(time.Second), policy)
			if err != nil || !ok {
				t.Fatal(ok, err)
			}
			counted := session.Failures{Window: policy.WindowOf(t0), Count: 1}
			if after.FamiliarFailures != counted ||
				after.Failures != (session.Failures{Window: counted.Window, Count: 1, Until: t0.Add(-time.Minute), Streak: 2}) ||
				!slices.Equal(after.Sources, sources) || after.SourceKey != "key-1" || after.Revision != before.Revision {
				t.Fatalf("after success: %+v", after)
			}
			// The first key stays: digests made with it must still match.
			if after, _ := succeed(t, "both@d", session.Familiar, t0); after.SourceKey != "key-1" {
				t.Fatalf("a second success replaced the key: %q", after.SourceKey)
			}
		})

		t.Run("AnItemOfTheReservingVersionReadsAsNothingCountedAndKeepsItsLock", func(t *testing.T) {
			// As issue 17's defence left it: a window full of reservations
			// that never settled, and a lock that has ended.
			_, err := f.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(f.Tables.Users), Item: map[string]types.AttributeValue{
				"user_key": &types.AttributeValueMemberS{Value: "old@d"}, "name": &types.AttributeValueMemberS{Value: "old@d"},
				"password_hash": &types.AttributeValueMemberS{Value: "h"}, "created_ms": millis(t0), "updated_ms": millis(t0),
				"failed_count": &types.AttributeValueMemberN{Value: "5"}, "pending_count": &types.AttributeValueMemberN{Value: "5"},
				"settled_count": &types.AttributeValueMemberN{Value: "0"}, "failed_since_ms": millis(t0),
				"lock_until_ms": millis(t0.Add(time.Hour)), "lock_streak": &types.AttributeValueMemberN{Value: "1"},
			}})
			if err != nil {
				t.Fatal(err)
			}
			got := failuresOf(t, u, "old@d", session.Unfamiliar)
			if got.Count != 0 || !got.Until.Equal(t0.Add(time.Hour)) || got.Streak != 1 {
				t.Fatalf("old item reads %+v, want nothing counted and its lock", got)
			}
			if _, ok := succeed(t, "old@d", session.Unfamiliar, t0.Add(time.Hour)); !ok {
				t.Fatal("the old reservations blocked a right password after the lock")
			}
			wrong(t, u, "old@d", session.Unfamiliar, "w", t0.Add(time.Hour))
			item, _ := f.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(f.Tables.Users),
				Key: map[string]types.AttributeValue{"user_key": &types.AttributeValueMemberS{Value: "old@d"}}})
			for _, k := range []string{"failed_count", "pending_count", "settled_count", "failed_since_ms"} {
				if _, ok := item.Item[k]; ok {
					t.Errorf("the old attribute %s stays after a count", k)
				}
			}
		})

		t.Run("ClearEndsEveryClassAndListShowsThem", func(t *testing.T) {
			add(t, "locked@d")
			for _, c := range session.Classes {
				for i := range policy.MaxFailures {
					wrong(t, u, "locked@d", c, fmt.Sprint("c", i), t0)
				}
			}
			list, err := u.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			full := session.Failures{Window: policy.WindowOf(t0), Count: policy.MaxFailures}
			i := slices.IndexFunc(list, func(x session.User) bool { return x.Name == "locked@d" })
			if i < 0 || list[i].Failures != full || list[i].FamiliarFailures != full || list[i].PasswordHash != "" {
				t.Fatalf("list = %+v, want locked@d with both classes full and no hash", list)
			}
			if err := u.ClearFailures(ctx, "LOCKED@d"); err != nil {
				t.Fatal(err)
			}
			if got, _ := u.User(ctx, "locked@d"); got.Failures != (session.Failures{}) || got.FamiliarFailures != (session.Failures{}) || got.Stale != nil {
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

// millis is a time as the users table keeps it.
func millis(at time.Time) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: fmt.Sprint(at.UnixMilli())}
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
		dynamo.SessionsBySID:     {"oidc_sid_key", []string{"idp", "user"}},
	}
	if len(d.Table.GlobalSecondaryIndexes) != len(want) {
		t.Fatalf("indexes = %+v, want exactly %v", d.Table.GlobalSecondaryIndexes, slices.Sorted(maps.Keys(want)))
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
