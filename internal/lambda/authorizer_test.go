package lambda_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/faultproxy"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/logscan"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/lambda"
	"github.com/cis-session/cis-session/internal/session"
)

const methodArn = "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/GET/api/vcenter/vm"

// authEvent is a REST API Lambda REQUEST authorizer event as API Gateway
// sends it for a call to a protected path.
func authEvent(method, path string, headers map[string]string) events.APIGatewayCustomAuthorizerRequestTypeRequest {
	mv := map[string][]string{}
	for k, v := range headers {
		mv[k] = []string{v}
	}
	// The resource's first segment is the path's, whatever the fuzzer
	// makes of the path (one without a slash, say).
	base, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return events.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type: "REQUEST", MethodArn: methodArn,
		Resource: "/" + base + "/{proxy+}", Path: path, HTTPMethod: method,
		Headers: headers, MultiValueHeaders: mv,
		RequestContext: events.APIGatewayCustomAuthorizerRequestTypeRequestContext{
			Path: "/v1" + path, AccountID: "123456789012", ResourceID: "r1", Stage: "v1", RequestID: "gw-req", APIID: "abc123", HTTPMethod: method,
		},
	}
}

// authAnswer is what API Gateway makes of an authorizer's answer.
type authAnswer struct {
	Effect, Principal, Resource string
	Context                     map[string]any
	Err                         error // the invocation failed: AUTHORIZER_FAILURE, the 503
}

// authorizerOf wires the front door over the stack's service, as
// functions/authorize does, logging where the stack logs.
func authorizerOf(st *stack, svc *session.Service) *lambda.Authorizer {
	log := slog.New(slog.NewJSONHandler(io.MultiWriter(st.logs, logscan.Writer()), nil))
	return lambda.NewAuthorizer(httpapi.NewFrontDoor(svc, log), log)
}

// authorize invokes a as the Lambda runtime does, within the stack's budget.
func (s *stack) authorize(a *lambda.Authorizer, ev any) (authAnswer, error) {
	payload, ok := ev.([]byte)
	if !ok {
		payload, _ = json.Marshal(ev)
	}
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: fmt.Sprintf("authz-%d", s.seq.Add(1))})
	if s.budget > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.budget)
		defer cancel()
	}
	out, err := a.Invoke(ctx, payload)
	if ctx.Err() != nil {
		return authAnswer{}, errLate
	}
	if err != nil {
		return authAnswer{Err: err}, nil
	}
	var resp events.APIGatewayCustomAuthorizerResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return authAnswer{}, fmt.Errorf("answer is not an authorizer response: %v: %s", err, out)
	}
	st := resp.PolicyDocument.Statement
	if len(st) != 1 || !slices.Equal(st[0].Action, []string{"execute-api:Invoke"}) || len(st[0].Resource) != 1 {
		return authAnswer{}, fmt.Errorf("policy %+v: want one execute-api:Invoke statement", resp.PolicyDocument)
	}
	return authAnswer{Effect: st[0].Effect, Principal: resp.PrincipalID, Resource: st[0].Resource[0], Context: resp.Context}, nil
}

