package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/local"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/logscan"
	"github.com/cis-session/cis-session/dev/upstreamtest"
	"github.com/cis-session/cis-session/internal/httpapi"
)

// upstream is the service behind the front door, on loopback: it answers
// every call with its own answer and remembers what reached it.
type upstream struct {
	*httptest.Server
	*upstreamtest.Upstream
}

// upstreamAnswer is the upstream's answer to every call, as it sends it.
const upstreamAnswer = `{"jsonrpc":"2.0","id":"9","result":{"output":{"LIST":[]}}}`

func newUpstream(t *testing.T) *upstream {
	rec := &upstreamtest.Upstream{Answer: upstreamAnswer}
	u := &upstream{httptest.NewServer(rec), rec}
	t.Cleanup(u.Close)
	return u
}

// base is the upstream's URL with a base path, as an operator gives it.
func (u *upstream) base(t *testing.T) *url.URL {
	b, err := url.Parse(u.URL + "/vc")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newForwardingRig is newRig with the JSON-RPC surface forwarding to up
// (nil: none).
func newForwardingRig(t *testing.T, srv *localdynamo.Server, up *url.URL) *rig {
	t.Helper()
	f := dynamotest.Setup(t, srv)
	f.AddUser(t, user, password)
	g := &rig{t: t, clock: &clock{now: time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC)}, calls: &dynamotest.Recorder{API: f.DB}, logs: &bytes.Buffer{}}
	svc := local.Service(f.Config(t, nil), g.calls)
	svc.Now = g.clock.Now
	log := slog.New(slog.NewJSONHandler(io.MultiWriter(logscan.Writer(), lockedWriter{&g.mu, g.logs}), nil))
	h := httpapi.New(svc, log)
	if up != nil {
		h.WithUpstream(httpapi.NewUpstream(up))
	}
	g.h = logscan.Recording(h)
	return g
}

// vmList is the SDK's call of com.vmware.vcenter.VM's list, presenting the
// session id in its session_id security context.
func vmList(id, sessionID string) string {
	return `{"jsonrpc":"2.0","method":"invoke","id":` + quote(id) + `,"params":{"serviceId":"com.vmware.vcenter.VM","operationId":"list",` +
		`"input":{"STRUCTURE":{"operation-input":{"filter":{"OPTIONAL":null}}}},"ctx":{"appCtx":{"opId":"1e2d3c4b-5a69-4788-96a5-b4c3d2e1f0a9"},` +
		`"securityCtx":{"schemeId":"com.vmware.vapi.std.security.session_id","sessionId":` + quote(sessionID) + `}}}}`
}

// vmListForwarded is vmList as the upstream must receive it: the same
// bytes without the security context.
func vmListForwarded(id string) string {
	return `{"jsonrpc":"2.0","method":"invoke","id":` + quote(id) + `,"params":{"serviceId":"com.vmware.vcenter.VM","operationId":"list",` +
		`"input":{"STRUCTURE":{"operation-input":{"filter":{"OPTIONAL":null}}}},"ctx":{"appCtx":{"opId":"1e2d3c4b-5a69-4788-96a5-b4c3d2e1f0a9"}}}}`
}

var vmHeaders = map[string]string{
	"Content-Type": "application/json", "vapi-service": "com.vmware.vcenter.VM", "vapi-operation": "list",
	"vapi-ctx-opid": "1e2d3c4b-5a69-4788-96a5-b4c3d2e1f0a9",
}

