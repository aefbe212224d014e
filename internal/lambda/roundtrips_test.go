package lambda_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/local"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/lambda"
	"github.com/cis-session/cis-session/internal/session"
)

// roundTrips states, in one place, the DynamoDB requests each kind of
// request costs, in order, on DynamoDB itself. onEngine lists where a local
// engine needs more; nothing here is allowed to be cheaper on an engine than
// on DynamoDB.
//
// Log-in is four requests in three round trips, whatever else is
// happening: nothing is reserved, nothing is retried, nothing waits. The
// password hash and the user's lockout must be read before the password
// can be checked (GetItem); the user's sessions are counted for the
// per-user cap (Query of the by-user-v2 index) while the hash is checked,
// so that costs no time; the session can be written only after the check
// succeeds (PutItem); and the success is recorded (UpdateItem: the class's
// row of locks ended, the source remembered as familiar) in a write that
// is conditional on the class being neither locked nor full, so that a
// right password checked while wrong ones filled the window is refused as
// they are (docs/SECURITY.md), and that returns the user, to confirm that
// its revision did not change meanwhile, so that a password reset or
// removal racing the log-in cannot leave a session the revocation misses
// (docs/SESSIONS.md). A refused log-in, whatever the cause (unknown user,
// wrong password, repeated wrong password, locked account), makes three
// requests: the read, the count, and one UpdateItem (which counts a new
// wrong password, and is refused by its condition otherwise), so that no
// cause can be told from another by what the service does. Only the wrong
// password that fills its window makes one more UpdateItem: the lock. A
// malformed log-in is refused before any request. A user whose stored
// hash is weaker than new ones costs one more request, once: its first
// successful log-in stores a new hash (UpdateItem), so that its log-ins
// take as long as an unknown user's
// (TestLogInRehashesAPasswordHashedAtALowerCost). A log-in at the cap
// reads the candidates' items to count exactly (docs/SESSIONS.md).
//
// Get and delete are one request each, whatever the outcome: a conditional
// UpdateItem or DeleteItem that also returns the item. Only dynalite, which
// does not implement ReturnValuesOnConditionCheckFailure, needs a second
// (an UpdateItem that changes nothing) when the condition fails, to tell a
// gone session from a live one touched by a request whose clock is ahead.
var roundTrips = []struct {
	name     string
	send     func(st *stack, live string) response
	status   int
	want     []string
	onEngine map[localdynamo.Kind][]string
}{
	{"LoginReadsTheUserCountsSessionsWritesTheSessionAndRecordsTheSuccess", login(adminName, adminPass), 201,
		[]string{"GetItem", "Query", "PutItem", "UpdateItem"}, nil},
	{"LoginWithAWrongPasswordCountsIt", login(adminName, "wrong-password-1"), 401,
		[]string{"GetItem", "Query", "UpdateItem"}, nil},
	{"LoginOfAnUnknownUserCostsTheSameAsAWrongPassword", login("nobody@vsphere.local", adminPass), 401,
		[]string{"GetItem", "Query", "UpdateItem"}, nil},
	{"LoginWithARepeatedWrongPasswordCostsTheSame", afterWrong(1, adminName, "wrong-password-0"), 401,
		[]string{"GetItem", "Query", "UpdateItem"}, nil},
	{"LoginThatFillsTheWindowAlsoLocks", afterWrong(session.DefaultLockout.MaxFailures-1, adminName, "wrong-password-last"), 401,
		[]string{"GetItem", "Query", "UpdateItem", "UpdateItem"}, nil},
	{"LoginToALockedClassCostsTheSameAsAWrongPassword", afterWrong(session.DefaultLockout.MaxFailures, adminName, adminPass), 401,
		[]string{"GetItem", "Query", "UpdateItem"}, nil},
	{"LoginWithoutCredentialsCostsNothing", func(st *stack, _ string) response {
		return st.v2("POST", "/api/session", nil, "")
	}, 401, nil, nil},

	{"GetIsOneUpdate", get(func(live string) string { return live }), 200,
		[]string{"UpdateItem"}, nil},
	{"GetOfAnUnknownSessionIsOneUpdate", get(unknownID), 401,
		[]string{"UpdateItem"}, map[localdynamo.Kind][]string{localdynamo.Dynalite: {"UpdateItem", "UpdateItem"}}},
	{"GetOfAnIdleSessionIsOneUpdate", func(st *stack, live string) response {
		st.clock.Advance(31 * time.Minute)
		return st.v2("GET", "/api/session", sid(live), "")
	}, 401, []string{"UpdateItem"}, map[localdynamo.Kind][]string{localdynamo.Dynalite: {"UpdateItem", "UpdateItem"}}},
	{"GetFromAnInvocationWithASlowClockIsOneUpdate", func(st *stack, live string) response {
		// Another invocation, its clock a second ahead, used the session.
		st.clock.Advance(time.Second)
		st.v2("GET", "/api/session", sid(live), "")
		st.clock.Advance(-time.Second)
		st.count.Reset()
		return st.v2("GET", "/api/session", sid(live), "")
	}, 200, []string{"UpdateItem"}, map[localdynamo.Kind][]string{localdynamo.Dynalite: {"UpdateItem", "UpdateItem"}}},
	{"GetWithAMalformedIDCostsNothing", get(func(string) string { return "not-a-session-id" }), 401,
		nil, nil},

	{"DeleteIsOneDelete", del(func(live string) string { return live }), 204,
		[]string{"DeleteItem"}, nil},
	{"DeleteOfAnUnknownSessionIsOneDelete", del(unknownID), 401,
		[]string{"DeleteItem"}, nil},
	{"DeleteWithAMalformedIDCostsNothing", del(func(string) string { return "" }), 401,
		nil, nil},
}

