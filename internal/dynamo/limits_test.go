package dynamo_test

import (
	"context"
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

func failuresOf(t *testing.T, u *dynamo.Users, name string) session.Failures {
	t.Helper()
	got, err := u.User(context.Background(), name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return got.Failures
}

// countFailure counts a failure the way a log-in does: with what it read.
func countFailure(t *testing.T, u *dynamo.Users, name string, at time.Time) {
	t.Helper()
	seen := failuresOf(t, u, name)
	if err := u.CountFailure(context.Background(), name, &seen, at, window); err != nil {
		t.Fatalf("count failure of %s at %v: %v", name, at, err)
	}
}

func TestFailureWindow(t *testing.T) {
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

		t.Run("FailuresInAWindowAddUpAndTheWindowEndsByItself", func(t *testing.T) {
			add(t, "a@d")
			if got := failuresOf(t, u, "a@d"); got != (session.Failures{}) {
				t.Fatalf("new user has failures %+v", got)
			}
			countFailure(t, u, "a@d", t0)
			countFailure(t, u, "A@D", t0.Add(time.Minute))
			countFailure(t, u, "a@d", t0.Add(window-time.Millisecond))
			if got, want := failuresOf(t, u, "a@d"), (session.Failures{Count: 3, Since: t0}); got != want {
				t.Fatalf("failures = %+v, want %+v", got, want)
			}
			// No clean-up ran: the next failure after the window starts anew.
			later := t0.Add(window)
			countFailure(t, u, "a@d", later)
			if got, want := failuresOf(t, u, "a@d"), (session.Failures{Count: 1, Since: later}); got != want {
				t.Fatalf("failures after the window = %+v, want %+v", got, want)
			}
		})

		t.Run("EachFailureIsOneRequest", func(t *testing.T) {
			add(t, "one@d")
			for i, at := range []time.Time{t0, t0.Add(time.Second), t0.Add(window)} {
				seen := failuresOf(t, u, "one@d")
				rec.Reset()
				if err := u.CountFailure(ctx, "one@d", &seen, at, window); err != nil {
					t.Fatal(err)
				}
				if calls := rec.Reset(); !slices.Equal(calls, []string{"UpdateItem"}) {
					t.Fatalf("failure %d made %v, want one UpdateItem", i, calls)
				}
			}
		})

		t.Run("AStaleReadStillCountsRight", func(t *testing.T) {
			add(t, "stale@d")
			// The log-in read "no window", but another started one since.
			countFailure(t, u, "stale@d", t0)
			none := session.Failures{}
			if err := u.CountFailure(ctx, "stale@d", &none, t0.Add(time.Second), window); err != nil {
				t.Fatal(err)
			}
			if got := failuresOf(t, u, "stale@d"); got.Count != 2 || !got.Since.Equal(t0) {
				t.Fatalf("failures = %+v, want 2 since %v", got, t0)
			}
			// The log-in read a running window, but a success cleared it since.
			seen := failuresOf(t, u, "stale@d")
			if err := u.ClearFailures(ctx, "stale@d"); err != nil {
				t.Fatal(err)
			}
			at := t0.Add(2 * time.Second)
			if err := u.CountFailure(ctx, "stale@d", &seen, at, window); err != nil {
				t.Fatal(err)
			}
			if got, want := failuresOf(t, u, "stale@d"), (session.Failures{Count: 1, Since: at}); got != want {
				t.Fatalf("failures = %+v, want %+v", got, want)
			}
		})

		t.Run("ConcurrentFailuresAreNeverLost", func(t *testing.T) {
			dynamotest.RequireAtomicWrites(t, srv)
			add(t, "busy@d")
			const n = 20
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				// All of them read the account before any counted.
				seen := session.Failures{}
				wg.Go(func() {
					errs <- u.CountFailure(ctx, "busy@d", &seen, t0.Add(time.Duration(i)*time.Millisecond), window)
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := failuresOf(t, u, "busy@d"); got.Count != n {
				t.Fatalf("count = %d after %d concurrent failures", got.Count, n)
			}
		})

		t.Run("UnknownUserCostsOneRequestAndCreatesNothing", func(t *testing.T) {
			rec.Reset()
			err := u.CountFailure(ctx, "ghost@d", nil, t0, window)
			if session.ErrorCode(err) != session.ENOTFOUND {
				t.Fatalf("err = %v, want ENOTFOUND", err)
			}
			if calls := rec.Reset(); !slices.Equal(calls, []string{"UpdateItem"}) {
				t.Fatalf("unknown user made %v, want one UpdateItem", calls)
			}
			if _, err := u.User(ctx, "ghost@d"); session.ErrorCode(err) != session.ENOTFOUND {
				t.Fatalf("a failed log-in created a user: %v", err)
			}
		})

		t.Run("ClearEndsTheWindowAndListShowsIt", func(t *testing.T) {
			add(t, "locked@d")
			for range 5 {
				countFailure(t, u, "locked@d", t0)
			}
			list, err := u.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(list, func(x session.User) bool { return x.Name == "locked@d" })
			if i < 0 || list[i].Failures != (session.Failures{Count: 5, Since: t0}) {
				t.Fatalf("list = %+v, want locked@d with 5 failures since t0", list)
			}
			if err := u.ClearFailures(ctx, "LOCKED@d"); err != nil {
				t.Fatal(err)
			}
			if got := failuresOf(t, u, "locked@d"); got != (session.Failures{}) {
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
				if got, err := s.CountLive(ctx, name, now, lifetime, 0); err != nil || got != want {
					t.Errorf("CountLive(%s) = %d, %v; want %d", name, got, err, want)
				}
			}
		})

		t.Run("BelowTheCapIsOneQueryOfTheIndex", func(t *testing.T) {
			seed(t, "dave@corp")
			rec, rs := recorded()
			// The idle session still counts: below the cap that changes nothing.
			if got, err := rs.CountLive(ctx, "dave@corp", now, lifetime, 550); err != nil || got != 5 {
				t.Fatalf("CountLive below the cap = %d, %v; want 5 (4 live, 1 idle the index cannot tell)", got, err)
			}
			if calls := rec.Reset(); !slices.Equal(calls, []string{"Query"}) {
				t.Fatalf("CountLive below the cap made %v, want one Query", calls)
			}
		})

		t.Run("AtTheCapCountsExactlyAndDeletesTheDead", func(t *testing.T) {
			seed(t, "erin@corp")
			rec, rs := recorded()
			if got, err := rs.CountLive(ctx, "erin@corp", now, lifetime, 5); err != nil || got != 4 {
				t.Fatalf("CountLive at the cap = %d, %v; want exactly the 4 live", got, err)
			}
			calls := rec.Reset()
			if !slices.Equal(calls, []string{"Query", "Query", "BatchGetItem", "DeleteItem"}) {
				t.Fatalf("CountLive at the cap made %v, want the count, the candidates, their items, one delete of the idle one", calls)
			}
			// The idle session is gone: the next count is cheap again.
			if got, err := rs.CountLive(ctx, "erin@corp", now, lifetime, 5); err != nil || got != 4 {
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
			if got, err := s.CountLive(ctx, "monitor@corp", now, lifetime, cap); err != nil || got != cap-1 {
				t.Fatalf("CountLive = %d, %v; want %d: idle sessions must not count against the cap", got, err, cap-1)
			}
		})

		t.Run("CountsAcrossPages", func(t *testing.T) {
			seed(t, "frank@corp")
			paged := &dynamo.Sessions{DB: f.DB, Table: f.Tables.Sessions}
			dynamo.SetCountPage(paged, 2)
			if got, err := paged.CountLive(ctx, "frank@corp", now, lifetime, 550); err != nil || got != 5 {
				t.Fatalf("CountLive over pages of 2 below the cap = %d, %v; want 5", got, err)
			}
			if got, err := paged.CountLive(ctx, "frank@corp", now, lifetime, 0); err != nil || got != 4 {
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
	if len(d.Table.GlobalSecondaryIndexes) != 1 {
		t.Fatalf("indexes = %+v, want exactly %s", d.Table.GlobalSecondaryIndexes, dynamo.SessionsByUser)
	}
	g := d.Table.GlobalSecondaryIndexes[0]
	if aws.ToString(g.IndexName) != dynamo.SessionsByUser || g.IndexStatus != types.IndexStatusActive {
		t.Fatalf("index %s is %s", aws.ToString(g.IndexName), g.IndexStatus)
	}
	if len(g.KeySchema) != 1 || aws.ToString(g.KeySchema[0].AttributeName) != "user_key" || g.KeySchema[0].KeyType != types.KeyTypeHash {
		t.Fatalf("index key = %+v, want user_key HASH", g.KeySchema)
	}
	p := g.Projection
	attrs := slices.Sorted(slices.Values(p.NonKeyAttributes))
	if p.ProjectionType != types.ProjectionTypeInclude || !slices.Equal(attrs, []string{"created_ms"}) {
		t.Fatalf("projection = %s %v, want INCLUDE created_ms", p.ProjectionType, attrs)
	}
}