// TestJSONRPCForAnotherServiceIsAuthorizedThenForwarded: a call for any
// service but the session service is authorized by its session with one
// conditional touch (as the authorizer does) and then reaches the upstream
// exactly as the gateway forwards: the user added, the session id gone
// from header, cookie and body, everything else as sent; the client gets
// the upstream's answer as it is. A refused call gets the JSON-RPC form of
// the vAPI 401 and never reaches the upstream.
func TestJSONRPCForAnotherServiceIsAuthorizedThenForwarded(t *testing.T) {
	type call struct {
		target  string
		headers map[string]string
		body    string
	}
	withHeaders := func(extra map[string]string) map[string]string {
		h := map[string]string{}
		for k, v := range vmHeaders {
			h[k] = v
		}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	noSecurityContext := strings.Replace(vmList("4", ""), `,"securityCtx":{"schemeId":"com.vmware.vapi.std.security.session_id","sessionId":""}`, "", 1)
	type forwardCase struct {
		name string
		call func(g *rig, live string) call
		// forwarded is the body the upstream must get; "" when the call
		// must never reach it, and then refused is the vAPI error.
		forwarded string
		refused   wantVAPIError
		dynamo    []string // on DynamoDB itself
	}
	cases := []forwardCase{
		{"ASessionIDContextIsForwardedWithoutIt", func(_ *rig, live string) call {
			return call{"/api", vmHeaders, vmList("4", live)}
		}, vmListForwarded("4"), wantVAPIError{}, []string{"UpdateItem"}},
		{"TheQueryIsKept", func(_ *rig, live string) call {
			return call{"/api?trace=1&x=%2F", vmHeaders, vmList("4", live)}
		}, vmListForwarded("4"), wantVAPIError{}, []string{"UpdateItem"}},
		{"TheSessionHeaderAuthorizesACallWithoutAContextAndIsNotForwarded", func(_ *rig, live string) call {
			return call{"/api", withHeaders(map[string]string{"vmware-api-session-id": live}), noSecurityContext}
		}, noSecurityContext, wantVAPIError{}, []string{"UpdateItem"}},
		{"AClientsCookieNeverReachesTheUpstream", func(_ *rig, live string) call {
			return call{"/api", withHeaders(map[string]string{"Cookie": "vmware-api-session-id=" + live + "; other=1"}), vmList("4", live)}
		}, vmListForwarded("4"), wantVAPIError{}, []string{"UpdateItem"}},
	}
	// A header the service sets upstream, in any spelling a CGI, PHP or
	// WSGI upstream reads as it, is refused at no cost.
	for _, name := range []string{"vmware-cis-user", "vmware_cis_user", "VMWARE_CIS_USER", "Vmware-Cis-User",
		"vmware-cis-assertion", "Vmware_Cis_Assertion", "vmware_cis_session_created"} {
		cases = append(cases, forwardCase{"AClientsOwn_" + name + "_IsRefused", func(_ *rig, live string) call {
			return call{"/api", withHeaders(map[string]string{name: "root@evil.example"}), vmList("4", live)}
		}, "", rpcInvalidRequest, nil})
	}
	cases = append(cases, []forwardCase{
		{"AnUnknownSessionIsUnauthenticated", func(*rig, string) call {
			return call{"/api", vmHeaders, vmList("4", unknownID)}
		}, "", rpcUnauthenticated, []string{"UpdateItem"}},
		{"AMalformedSessionIDIsUnauthenticatedAtNoCost", func(*rig, string) call {
			return call{"/api", vmHeaders, vmList("4", "not-a-session-id")}
		}, "", rpcUnauthenticated, nil},
		{"NoSessionAtAllIsUnauthenticatedAtNoCost", func(*rig, string) call {
			return call{"/api", vmHeaders, noSecurityContext}
		}, "", rpcUnauthenticated, nil},
		{"AContextTakesPrecedenceOverTheHeader", func(_ *rig, live string) call {
			return call{"/api", withHeaders(map[string]string{"vmware-api-session-id": live}), vmList("4", unknownID)}
		}, "", rpcUnauthenticated, []string{"UpdateItem"}},
		{"UserAndPasswordAreNoSessionAndAreNeverForwarded", func(*rig, string) call {
			b := strings.Replace(createBody("4", user, password), `"com.vmware.cis.session","operationId":"create"`, `"com.vmware.vcenter.VM","operationId":"list"`, 1)
			return call{"/api", vmHeaders, b}
		}, "", rpcUnauthenticated, nil},
		{"ASAMLTokenIsUnauthenticated", func(*rig, string) call {
			b := strings.Replace(vmList("4", "x"), `"schemeId":"com.vmware.vapi.std.security.session_id","sessionId":"x"`,
				`"schemeId":"com.vmware.vapi.std.security.saml_bearer_token","token":"PHNhbWw+PC9zYW1sPg=="`, 1)
			return call{"/api", vmHeaders, b}
		}, "", rpcUnauthenticated, nil},
		{"AnExpiredSessionIsUnauthenticated", func(g *rig, live string) call {
			g.clock.Advance(31 * time.Minute)
			return call{"/api", vmHeaders, vmList("4", live)}
		}, "", rpcUnauthenticated, []string{"UpdateItem"}},
		{"ALoggedOutSessionIsUnauthenticated", func(g *rig, live string) call {
			sdkAnswer(t, g.rpc("delete", sessionBody("2", "delete", live)), `"2"`).output(t)
			g.calls.Reset()
			return call{"/api", vmHeaders, vmList("4", live)}
		}, "", rpcUnauthenticated, []string{"UpdateItem"}},
	}...)
	up := newUpstream(t)
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		g := newForwardingRig(t, srv, up.base(t))
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				live := g.login()
				g.calls.Reset()
				up.Taken()
				cl := c.call(g, live)
				w := g.do(http.MethodPost, cl.target, cl.headers, cl.body)
				calls := g.calls.Reset()
				got := up.Taken()

				want := c.dynamo
				if srv.Kind == localdynamo.Dynalite && len(want) == 1 && c.forwarded == "" {
					want = []string{"UpdateItem", "UpdateItem"} // see internal/lambda/roundtrips_test.go
				}
				if !slices.Equal(calls, want) {
					t.Errorf("DynamoDB calls %v, want %v", calls, want)
				}
				if c.forwarded == "" {
					if len(got) != 0 {
						t.Errorf("a refused call reached the upstream: %+v", got)
					}
					var id struct{ ID json.RawMessage }
					_ = json.Unmarshal([]byte(cl.body), &id)
					c.refused.check(t, sdkAnswer(t, w, string(id.ID)).vapiError(t))
					return
				}
				if len(got) != 1 {
					t.Fatalf("the upstream got %d calls, want 1; answer %d %s", len(got), w.Code, w.Body)
				}
				r := got[0]
				wantQuery := strings.TrimPrefix(strings.TrimPrefix(cl.target, "/api"), "?")
				if r.Method != http.MethodPost || r.Path != "/vc/api" || r.Query != wantQuery {
					t.Errorf("forwarded as %s %s?%s, want POST /vc/api?%s", r.Method, r.Path, r.Query, wantQuery)
				}
				if r.Body != c.forwarded {
					t.Errorf("forwarded body\n%s\nwant\n%s", r.Body, c.forwarded)
				}
				for name, want := range map[string][]string{
					"vmware-cis-user":            {"administrator@vsphere.local"},
					"vmware-cis-session-created": {"2026-11-30T05:00:00.000Z"},
					"vapi-service":               {"com.vmware.vcenter.VM"},
					"vapi-operation":             {"list"},
					"Content-Type":               {"application/json"},
					"vmware-api-session-id":      nil,
					"Cookie":                     nil,
				} {
					if got := r.Header.Values(name); !slices.Equal(got, want) {
						t.Errorf("the upstream got %s %q, want %q", name, got, want)
					}
				}
				if w.Code != 200 || w.Body.String() != upstreamAnswer || w.Header().Get("X-Upstream") != "vc-1" {
					t.Errorf("answer %d %v %s, want the upstream's, as it sent it", w.Code, w.Header(), w.Body)
				}
			})
		}
	})
}

