package lambda_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/logscan"
)

// jsonRPCRoundTrips: each vAPI JSON-RPC call (POST /api) costs exactly what
// the same operation costs on /api/session (roundTrips, which says why
// those are the minimum), and a call refused before the operation costs
// nothing. Every answer is HTTP 200; outcome says whether it carries the
// operation's output, its vAPI error, or a JSON-RPC error.
var jsonRPCRoundTrips = []struct {
	name     string
	body     func(st *stack, live string) string
	outcome  string // "output", "vapi-error" or "rpc-error"
	want     []string
	onEngine map[localdynamo.Kind][]string
}{
	{"CreateReadsTheUserCountsSessionsWritesTheSessionAndRecordsTheSuccess", rpcCreate(adminName, adminPass), "output",
		[]string{"GetItem", "Query", "PutItem", "UpdateItem"}, nil},
	{"CreateWithAWrongPasswordCountsIt", rpcCreate(adminName, "wrong-password-1"), "vapi-error",
		[]string{"GetItem", "Query", "UpdateItem"}, nil},
	{"CreateOfAnUnknownUserCostsTheSameAsAWrongPassword", rpcCreate("nobody@vsphere.local", adminPass), "vapi-error",
		[]string{"GetItem", "Query", "UpdateItem"}, nil},
	{"CreateWithASessionContextCostsNothing", func(_ *stack, live string) string { return rpcSessionBody("create", live) }, "vapi-error",
		nil, nil},

	{"GetIsOneUpdate", func(_ *stack, live string) string { return rpcSessionBody("get", live) }, "output",
		[]string{"UpdateItem"}, nil},
	{"GetOfAnUnknownSessionIsOneUpdate", func(_ *stack, _ string) string { return rpcSessionBody("get", unknownID("")) }, "vapi-error",
		[]string{"UpdateItem"}, map[localdynamo.Kind][]string{localdynamo.Dynalite: {"UpdateItem", "UpdateItem"}}},
	{"GetOfAnIdleSessionIsOneUpdate", func(st *stack, live string) string {
		st.clock.Advance(31 * time.Minute)
		return rpcSessionBody("get", live)
	}, "vapi-error", []string{"UpdateItem"}, map[localdynamo.Kind][]string{localdynamo.Dynalite: {"UpdateItem", "UpdateItem"}}},
	{"GetWithAMalformedIDCostsNothing", func(_ *stack, _ string) string { return rpcSessionBody("get", "not-a-session-id") }, "vapi-error",
		nil, nil},

	{"DeleteIsOneDelete", func(_ *stack, live string) string { return rpcSessionBody("delete", live) }, "output",
		[]string{"DeleteItem"}, nil},
	{"TheSDKsSecondDeleteIsOneDelete", func(st *stack, live string) string {
		st.v2("POST", "/api", nil, rpcSessionBody("delete", live))
		st.count.Reset()
		return rpcSessionBody("delete", live)
	}, "vapi-error", []string{"DeleteItem"}, nil},

	{"AnUnknownOperationCostsNothing", func(_ *stack, live string) string { return rpcSessionBody("list", live) }, "vapi-error",
		nil, nil},
	{"AProtocolErrorCostsNothing", func(_ *stack, live string) string {
		return strings.Replace(rpcSessionBody("get", live), `"method":"invoke"`, `"method":"call"`, 1)
	}, "rpc-error", nil, nil},
}

// rpcCreate is the SDK's create body for user and pass.
func rpcCreate(user, pass string) func(*stack, string) string {
	return func(*stack, string) string {
		logscan.Secret(pass)
		u, _ := json.Marshal(user)
		p, _ := json.Marshal(pass)
		return `{"jsonrpc":"2.0","method":"invoke","id":"0","params":{"serviceId":"com.vmware.cis.session","operationId":"create",` +
			`"input":{"STRUCTURE":{"operation-input":{}}},"ctx":{"appCtx":{"opId":"op-1"},` +
			`"securityCtx":{"schemeId":"com.vmware.vapi.std.security.user_pass","userName":` + string(u) + `,"password":` + string(p) + `}}}}`
	}
}

// rpcSessionBody is the SDK's body for op, presenting the session id.
func rpcSessionBody(op, id string) string {
	i, _ := json.Marshal(id)
	return `{"jsonrpc":"2.0","method":"invoke","id":"1","params":{"serviceId":"com.vmware.cis.session","operationId":"` + op + `",` +
		`"input":{"STRUCTURE":{"operation-input":{}}},"ctx":{"appCtx":{"opId":"op-2"},` +
		`"securityCtx":{"schemeId":"com.vmware.vapi.std.security.session_id","sessionId":` + string(i) + `}}}}`
}

func TestEachJSONRPCCallCostsWhatItsOperationCosts(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		st, c := newCountingStack(t, dynamotest.Setup(t, srv))
		for _, rt := range jsonRPCRoundTrips {
			t.Run(rt.name, func(t *testing.T) {
				live := st.login()
				c.Reset()
				body := rt.body(st, live)
				r := st.v2("POST", "/api", map[string]string{"content-type": "application/json"}, body)
				got := c.Reset()
				if r.Status != 200 {
					t.Fatalf("status = %d, want 200: %s", r.Status, r.Body)
				}
				var ans struct {
					Result map[string]json.RawMessage `json:"result"`
					Error  json.RawMessage            `json:"error"`
				}
				if err := json.Unmarshal([]byte(r.Body), &ans); err != nil {
					t.Fatalf("answer %s: %v", r.Body, err)
				}
				outcome := "rpc-error"
				if _, ok := ans.Result["output"]; ok {
					outcome = "output"
				} else if _, ok := ans.Result["error"]; ok {
					outcome = "vapi-error"
				}
				if outcome != rt.outcome {
					t.Fatalf("answer is a %s, want a %s: %s", outcome, rt.outcome, r.Body)
				}
				want := rt.want
				if w, ok := rt.onEngine[srv.Kind]; ok {
					want = w
				}
				if !slices.Equal(got, want) {
					t.Fatalf("DynamoDB requests = %v, want %v", got, want)
				}
				t.Logf("DynamoDB requests: %v", got)
			})
		}
	})
}