func (s *stack) mustAuthorize(a *lambda.Authorizer, ev any) authAnswer {
	s.t.Helper()
	r, err := s.authorize(a, ev)
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

// TestAuthorizerDecidesAsGetDoes: what the front door answers for each kind
// of call, and that an allowed call counts as a use of its session.
func TestAuthorizerDecidesAsGetDoes(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		st := newStack(t, dynamotest.Setup(t, srv))
		a := authorizerOf(st, st.svc)
		live, expired, deleted := st.login(), st.login(), st.login()
		st.v2("DELETE", "/api/session", sid(deleted), "")
		st.clock.Advance(20 * time.Minute)
		createdInfo := st.info(live) // live, touched; expired is idle 20 min so far
		st.clock.Advance(11 * time.Minute)
		cookie := func(id string) map[string]string { return map[string]string{"Cookie": "vmware-api-session-id=" + id} }

		cases := []struct {
			name          string
			method, path  string
			headers       map[string]string
			allow         bool
			restShapedErr bool
		}{
			{"ValidSessionIsAllowed", "GET", "/api/vcenter/vm", sid(live), true, false},
			{"MissingSessionIsDenied", "GET", "/api/vcenter/vm", nil, false, false},
			{"UnknownSessionIsDenied", "GET", "/api/vcenter/vm", sid(strings.Repeat("0f", 16)), false, false},
			{"ExpiredSessionIsDenied", "GET", "/api/vcenter/vm", sid(expired), false, false},
			{"DeletedSessionIsDenied", "POST", "/api/vcenter/vm", sid(deleted), false, false},
			{"MalformedIDIsDenied", "GET", "/api/vcenter/vm", sid("not-a-session-id\x00"), false, false},
			{"RestCookieIsAllowed", "POST", "/rest/vcenter/vm", cookie(live), true, false},
			{"RestHeaderWinsOverTheCookie", "GET", "/rest/vcenter/vm", map[string]string{"vmware-api-session-id": strings.Repeat("0f", 16), "Cookie": "vmware-api-session-id=" + live}, false, true},
			{"RestDenialIsRestShaped", "GET", "/rest/vcenter/vm", nil, false, true},
			// A browser sends cookies cross-site by itself: /api reads the header only.
			{"ApiIgnoresTheCookie", "GET", "/api/vcenter/vm", cookie(live), false, false},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := st.mustAuthorize(a, authEvent(c.method, c.path, c.headers))
				if r.Err != nil {
					t.Fatalf("invocation failed: %v", r.Err)
				}
				if r.Resource != "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/*/*" {
					t.Errorf("policy resource %s, want the whole stage (a cached answer covers every path)", r.Resource)
				}
				if !c.allow {
					want := httpapi.GatewayBody("unauthenticated")
					if r.Effect != "Deny" {
						t.Fatalf("effect %s, want Deny", r.Effect)
					}
					body, _ := r.Context[lambda.ContextErrorBody].(string)
					var wantShape string
					if c.restShapedErr || strings.HasPrefix(c.path, "/rest/") {
						wantShape = `{"type":"com.vmware.vapi.std.errors.unauthenticated","value":{"messages":[{"args":[],"default_message":"Authentication required.","id":"com.vmware.vapi.endpoint.method.authentication.required"}],"challenge":"Basic realm=\"VAPI endpoint\""}}`
					} else {
						wantShape = `{"error_type":"UNAUTHENTICATED","messages":[{"args":[],"default_message":"Authentication required.","id":"com.vmware.vapi.endpoint.method.authentication.required"}],"challenge":"Basic realm=\"VAPI endpoint\""}`
					}
					if body != wantShape {
						t.Errorf("error_body %s\nwant %s (the union %s is only for responses the gateway answers alone)", body, wantShape, want)
					}
					if _, leaked := r.Context[lambda.ContextUser]; leaked {
						t.Error("a denial names a user")
					}
					return
				}
				if r.Effect != "Allow" || r.Principal != "administrator@vsphere.local" && r.Principal != adminName {
					t.Fatalf("effect %s for %s, want Allow for the session's user", r.Effect, r.Principal)
				}
				if r.Context[lambda.ContextUser] != createdInfo["user"] || r.Context[lambda.ContextCreatedTime] != createdInfo["created_time"] {
					t.Errorf("context %v, want the session's user and created_time %v", r.Context, createdInfo)
				}
			})
		}
		// Each allowed call was a use: the session's last access is now.
		if info := st.info(live); info["last_accessed_time"] != st.clock.Now().UTC().Format(httpapi.TimeFormat) {
			t.Errorf("last access %s, want now %s: an authorized call counts as a use", info["last_accessed_time"], st.clock.Now().UTC().Format(httpapi.TimeFormat))
		}
	})
}