// TestJSONRPCForwardKeepsAllButTheSecurityContext: whatever the layout of
// the body, the upstream gets the client's bytes less every member of
// params.ctx that readInvoke could read the security context from.
func TestJSONRPCForwardKeepsAllButTheSecurityContext(t *testing.T) {
	const sec = `{"schemeId":"com.vmware.vapi.std.security.session_id","sessionId":"%s"}`
	cases := []struct {
		name, body, forwarded string
	}{
		{"LastInCtx",
			`{"jsonrpc":"2.0","method":"invoke","id":1,"params":{"serviceId":"a.B","operationId":"c","input":{},"ctx":{"appCtx":{},"securityCtx":` + sec + `}}}`,
			`{"jsonrpc":"2.0","method":"invoke","id":1,"params":{"serviceId":"a.B","operationId":"c","input":{},"ctx":{"appCtx":{}}}}`},
		{"FirstInCtx",
			`{"jsonrpc":"2.0","method":"invoke","id":1,"params":{"ctx":{"securityCtx":` + sec + `,"appCtx":{"opId":"x"}},"serviceId":"a.B","operationId":"c","input":{}}}`,
			`{"jsonrpc":"2.0","method":"invoke","id":1,"params":{"ctx":{"appCtx":{"opId":"x"}},"serviceId":"a.B","operationId":"c","input":{}}}`},
		{"AloneInCtx",
			`{"jsonrpc":"2.0","method":"invoke","id":1,"params":{"serviceId":"a.B","operationId":"c","input":{},"ctx":{"securityCtx":` + sec + `}}}`,
			`{"jsonrpc":"2.0","method":"invoke","id":1,"params":{"serviceId":"a.B","operationId":"c","input":{},"ctx":{}}}`},
		{"PrettyPrintedKeepsItsLayout",
			"{\n  \"jsonrpc\": \"2.0\",\n  \"method\": \"invoke\",\n  \"id\": \"p\",\n  \"params\": {\n    \"serviceId\": \"a.B\",\n    \"operationId\": \"c\",\n    \"input\": {},\n    \"ctx\": {\n      \"appCtx\": {},\n      \"securityCtx\": " + sec + "\n    }\n  }\n}\n",
			"{\n  \"jsonrpc\": \"2.0\",\n  \"method\": \"invoke\",\n  \"id\": \"p\",\n  \"params\": {\n    \"serviceId\": \"a.B\",\n    \"operationId\": \"c\",\n    \"input\": {},\n    \"ctx\": {\n      \"appCtx\": {}\n    }\n  }\n}\n"},
		{"EveryDuplicateAndSpellingGoes",
			`{"jsonrpc":"2.0","method":"invoke","id":1,"params":{"serviceId":"a.B","operationId":"c","input":{},"ctx":{"SecurityCtx":{"x":1},"appCtx":{},"securit\u0079ctx":{"y":2},"securityCtx":` + sec + `}}}`,
			`{"jsonrpc":"2.0","method":"invoke","id":1,"params":{"serviceId":"a.B","operationId":"c","input":{},"ctx":{"appCtx":{}}}}`},
		{"ASecurityCtxElsewhereIsTheOperationsAndStays",
			`{"jsonrpc":"2.0","method":"invoke","id":1,"params":{"serviceId":"a.B","operationId":"c","input":{"STRUCTURE":{"securityCtx":"\u00e9\/x"}},"ctx":{"appCtx":{"securityCtx":1},"securityCtx":` + sec + `}}}`,
			`{"jsonrpc":"2.0","method":"invoke","id":1,"params":{"serviceId":"a.B","operationId":"c","input":{"STRUCTURE":{"securityCtx":"\u00e9\/x"}},"ctx":{"appCtx":{"securityCtx":1}}}}`},
	}
	up := newUpstream(t)
	g := newForwardingRig(t, dynamotest.Engines(t)[0], up.base(t))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			live := g.login()
			body := strings.ReplaceAll(c.body, "%s", live)
			w := g.do(http.MethodPost, "/api", map[string]string{"Content-Type": "application/json"}, body)
			got := up.Taken()
			if len(got) != 1 {
				t.Fatalf("the upstream got %d calls; answer %s", len(got), w.Body)
			}
			if got[0].Body != c.forwarded {
				t.Errorf("forwarded\n%q\nwant\n%q", got[0].Body, c.forwarded)
			}
			if strings.Contains(got[0].Body, live) {
				t.Errorf("the session id reached the upstream")
			}
		})
	}
}

