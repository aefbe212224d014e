package gateway_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/gateway"
	"github.com/cis-session/cis-session/dev/local"
	"github.com/cis-session/cis-session/dev/logscan"
	"github.com/cis-session/cis-session/dev/upstreamtest"
	"github.com/cis-session/cis-session/internal/httpapi"
)

// Every log line of these tests is scanned, when they end, for the
// passwords and session ids their traffic carried.
func TestMain(m *testing.M) { os.Exit(logscan.Main(m, dynamotest.Main)) }

const (
	user     = "administrator@vsphere.local"
	password = "Gateway-Pass-1"
)

// rig is the gateway as `make run` assembles it, over a real engine, in
// front of up (nil: no upstream).
type rig struct {
	t    *testing.T
	h    http.Handler
	logs *bytes.Buffer
}

func newRig(t *testing.T, up *url.URL) *rig {
	t.Helper()
	f := dynamotest.Setup(t, dynamotest.Engines(t)[0])
	f.AddUser(t, user, password)
	logscan.Secret(password)
	g := &rig{t: t, logs: &bytes.Buffer{}}
	log := slog.New(slog.NewJSONHandler(io.MultiWriter(logscan.Writer(), g.logs), nil))
	svc := local.Service(f.Config(t, nil), f.DB)
	var fwd *httpapi.Upstream
	if up != nil {
		fwd = httpapi.NewUpstream(up)
	}
	sessions := httpapi.New(svc, log).WithUpstream(fwd)
	g.h = logscan.Recording(gateway.New(sessions, httpapi.NewFrontDoor(svc, log), fwd, log))
	return g
}

// do sends one request; header values are each their own header.
func (g *rig) do(method, target string, header http.Header, body string) *httptest.ResponseRecorder {
	g.t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, vs := range header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	w := httptest.NewRecorder()
	g.h.ServeHTTP(w, r)
	return w
}

// login creates a session on /api/session and returns its id.
func (g *rig) login() string {
	g.t.Helper()
	r := httptest.NewRequest(http.MethodPost, httpapi.SessionPath, nil)
	r.SetBasicAuth(user, password)
	w := httptest.NewRecorder()
	g.h.ServeHTTP(w, r)
	var id string
	if w.Code != 201 || json.Unmarshal(w.Body.Bytes(), &id) != nil {
		g.t.Fatalf("log in: %d %s", w.Code, w.Body)
	}
	return id
}

func (g *rig) logout(id string) {
	g.t.Helper()
	if w := g.do(http.MethodDelete, httpapi.SessionPath, http.Header{httpapi.HeaderSessionID: {id}}, ""); w.Code != 204 {
		g.t.Fatalf("log out: %d %s", w.Code, w.Body)
	}
}

func sid(id string) http.Header { return http.Header{httpapi.HeaderSessionID: {id}} }

// vmList is a JSON-RPC call for another service than the session service.
func vmList(sessionID string) string {
	return `{"jsonrpc":"2.0","method":"invoke","id":"4","params":{"serviceId":"com.vmware.vcenter.VM","operationId":"list",` +
		`"input":{"STRUCTURE":{"operation-input":{}}},"ctx":{"appCtx":{"opId":"op-4"},` +
		`"securityCtx":{"schemeId":"com.vmware.vapi.std.security.session_id","sessionId":"` + sessionID + `"}}}}`
}

const vmListForwarded = `{"jsonrpc":"2.0","method":"invoke","id":"4","params":{"serviceId":"com.vmware.vcenter.VM","operationId":"list",` +
	`"input":{"STRUCTURE":{"operation-input":{}}},"ctx":{"appCtx":{"opId":"op-4"}}}}`