func login(user, pass string) func(*stack, string) response {
	return func(st *stack, _ string) response { return st.v2("POST", "/api/session", basic(user, pass), "") }
}

// afterWrong sends n different wrong passwords (from wrong-password-0) of
// user, then, counted alone, a log-in with pass; and then forgets the
// user's failures (uncounted), so that the next case logs in.
func afterWrong(n int, user, pass string) func(*stack, string) response {
	return func(st *stack, _ string) response {
		for i := range n {
			if r := st.v2("POST", "/api/session", basic(user, fmt.Sprint("wrong-password-", i)), ""); r.Status != 401 {
				st.t.Fatalf("wrong password %d: %d %s", i, r.Status, r.Body)
			}
		}
		st.count.Reset()
		r := st.v2("POST", "/api/session", basic(user, pass), "")
		// st.svc is the uncounted service's: this costs the case nothing.
		if err := st.svc.Users.ClearFailures(context.Background(), user); err != nil {
			st.t.Fatal(err)
		}
		return r
	}
}

func get(id func(live string) string) func(*stack, string) response {
	return func(st *stack, live string) response { return st.v2("GET", "/api/session", sid(id(live)), "") }
}

func del(id func(live string) string) func(*stack, string) response {
	return func(st *stack, live string) response { return st.v2("DELETE", "/api/session", sid(id(live)), "") }
}

func unknownID(string) string {
	tok, _ := session.NewToken()
	return string(tok)
}

func TestEachRequestCostsTheMinimumOfRoundTrips(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		st, c := newCountingStack(t, dynamotest.Setup(t, srv))
		for _, rt := range roundTrips {
			t.Run(rt.name, func(t *testing.T) {
				live := st.login()
				c.Reset()
				r := rt.send(st, live)
				if r.Status != rt.status {
					t.Fatalf("status = %d, want %d: %s", r.Status, rt.status, r.Body)
				}
				want := rt.want
				if w, ok := rt.onEngine[srv.Kind]; ok {
					want = w
				}
				got := c.Reset()
				if !slices.Equal(got, want) {
					t.Fatalf("DynamoDB requests = %v, want %v", got, want)
				}
				t.Logf("DynamoDB requests: %v", got) // make bench reports these
			})
		}
	})
}

// newCountingStack is newStack with a DynamoDB client, built the way the
// functions build theirs, whose every request to the engine is counted.
func newCountingStack(t *testing.T, f dynamotest.Fixture) (*stack, *dynamotest.Recorder) {
	return newCountingStackOf(t, f, func(svc *session.Service, log *slog.Logger) http.Handler { return httpapi.New(svc, log) })
}

// newCountingStackOf is newCountingStack serving the handler serve builds
// over the counted service.
func newCountingStackOf(t *testing.T, f dynamotest.Fixture, serve func(*session.Service, *slog.Logger) http.Handler) (*stack, *dynamotest.Recorder) {
	t.Helper()
	st := newStack(t, f)
	c := &dynamotest.Recorder{}
	db, err := dynamo.NewClient(context.Background(), dynamo.WrapHTTPClient(c.Wrap))
	if err != nil {
		t.Fatal(err)
	}
	svc := local.Service(f.Config(t, nil), db)
	svc.Now = st.clock.Now
	log := slog.New(slog.NewJSONHandler(st.logs, nil))
	st.fn = lambda.NewHandler(serve(svc, log), log)
	st.count = c
	return st, c
}