// TestJSONRPCWithoutAnUpstreamIsOperationNotFoundOnceAuthenticated: as the
// gateway answers an unserved path, after the one touch of the session.
func TestJSONRPCWithoutAnUpstreamIsOperationNotFoundOnceAuthenticated(t *testing.T) {
	g := newForwardingRig(t, dynamotest.Engines(t)[0], nil)
	live := g.login()
	g.calls.Reset()
	rpcOperationNotFound.check(t, sdkAnswer(t, g.do(http.MethodPost, "/api", vmHeaders, vmList("4", live)), `"4"`).vapiError(t))
	if calls := g.calls.Reset(); !slices.Equal(calls, []string{"UpdateItem"}) {
		t.Errorf("DynamoDB calls %v, want the one touch", calls)
	}
	rpcUnauthenticated.check(t, sdkAnswer(t, g.do(http.MethodPost, "/api", vmHeaders, vmList("5", "not-a-session-id")), `"5"`).vapiError(t))
}

// TestJSONRPCUpstreamThatDoesNotAnswerIsServiceUnavailable: an upstream that
// is down, or that does not answer within the call's deadline, is the vAPI
// service_unavailable error in result.error (HTTP 200, never stored),
// disclosing nothing of the upstream; the operator's log says why.
func TestJSONRPCUpstreamThatDoesNotAnswerIsServiceUnavailable(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL, _ := url.Parse(dead.URL)
	dead.Close()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release)
	slowURL, _ := url.Parse(slow.URL)
	for _, c := range []struct {
		name     string
		upstream *url.URL
		deadline time.Duration // of the request's context, as a Lambda invocation's; 0 none
	}{
		{"Down", deadURL, 0},
		{"SlowerThanTheDeadline", slowURL, 200 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newForwardingRig(t, dynamotest.Engines(t)[0], c.upstream)
			live := g.login()
			r := httptest.NewRequest(http.MethodPost, "/api", strings.NewReader(vmList("4", live)))
			for k, v := range vmHeaders {
				r.Header.Set(k, v)
			}
			if c.deadline > 0 {
				ctx, cancel := context.WithTimeout(r.Context(), c.deadline)
				defer cancel()
				r = r.WithContext(ctx)
			}
			w := httptest.NewRecorder()
			g.h.ServeHTTP(w, r)
			rpcUnavailable.check(t, sdkAnswer(t, w, `"4"`).vapiError(t))
			if host := c.upstream.Host; strings.Contains(w.Body.String(), host) || strings.Contains(w.Body.String(), "refused") || strings.Contains(w.Body.String(), "deadline") {
				t.Errorf("the answer discloses the upstream: %s", w.Body)
			}
			g.mu.Lock()
			logs := g.logs.String()
			g.mu.Unlock()
			if !strings.Contains(logs, `"msg":"upstream failed"`) || !strings.Contains(logs, `"level":"ERROR"`) {
				t.Errorf("the upstream's failure is not logged as an error:\n%s", logs)
			}
		})
	}
}