// TestTheGatewayForwardsWhatTheFrontDoorAllows: an allowed call reaches the
// upstream as template.yaml's HTTP integration sends it (method, path under
// the upstream's base, query and body kept; the session header, every
// cookie and the client's Authorization removed; the user and the session's creation time added, a
// client's own values for them overwritten), and the client gets the
// upstream's answer as it is. The session routes never reach it.
func TestTheGatewayForwardsWhatTheFrontDoorAllows(t *testing.T) {
	up := &upstreamtest.Upstream{}
	srv := httptest.NewServer(up)
	defer srv.Close()
	base, _ := url.Parse(srv.URL + "/vc")
	g := newRig(t, base)
	live := g.login()

	cases := []struct {
		name                         string
		method, target               string
		header                       http.Header
		body                         string
		wantMethod, wantPath, wantQS string
		wantBody                     string
	}{
		{"AnAPIGet", "GET", "/api/vcenter/vm?names=a&x=%2F", sid(live), "",
			"GET", "/vc/api/vcenter/vm", "names=a&x=%2F", ""},
		{"AnAPIPatchKeepsItsBody", "PATCH", "/api/vcenter/vm/vm-42", sid(live), `{"name":"web"}`,
			"PATCH", "/vc/api/vcenter/vm/vm-42", "", `{"name":"web"}`},
		{"ARestCallByCookieLosesEveryCookie", "POST", "/rest/vcenter/vm?~action=clone",
			http.Header{"Cookie": {"theme=dark; vmware-api-session-id=" + live}}, `{"spec":{}}`,
			"POST", "/vc/rest/vcenter/vm", "~action=clone", `{"spec":{}}`},
		{"AJSONRPCCallForAnotherServiceLosesItsSecurityContext", "POST", "/api", http.Header{"Content-Type": {"application/json"}}, vmList(live),
			"POST", "/vc/api", "", vmListForwarded},
	}
	// A client's own user header, in any spelling, is refused, never
	// overwritten: an upstream might read another spelling than ours.
	for _, name := range []string{httpapi.HeaderUser, "vmware_cis_user", httpapi.HeaderSessionCreated, httpapi.HeaderAssertion} {
		w := g.do("DELETE", "/api/vcenter/vm/vm-42", http.Header{httpapi.HeaderSessionID: {live}, name: {"root@evil.example"}}, "")
		if w.Code != 401 || len(up.Taken()) != 0 {
			t.Errorf("%s: answer %d %s, want the vAPI 401 (as the deployed gateway) and nothing forwarded", name, w.Code, w.Body)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := c.header.Clone()
			h.Set("Authorization", "Basic cm9vdDpzZWNyZXQ=") // the client's, not the upstream's
			w := g.do(c.method, c.target, h, c.body)
			if w.Code != 200 || w.Body.String() != `{"value":"from upstream"}` || w.Header().Get("X-Upstream") != "vc-1" {
				t.Fatalf("answer %d %v %s, want the upstream's", w.Code, w.Header(), w.Body)
			}
			got := up.Taken()
			if len(got) != 1 {
				t.Fatalf("the upstream got %d calls, want 1", len(got))
			}
			r := got[0]
			if r.Method != c.wantMethod || r.Path != c.wantPath || r.Query != c.wantQS || r.Body != c.wantBody {
				t.Errorf("forwarded %s %s?%s %q, want %s %s?%s %q", r.Method, r.Path, r.Query, r.Body, c.wantMethod, c.wantPath, c.wantQS, c.wantBody)
			}
			for name, want := range map[string][]string{
				httpapi.HeaderUser:      {user},
				httpapi.HeaderSessionID: nil,
				"Cookie":                nil,
				"Authorization":         nil,
			} {
				if got := r.Header.Values(name); !slices.Equal(got, want) {
					t.Errorf("the upstream got %s %q, want %q", name, got, want)
				}
			}
			if got := r.Header.Values(httpapi.HeaderSessionCreated); len(got) != 1 || got[0] == "1999-01-01T00:00:00.000Z" {
				t.Errorf("the upstream got %s %q, want the session's own", httpapi.HeaderSessionCreated, got)
			}
			if strings.Contains(r.Body, live) {
				t.Error("the session id reached the upstream in the body")
			}
		})
	}
	t.Run("TheSessionRoutesAreTheSessionServices", func(t *testing.T) {
		for _, target := range []string{httpapi.SessionPath, httpapi.LegacySessionPath} {
			if w := g.do("GET", target, sid(live), ""); w.Code != 200 || !strings.Contains(w.Body.String(), user) {
				t.Errorf("GET %s: %d %s, want the session's info", target, w.Code, w.Body)
			}
		}
		if w := g.do("GET", "/api/../api/vcenter/vm", sid(live), ""); w.Code != 404 || !strings.Contains(w.Body.String(), `"NOT_FOUND"`) {
			t.Errorf("an unclean path: %d %s, want the vAPI 404", w.Code, w.Body)
		}
		if got := up.Taken(); len(got) != 0 {
			t.Errorf("the upstream got %+v", got)
		}
	})
}

// TestTheGatewayRefusesWhatTheFrontDoorRefuses: no session, an unknown, a
// malformed or a logged-out one: the vAPI 401 of the path's surface, with
// the challenge, never stored, and the upstream never reached.
func TestTheGatewayRefusesWhatTheFrontDoorRefuses(t *testing.T) {
	up := &upstreamtest.Upstream{}
	srv := httptest.NewServer(up)
	defer srv.Close()
	base, _ := url.Parse(srv.URL)
	g := newRig(t, base)
	out := g.login()
	g.logout(out)
	apiShape := `"error_type":"UNAUTHENTICATED"`
	restShape := `"type":"com.vmware.vapi.std.errors.unauthenticated"`
	for _, c := range []struct {
		name, method, target string
		header               http.Header
		body, want           string
		status               int
	}{
		{"NoSession", "GET", "/api/vcenter/vm", nil, "", apiShape, 401},
		{"AnUnknownSession", "GET", "/rest/vcenter/vm", sid(strings.Repeat("ab", 16)), "", restShape, 401},
		{"AMalformedSession", "GET", "/api/vcenter/vm", sid("../../etc"), "", apiShape, 401},
		{"ALoggedOutSession", "POST", "/api/vcenter/vm", sid(out), `{}`, apiShape, 401},
		{"ALoggedOutSessionsCookie", "GET", "/rest/vcenter/vm", http.Header{"Cookie": {"vmware-api-session-id=" + out}}, "", restShape, 401},
		{"AJSONRPCCallWithALoggedOutSession", "POST", "/api", nil, vmList(out), `"com.vmware.vapi.std.errors.unauthenticated"`, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := g.do(c.method, c.target, c.header, c.body)
			if w.Code != c.status || !strings.Contains(w.Body.String(), c.want) || w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("%d %v %s, want %d with %s, not stored", w.Code, w.Header(), w.Body, c.status, c.want)
			}
			if c.status == 401 && w.Header().Get("WWW-Authenticate") != httpapi.Challenge {
				t.Errorf("WWW-Authenticate %q, want the challenge", w.Header().Get("WWW-Authenticate"))
			}
			if got := up.Taken(); len(got) != 0 {
				t.Errorf("a refused call reached the upstream: %+v", got)
			}
		})
	}
}