// TestProtectedCallsAloneKeepASessionAlive: a client that only calls the
// operations behind the gateway is never idle.
func TestProtectedCallsAloneKeepASessionAlive(t *testing.T) {
	f := dynamotest.Setup(t, dynamotest.Engines(t)[0])
	st := newStack(t, f)
	a := authorizerOf(st, st.svc)
	tok := st.login()
	for range 5 {
		st.clock.Advance(20 * time.Minute) // each within the 30-minute idle timeout
		if r := st.mustAuthorize(a, authEvent("GET", "/api/vcenter/vm", sid(tok))); r.Effect != "Allow" {
			t.Fatalf("call after 20 idle minutes: %+v", r)
		}
	}
	st.info(tok) // 100 minutes after log-in, still live
}

// TestAuthorizerIsOneDynamoDBRequest: exactly one request per protected call,
// allowed or not (dynalite needs a second for a failed condition, as get does).
func TestAuthorizerIsOneDynamoDBRequest(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		f := dynamotest.Setup(t, srv)
		// The authorizer over the same counted service the stack serves.
		var svc *session.Service
		st, c := newCountingStackOf(t, f, func(s *session.Service, log *slog.Logger) http.Handler {
			svc = s
			return httpapi.New(s, log)
		})
		a := authorizerOf(st, svc)
		live := st.login()
		for _, tc := range []struct {
			name    string
			headers map[string]string
			want    []string
		}{
			{"Allowed", sid(live), []string{"UpdateItem"}},
			{"Unknown", sid(strings.Repeat("ab", 16)), []string{"UpdateItem"}},
			{"Malformed", sid("xyz"), nil},
			{"Missing", nil, nil},
		} {
			c.Reset()
			st.mustAuthorize(a, authEvent("GET", "/api/vcenter/vm", tc.headers))
			want := tc.want
			if srv.Kind == localdynamo.Dynalite && tc.name == "Unknown" {
				want = []string{"UpdateItem", "UpdateItem"} // dynalite's second look, as for get (roundTrips)
			}
			if got := c.Reset(); !slices.Equal(got, want) {
				t.Errorf("%s: DynamoDB requests %v, want %v", tc.name, got, want)
			}
		}
	})
}

// TestAuthorizerNeverAllowsOnBackendFaults: whatever the backend does, the
// authorizer fails the invocation (API Gateway's AUTHORIZER_FAILURE: the
// template's 503) within its budget; it never allows and discloses nothing.
func TestAuthorizerNeverAllowsOnBackendFaults(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		fs := newFaultStack(t, srv)
		a := authorizerOf(fs.stack, fs.svc)
		tok := fs.login()
		for _, fault := range []faultproxy.Fault{
			{Kind: faultproxy.Latency, Delay: 2 * functionTimeout},
			{Kind: faultproxy.Reset},
			{Kind: faultproxy.Refuse},
			{Kind: faultproxy.InternalError},
			{Kind: faultproxy.Throttling},
		} {
			t.Run(string(fault.Kind), func(t *testing.T) {
				if err := fs.proxy.Inject(fault); err != nil {
					t.Fatal(err)
				}
				defer func() { _ = fs.proxy.Clear() }()
				r, err := fs.authorize(a, authEvent("GET", "/api/vcenter/vm", sid(tok)))
				if errors.Is(err, errLate) {
					t.Fatalf("no answer within the function's %v budget", functionTimeout)
				}
				if err != nil {
					t.Fatal(err)
				}
				if r.Err == nil {
					t.Fatalf("answered %s under a backend fault; want a failed invocation (503)", r.Effect)
				}
				if r.Err.Error() != lambda.ErrUnavailable.Error() || strings.Contains(r.Err.Error(), fs.proxy.URL) {
					t.Errorf("failure %q discloses more than unavailability", r.Err)
				}
				fs.waitIdle(t)
			})
		}
		if r := fs.mustAuthorize(a, authEvent("GET", "/api/vcenter/vm", sid(tok))); r.Effect != "Allow" {
			t.Errorf("after the faults the session is refused: %+v", r)
		}
	})
}

