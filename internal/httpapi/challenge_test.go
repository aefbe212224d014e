package httpapi_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cis-session/cis-session/internal/httpapi"
)

// fakeFederationOff takes tokens but has no identity provider: every one
// is refused, and nothing offers Bearer.
type fakeFederationOff struct{ fakeFederated }

func (*fakeFederationOff) Federated() bool { return false }

// TestOnlyALogInOffersBearer: with federation on, the 401 of a log-in
// (create on /api and /rest, JSON-RPC create, whatever its credentials)
// offers Basic and Bearer; every other 401 — a get (the /rest POST's
// ~action=get included), a delete, JSON-RPC get and delete, a JSON-RPC
// call for another service — offers Basic alone, as it does with
// federation off, in the header and the body alike. The rule is the
// operation's, not the process's: this handler serves every route, as
// `make run` does, and answers as the deployed functions do, whose get
// and delete know no identity provider.
func TestOnlyALogInOffersBearer(t *testing.T) {
	rpc := func(op, sec string) string {
		return `{"jsonrpc":"2.0","method":"invoke","id":"1","params":{"serviceId":"` + op[:strings.LastIndex(op, ".")] +
			`","operationId":"` + op[strings.LastIndex(op, ".")+1:] + `","input":{"STRUCTURE":{"operation-input":{}}},"ctx":{"securityCtx":` + sec + `}}}`
	}
	userPass := `{"schemeId":"com.vmware.vapi.std.security.user_pass","userName":"` + goodLogin + `","password":"wrong"}`
	oauth := `{"schemeId":"com.vmware.vapi.std.security.oauth","accessToken":"eyJhbGciOiJFUzI1NiJ9.e30.bm9wZQ"}`
	unknown := `{"schemeId":"com.vmware.vapi.std.security.session_id","sessionId":"` + unknownID + `"}`
	cases := []struct {
		name, method, target string
		header               http.Header
		body                 string
		logIn                bool
	}{
		{"APICreateWithoutCredentials", "POST", httpapi.SessionPath, nil, "", true},
		{"APICreateWithAWrongPassword", "POST", httpapi.SessionPath, hdr("Authorization", basic(goodLogin, "wrong")), "", true},
		{"APICreateWithARefusedToken", "POST", httpapi.SessionPath, hdr("Authorization", "Bearer nope"), "", true},
		{"RestCreateWithoutCredentials", "POST", httpapi.LegacySessionPath, nil, "", true},
		{"RestCreateWithARefusedToken", "POST", httpapi.LegacySessionPath, hdr("Authorization", "bearer nope"), "", true},
		{"JSONRPCCreateWithAWrongPassword", "POST", "/api", nil, rpc(httpapi.ServiceSession+".create", userPass), true},
		{"JSONRPCCreateWithARefusedToken", "POST", "/api", nil, rpc(httpapi.ServiceSession+".create", oauth), true},
		{"JSONRPCCreateWithASessionContext", "POST", "/api", nil, rpc(httpapi.ServiceSession+".create", unknown), true},
		{"APIGet", "GET", httpapi.SessionPath, hdr(httpapi.HeaderSessionID, unknownID), "", false},
		{"APIGetWithAToken", "GET", httpapi.SessionPath, hdr("Authorization", "Bearer nope"), "", false},
		{"APIDelete", "DELETE", httpapi.SessionPath, hdr(httpapi.HeaderSessionID, unknownID), "", false},
		{"RestActionGet", "POST", httpapi.LegacySessionPath + "?~action=get", hdr(httpapi.HeaderSessionID, unknownID), "", false},
		{"RestActionGetWithAToken", "POST", httpapi.LegacySessionPath + "?~action=get", hdr("Authorization", "Bearer nope"), "", false},
		{"RestGet", "GET", httpapi.LegacySessionPath, hdr(httpapi.HeaderSessionID, unknownID), "", false},
		{"RestDelete", "DELETE", httpapi.LegacySessionPath, hdr(httpapi.HeaderSessionID, unknownID), "", false},
		{"JSONRPCGet", "POST", "/api", nil, rpc(httpapi.ServiceSession+".get", unknown), false},
		{"JSONRPCDelete", "POST", "/api", nil, rpc(httpapi.ServiceSession+".delete", unknown), false},
		{"JSONRPCGetWithAToken", "POST", "/api", nil, rpc(httpapi.ServiceSession+".get", oauth), false},
		{"JSONRPCAnotherService", "POST", "/api", nil, rpc("com.vmware.vcenter.VM.list", unknown), false},
	}
	for _, fed := range []struct {
		name  string
		svc   httpapi.Service
		logIn string // a log-in's challenge
	}{
		{"FederationOn", &fakeFederated{}, httpapi.ChallengeFederated},
		{"FederationOff", &fakeFederationOff{}, httpapi.Challenge},
		{"NoBearerService", &fakeService{}, httpapi.Challenge},
	} {
		t.Run(fed.name, func(t *testing.T) {
			h := httpapi.New(fed.svc, slog.New(slog.NewTextHandler(io.Discard, nil)))
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					want := httpapi.Challenge
					if c.logIn {
						want = fed.logIn
					}
					req := httptest.NewRequest(c.method, c.target, strings.NewReader(c.body))
					for k, vs := range c.header {
						req.Header[k] = vs
					}
					if c.body != "" {
						req.Header.Set("Content-Type", "application/json")
					}
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					header, body := rec.Header().Values("WWW-Authenticate"), challengeOf(t, rec.Body.Bytes())
					switch {
					case c.body != "": // JSON-RPC: 200, the challenge in the error alone
						if rec.Code != 200 || len(header) != 0 || body != want {
							t.Errorf("%d, WWW-Authenticate %q, challenge %q; want 200, none, %q: %s", rec.Code, header, body, want, rec.Body)
						}
					case rec.Code != 401 || len(header) != 1 || header[0] != want || body != want:
						t.Errorf("%d, WWW-Authenticate %q, challenge %q; want 401 and %q in both: %s", rec.Code, header, body, want, rec.Body)
					}
				})
			}
		})
	}
}

func hdr(name, value string) http.Header { return http.Header{http.CanonicalHeaderKey(name): {value}} }

// challengeOf is the challenge of an unauthenticated error on any surface:
// /api's challenge, /rest's value.challenge, JSON-RPC's
// result.error.ERROR.<name>.challenge.OPTIONAL; "" for none.
func challengeOf(t *testing.T, body []byte) string {
	t.Helper()
	var b struct {
		Challenge string
		Value     struct{ Challenge string }
		Result    struct {
			Error struct {
				ERROR map[string]struct {
					Challenge struct{ OPTIONAL string }
				}
			}
		}
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	c := b.Challenge + b.Value.Challenge
	for _, e := range b.Result.Error.ERROR {
		c += e.Challenge.OPTIONAL
	}
	return c
}