// TestTheGatewayAnswersForAnUpstreamThatDoesNot: with an upstream that is
// down, API Gateway's 502 with a vAPI body that reads as the error of the
// path's surface, or JSON-RPC's service_unavailable; without one, vAPI's
// operation_not_found. Never stored; nothing of the upstream disclosed.
func TestTheGatewayAnswersForAnUpstreamThatDoesNot(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL, _ := url.Parse(dead.URL)
	dead.Close()
	for _, c := range []struct {
		name     string
		upstream *url.URL
		method   string
		target   string
		body     string
		status   int
		check    func(t *testing.T, body []byte)
	}{
		{"DownOnAPI", deadURL, "GET", "/api/vcenter/vm", "", 502, vapiError("SERVICE_UNAVAILABLE")},
		{"DownOnRest", deadURL, "GET", "/rest/vcenter/vm", "", 502, restError("com.vmware.vapi.std.errors.service_unavailable")},
		{"DownForJSONRPC", deadURL, "POST", "/api", "JSONRPC", 200, rpcError("com.vmware.vapi.std.errors.service_unavailable")},
		{"NoneOnAPI", nil, "GET", "/api/vcenter/vm", "", 404, vapiError("OPERATION_NOT_FOUND")},
		{"NoneOnRest", nil, "GET", "/rest/vcenter/vm", "", 404, restError("com.vmware.vapi.std.errors.operation_not_found")},
		{"NoneForJSONRPC", nil, "POST", "/api", "JSONRPC", 200, rpcError("com.vmware.vapi.std.errors.operation_not_found")},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newRig(t, c.upstream)
			live := g.login()
			body := c.body
			if body == "JSONRPC" {
				body = vmList(live)
			}
			w := g.do(c.method, c.target, sid(live), body)
			if w.Code != c.status || w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("%d %v, want %d, JSON, not stored", w.Code, w.Header(), c.status)
			}
			c.check(t, w.Body.Bytes())
			if strings.Contains(w.Body.String(), deadURL.Host) || strings.Contains(w.Body.String(), "refused") {
				t.Errorf("the answer discloses the upstream: %s", w.Body)
			}
			if c.upstream != nil && !strings.Contains(g.logs.String(), `"msg":"upstream failed"`) {
				t.Errorf("the failure is not in the operator's log:\n%s", g.logs)
			}
		})
	}
}

// vapiError checks an /api error body: error_type and one message.
func vapiError(errorType string) func(*testing.T, []byte) {
	return func(t *testing.T, body []byte) {
		var e struct {
			ErrorType string            `json:"error_type"`
			Messages  []json.RawMessage `json:"messages"`
		}
		if err := json.Unmarshal(body, &e); err != nil || e.ErrorType != errorType || len(e.Messages) != 1 {
			t.Errorf("%s is no /api %s error", body, errorType)
		}
	}
}

// restError checks a /rest error body: type and value.messages.
func restError(typ string) func(*testing.T, []byte) {
	return func(t *testing.T, body []byte) {
		var e struct {
			Type  string `json:"type"`
			Value struct {
				Messages []json.RawMessage `json:"messages"`
			} `json:"value"`
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Type != typ || len(e.Value.Messages) != 1 {
			t.Errorf("%s is no /rest %s error", body, typ)
		}
	}
}

// rpcError checks a JSON-RPC answer carrying the vAPI error name in
// result.error, with the request's id.
func rpcError(name string) func(*testing.T, []byte) {
	return func(t *testing.T, body []byte) {
		var a struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Result  struct {
				Error struct {
					Error map[string]json.RawMessage `json:"ERROR"`
				} `json:"error"`
			} `json:"result"`
		}
		if err := json.Unmarshal(body, &a); err != nil || a.JSONRPC != "2.0" || string(a.ID) != `"4"` || a.Result.Error.Error[name] == nil {
			t.Errorf("%s is no JSON-RPC answer with %s", body, name)
		}
	}
}