// TestAuthorizationsRacingADeleteNeverOutliveIt: once a log-out has
// answered, no call authorizes with that session again, nor brings it back.
func TestAuthorizationsRacingADeleteNeverOutliveIt(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		st, sessions, tok, _ := newRaceStack(t, srv)
		a := authorizerOf(st, st.svc)
		ev, _ := json.Marshal(authEvent("GET", "/api/vcenter/vm", sid(tok)))
		del, _ := json.Marshal(v2Event("DELETE", "/api/session", sid(tok), ""))
		var deleted atomic.Bool
		var allowed, deniedAfter atomic.Int64
		done := make(chan []error)
		go func() {
			done <- race(func(int) error {
				after := deleted.Load()
				r, err := st.authorize(a, ev)
				switch {
				case err != nil:
					return err
				case r.Err != nil:
					return r.Err
				case r.Effect == "Allow" && after:
					return errors.New("a call that started after the log-out had answered was allowed")
				case r.Effect == "Allow":
					allowed.Add(1)
				case after:
					deniedAfter.Add(1)
				}
				return nil
			})
		}()
		for i := 0; allowed.Load() < raceWorkers; i++ {
			if i == 3000 {
				t.Fatalf("only %d calls allowed in 30 s", allowed.Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
		if r, err := st.call(del); err != nil || r.Status != 204 {
			t.Fatalf("delete = %+v, %v", r, err)
		}
		deleted.Store(true)
		for _, err := range <-done {
			t.Error(err)
		}
		if deniedAfter.Load() == 0 {
			t.Error("no call started after the log-out answered: the race did not happen")
		}
		if s, err := sessions.Peek(context.Background(), session.Token(tok).Hash()); session.ErrorCode(err) != session.ENOTFOUND {
			t.Fatalf("after the race the table holds %+v (err %v): an authorization brought the session back", s, err)
		}
	})
}

// TestAuthorizerRefusesWhatIsNoAuthorizerEvent: a misrouted event fails the
// invocation (a 503 at the gateway), never an allow.
func TestAuthorizerRefusesWhatIsNoAuthorizerEvent(t *testing.T) {
	st := newStack(t, dynamotest.Setup(t, dynamotest.Engines(t)[0]))
	a := authorizerOf(st, st.svc)
	tok := st.login()
	proxyEvent, _ := json.Marshal(v1Event("GET", "/api/session", sid(tok), ""))
	token := authEvent("GET", "/api/x", sid(tok))
	token.Type = "TOKEN"
	noArn := authEvent("GET", "/api/x", sid(tok))
	noArn.MethodArn = ""
	for name, ev := range map[string]any{"NotJSON": []byte("{"), "ProxyEvent": proxyEvent, "TokenAuthorizer": token, "NoMethodArn": noArn} {
		if r, err := st.authorize(a, ev); err != nil || r.Err == nil {
			t.Errorf("%s: %+v, %v; want a failed invocation", name, r, err)
		}
	}
}

// FuzzAuthorize: whatever the event, the authorizer never panics, and
// allows only a call that presents a live session.
func FuzzAuthorize(f *testing.F) {
	st := newStack(f, dynamotest.Setup(f, dynamotest.Engines(f)[0]))
	a := authorizerOf(st, st.svc)
	tok := st.login()
	f.Add("GET", "/api/vcenter/vm", liveToken, "", false)
	f.Add("POST", "/rest/vcenter/vm", "", "vmware-api-session-id="+liveToken, false)
	f.Add("GET", "/rest/x", liveToken+","+liveToken, "a=b; vmware-api-session-id=x", false)
	f.Add("", "", "", "", true)
	f.Add("GET", "api/../x\x00", "\xff", "vmware-api-session-id="+liveToken+"; vmware-api-session-id=x", false)
	f.Fuzz(func(t *testing.T, method, path, id, cookie string, raw bool) {
		id = strings.ReplaceAll(id, liveToken, tok)
		cookie = strings.ReplaceAll(cookie, liveToken, tok)
		var ev any = []byte(path)
		if !raw {
			h := map[string]string{}
			if id != "" {
				h[httpapi.HeaderSessionID] = id
			}
			if cookie != "" {
				h["Cookie"] = cookie
			}
			ev = authEvent(method, path, h)
		}
		r, err := st.authorize(a, ev)
		if err != nil {
			t.Fatal(err)
		}
		if r.Err != nil {
			if raw {
				return
			}
			t.Fatalf("invocation failed for an authorizer event: %v", r.Err)
		}
		if r.Effect == "Allow" {
			presented := strings.TrimSpace(id) == tok || id == "" && strings.HasPrefix(path, "/rest/") && strings.Contains(cookie, tok)
			if !presented || r.Context[lambda.ContextUser] == nil {
				t.Fatalf("allowed %q %q (header %q, cookie %q), which presents no live session", method, path, id, cookie)
			}
		} else if b, _ := r.Context[lambda.ContextErrorBody].(string); !json.Valid([]byte(b)) || !strings.Contains(b, "nauthenticated") && !strings.Contains(b, "NAUTHENTICATED") {
			t.Fatalf("denial body %q is no vAPI 401", b)
		}
	})
}

// TestAuthorizerDeniesReservedHeadersAtNoCost: a call sending a header the
// service sets upstream, in any spelling a CGI, PHP or WSGI upstream reads
// as it, is denied with vAPI's 401 body for its surface, with a live
// session and before any storage request: a REST API's integration cannot
// drop headers it does not name, so no such call may pass.
func TestAuthorizerDeniesReservedHeadersAtNoCost(t *testing.T) {
	f := dynamotest.Setup(t, dynamotest.Engines(t)[0])
	var svc *session.Service
	st, c := newCountingStackOf(t, f, func(s *session.Service, log *slog.Logger) http.Handler {
		svc = s
		return httpapi.New(s, log)
	})
	a := authorizerOf(st, svc)
	live := st.login()
	for _, name := range []string{"vmware_cis_user", "VMWARE_CIS_USER", "Vmware-Cis-User", "vmware-cis-assertion",
		"Vmware_Cis_Assertion", "vmware_cis_session_created", "vmware-cis-next",
		// Any punctuation, and the session id under a spelling the
		// integration cannot replace (docs/FRONTDOOR.md).
		"vmware.cis.user", "vmware~cis~user", "vmware+cis+user", "vmware.api.session.id", "vmware_api_session_id"} {
		for path, body := range map[string]string{
			"/api/vcenter/vm":  `{"error_type":"UNAUTHENTICATED","messages":[{"args":[],"default_message":"Authentication required.","id":"com.vmware.vapi.endpoint.method.authentication.required"}],"challenge":"Basic realm=\"VAPI endpoint\""}`,
			"/rest/vcenter/vm": `{"type":"com.vmware.vapi.std.errors.unauthenticated","value":{"messages":[{"args":[],"default_message":"Authentication required.","id":"com.vmware.vapi.endpoint.method.authentication.required"}],"challenge":"Basic realm=\"VAPI endpoint\""}}`,
		} {
			c.Reset()
			ev := authEvent("GET", path, map[string]string{"vmware-api-session-id": live, name: "root@evil.example"})
			r := st.mustAuthorize(a, ev)
			if r.Err != nil || r.Effect != "Deny" || r.Context[lambda.ContextErrorBody] != body {
				t.Errorf("%s on %s: %+v, want Deny with %s", name, path, r, body)
			}
			if got := c.Reset(); len(got) != 0 {
				t.Errorf("%s on %s: DynamoDB requests %v, want none", name, path, got)
			}
		}
	}
}