// TestJSONRPCNotUTF8IsAParseErrorAndNeverForwarded: a body whose bytes are
// not UTF-8 is no JSON text, however json.Valid judges it: a member named
// "securityCtx\xff" would escape the cut yet decode upstream, leniently,
// as the security context. It is a -32700 and reaches nobody.
func TestJSONRPCNotUTF8IsAParseErrorAndNeverForwarded(t *testing.T) {
	up := newUpstream(t)
	g := newForwardingRig(t, dynamotest.Engines(t)[0], up.base(t))
	live := g.login()
	for name, body := range map[string]string{
		"ANameWithAnInvalidByte":  strings.Replace(vmList("4", live), `"securityCtx"`, `"securityCtx`+"\xff"+`"`, 1),
		"AValueWithAnInvalidByte": strings.Replace(vmList("4", live), `"appCtx":{`, `"appCtx":{"x":"`+"\xfe"+`"`, 1),
		"ASurrogateEncodedInUTF8": strings.Replace(vmList("4", live), `"appCtx":{`, `"appCtx":{"x":"`+"\xed\xa0\x80"+`"`, 1),
	} {
		t.Run(name, func(t *testing.T) {
			g.calls.Reset()
			up.Taken()
			w := g.do(http.MethodPost, "/api", vmHeaders, body)
			a := sdkAnswer(t, w, "null")
			if a.rpcErr == nil || a.rpcErr.Code != httpapi.RPCParseError {
				t.Errorf("answer %s, want a -32700 parse error", w.Body)
			}
			if got := up.Taken(); len(got) != 0 {
				t.Errorf("the upstream got %d calls, want none", len(got))
			}
			if calls := g.calls.Reset(); len(calls) != 0 {
				t.Errorf("DynamoDB calls %v, want none", calls)
			}
		})
	}
}
