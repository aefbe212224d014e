package lambda_test

import (
	"context"
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
// Log-in is five requests in four round trips: the password hash and the
// user's lockout must be read before the password can be checked
// (GetItem); the attempt is reserved before it is checked (a conditional
// UpdateItem), so that attempts sent at once cannot pass the lockout's
// limit (docs/SECURITY.md); the user's sessions are counted for the
// per-user cap (Query of the by-user-v2 index) while the hash is checked,
// so that costs no time; the session can be written only after the check
// succeeds (PutItem); and the attempt is settled (UpdateItem: the class's
// failures forgotten, the source remembered as familiar) in a write that
// returns the user, to confirm that its revision did not change
// meanwhile, so that a password reset or removal racing the log-in cannot
// leave a session the revocation misses (docs/SESSIONS.md). A refused
// log-in, whatever the cause (unknown user, wrong password, locked
// account), makes four requests: the read, the reservation (refused by its
// condition for an unknown user or a locked class), the count, and the
// settlement (refused by its condition when there is nothing to settle),
// so that no cause can be told from another by what the service does. A
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
	{"LoginReadsTheUserReservesCountsSessionsWritesTheSessionAndSettles", login(adminName, adminPass), 201,
		[]string{"GetItem", "UpdateItem", "Query", "PutItem", "UpdateItem"}, nil},
	{"LoginWithAWrongPasswordReservesAndSettles", login(adminName, "wrong-password-1"), 401,
		[]string{"GetItem", "UpdateItem", "Query", "UpdateItem"}, nil},
	{"LoginOfAnUnknownUserCostsTheSameAsAWrongPassword", login("nobody@vsphere.local", adminPass), 401,
		[]string{"GetItem", "UpdateItem", "Query", "UpdateItem"}, nil},
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
