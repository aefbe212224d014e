package lambda_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/session"
	cisstack "github.com/cis-session/cis-session/internal/stack"
)

// forwardingStack is the vapi function as functions/vapi wires it (its
// operations only, forwarding to up), its DynamoDB requests counted on
// the wire.
func newForwardingStack(t *testing.T, f dynamotest.Fixture, up *url.URL) (*stack, *dynamotest.Recorder) {
	t.Helper()
	return newCountingStackOf(t, f, func(svc *session.Service, log *slog.Logger) http.Handler {
		h := httpapi.New(svc, log, cisstack.Vapi.Ops...)
		if up != nil {
			h.WithUpstream(httpapi.NewUpstream(up))
		}
		return h
	})
}

// rpcOtherService is the SDK's call of com.vmware.vcenter.VM's list.
func rpcOtherService(id string) string {
	return strings.Replace(strings.Replace(rpcSessionBody("get", id), `"serviceId":"com.vmware.cis.session"`, `"serviceId":"com.vmware.vcenter.VM"`, 1),
		`"operationId":"get"`, `"operationId":"list"`, 1)
}

// recordingUpstream answers every call with a JSON-RPC output and counts.
type recordingUpstream struct {
	mu     sync.Mutex
	bodies []string
}

const upstreamOutput = `{"jsonrpc":"2.0","id":"1","result":{"output":{"LIST":[]}}}`

func (u *recordingUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.bodies = append(u.bodies, string(b))
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, upstreamOutput)
}

func (u *recordingUpstream) taken() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	b := u.bodies
	u.bodies = nil
	return b
}

// TestAForwardedJSONRPCCallIsOneDynamoDBRequest: a JSON-RPC call for another
// service costs what the authorizer's check costs, one conditional
// UpdateItem, whether it is forwarded or refused; a malformed id, nothing.
// On both of API Gateway's payloads.
func TestAForwardedJSONRPCCallIsOneDynamoDBRequest(t *testing.T) {
	up := &recordingUpstream{}
	srv := httptest.NewServer(up)
	defer srv.Close()
	base, _ := url.Parse(srv.URL)
	cases := []struct {
		name      string
		id        func(live string) string
		forwarded bool
		want      []string
		onEngine  map[localdynamo.Kind][]string
	}{
		{"ALiveSessionIsOneUpdateAndForwarded", func(live string) string { return live }, true, []string{"UpdateItem"}, nil},
		{"AnUnknownSessionIsOneUpdateAndRefused", func(string) string { return unknownID("") }, false, []string{"UpdateItem"},
			map[localdynamo.Kind][]string{localdynamo.Dynalite: {"UpdateItem", "UpdateItem"}}},
		{"AMalformedIDCostsNothing", func(string) string { return "not-a-session-id" }, false, nil, nil},
	}
	dynamotest.ForEach(t, func(t *testing.T, eng *localdynamo.Server) {
		st, c := newForwardingStack(t, dynamotest.Setup(t, eng), base)
		for _, payload := range []string{"2.0", "1.0"} {
			for _, tc := range cases {
				t.Run(payload+"/"+tc.name, func(t *testing.T) {
					live := rpcLogin(t, st)
					c.Reset()
					up.taken()
					body := rpcOtherService(tc.id(live))
					req := request{method: "POST", path: "/api", headers: map[string]string{"content-type": "application/json"}, body: body}
					var r response
					if payload == "2.0" {
						r = st.v2req(req)
					} else {
						r = st.v1req(req)
					}
					got := c.Reset()
					want := tc.want
					if w, ok := tc.onEngine[eng.Kind]; ok {
						want = w
					}
					if !slices.Equal(got, want) {
						t.Errorf("DynamoDB requests = %v, want %v", got, want)
					}
					bodies := up.taken()
					if !tc.forwarded {
						if len(bodies) != 0 || r.Status != 200 || !strings.Contains(r.Body, `"com.vmware.vapi.std.errors.unauthenticated"`) {
							t.Errorf("refused call: %d %s, upstream got %d; want the JSON-RPC unauthenticated error and nothing forwarded", r.Status, r.Body, len(bodies))
						}
						return
					}
					if r.Status != 200 || r.Body != upstreamOutput {
						t.Errorf("answer %d %s, want the upstream's", r.Status, r.Body)
					}
					if len(bodies) != 1 || strings.Contains(bodies[0], live) || strings.Contains(bodies[0], "securityCtx") {
						t.Errorf("the upstream got %q, want one call without the security context", bodies)
					}
				})
			}
		}
	})
}

// TestAnUpstreamThatDoesNotAnswerIsServiceUnavailableWithinTheDeadline: the
// forwarded call gives up before the invocation's deadline (DeadlineMargin
// before it), so the function still answers the JSON-RPC service_unavailable
// error itself, disclosing nothing, instead of being killed answerless.
func TestAnUpstreamThatDoesNotAnswerIsServiceUnavailableWithinTheDeadline(t *testing.T) {
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hanging.Close()
	defer close(release)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	for name, target := range map[string]string{"Hanging": hanging.URL, "Down": dead.URL} {
		t.Run(name, func(t *testing.T) {
			base, _ := url.Parse(target)
			st, _ := newForwardingStack(t, dynamotest.Setup(t, dynamotest.Engines(t)[0]), base)
			st.budget = functionTimeout
			live := rpcLogin(t, st)
			r, err := st.call(mustJSON(t, v2Event("POST", "/api", map[string]string{"content-type": "application/json"}, rpcOtherService(live))))
			if err != nil {
				t.Fatalf("%v (the function's budget is %v)", err, functionTimeout)
			}
			var ans struct {
				ID     json.RawMessage `json:"id"`
				Result struct {
					Error struct {
						Error map[string]json.RawMessage `json:"ERROR"`
					} `json:"error"`
				} `json:"result"`
			}
			if r.Status != 200 || json.Unmarshal([]byte(r.Body), &ans) != nil || string(ans.ID) != `"1"` ||
				ans.Result.Error.Error["com.vmware.vapi.std.errors.service_unavailable"] == nil {
				t.Errorf("answer %d %s, want the JSON-RPC service_unavailable error", r.Status, r.Body)
			}
			if strings.Contains(r.Body, base.Host) || r.header("Cache-Control") != "no-store" {
				t.Errorf("answer %v %s discloses the upstream or may be stored", r.Headers, r.Body)
			}
		})
	}
}

// rpcLogin logs in over JSON-RPC, the one way the vapi function offers.
func rpcLogin(t *testing.T, st *stack) string {
	t.Helper()
	r := st.v2("POST", "/api", map[string]string{"content-type": "application/json"}, rpcCreate(adminName, adminPass)(st, ""))
	var ans struct {
		Result struct {
			Output struct {
				Secret string `json:"SECRET"`
			} `json:"output"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(r.Body), &ans); err != nil || ans.Result.Output.Secret == "" {
		t.Fatalf("log in: %d %s", r.Status, r.Body)
	}
	return ans.Result.Output.Secret
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
