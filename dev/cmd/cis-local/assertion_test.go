package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/cis-session/cis-session/dev/localrun"
	"github.com/cis-session/cis-session/dev/logscan"
	"github.com/cis-session/cis-session/dev/upstreamtest"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/session"
)

// reservedSpellings are header names a client might send to pass as the
// service: every one reads, to a CGI, PHP or WSGI upstream, as a name the
// service sets.
var reservedSpellings = []string{"vmware_cis_user", "VMWARE_CIS_USER", "Vmware-Cis-User", "vmware-cis-assertion", "Vmware_Cis_Assertion", "vmware_cis_session_created"}

// TestMakeRunNeverForwardsAClientsIdentityAndSignsEveryCall: through make
// run's binary, with an upstream that records header lines as they cross
// the wire, a call sending any spelling of a reserved header is refused
// (vAPI 401 on /api and /rest, as the deployed gateway answers; vAPI
// invalid_request on JSON-RPC) and never reaches it; a call
// that does reaches it with one vmware-cis-user, one
// vmware-cis-session-created and one vmware-cis-assertion, which verifies
// with go-jose and with PyJWT using only the JWKS URL and the audience,
// names the user, ends no later than the session, and carries nothing of
// the session id; a tampered one fails.
func TestMakeRunNeverForwardsAClientsIdentityAndSignsEveryCall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	up := upstreamtest.NewRaw(t)
	scan := logscan.New()
	const maxLifetime = 2 * time.Minute // shorter than an assertion's 5 minutes: it bounds exp
	keyFile := filepath.Join(t.TempDir(), "assertion-key.json")
	base := localrun.Start(t, scan.Writer(), "UPSTREAM_URL="+up.URL+"/base", "SESSION_MAX_LIFETIME="+maxLifetime.String(),
		"ASSERTION_KEY_FILE="+keyFile, "UPSTREAM_AUDIENCE=").URL
	audience := up.URL + "/base"

	req, _ := http.NewRequest("POST", base+"/api/session", nil)
	req.SetBasicAuth("administrator@vsphere.local", localrun.Password)
	status, _, body := call(t, req)
	if status != 201 {
		t.Fatalf("log in: %d %s", status, body)
	}
	loggedIn := time.Now()
	id := strings.Trim(body, "\"\n")
	scan.Secret(id)

	surfaces := protectedCalls(base, id, "")
	for _, s := range surfaces {
		for _, name := range reservedSpellings {
			t.Run(s.name+"/"+name+"IsRefused", func(t *testing.T) {
				r := s.request()
				r.Header[name] = []string{"root@evil.example"} // the name as written, not canonicalised
				status, _, body := call(t, r)
				if !strings.Contains(body, s.refused) || (s.name != "JSONRPC" && status != 401) {
					t.Errorf("%d %s, want %s", status, body, s.refused)
				}
				if calls := up.Taken(); len(calls) != 0 {
					t.Errorf("reached the upstream: %+v", calls)
				}
			})
		}
		t.Run(s.name+"/CarriesAVerifiableAssertion", func(t *testing.T) {
			if status, _, body := call(t, s.request()); status != 200 || body != `{"value":"from upstream"}` {
				t.Fatalf("%d %s, want the upstream's answer", status, body)
			}
			calls := up.Taken()
			if len(calls) != 1 {
				t.Fatalf("the upstream got %d calls, want 1", len(calls))
			}
			c := calls[0]
			for _, l := range c.Lines {
				name, _, _ := strings.Cut(l, ":")
				if httpapi.Reserved(name) && !slices.Contains([]string{"Vmware-Cis-User", "Vmware-Cis-Session-Created", "Vmware-Cis-Assertion"}, name) {
					t.Errorf("the upstream got %q", l)
				}
			}
			for _, name := range []string{"Vmware-Cis-User", "Vmware-Cis-Session-Created", "Vmware-Cis-Assertion"} {
				if n := len(c.Values(name)); n != 1 {
					t.Errorf("%d %s lines, want 1", n, name)
				}
			}
			if strings.Contains(strings.Join(c.Lines, "\n")+c.Body, id) {
				t.Error("the session id reached the upstream")
			}
			if u := c.Values("Vmware-Cis-User"); len(u) != 1 || u[0] != "administrator@vsphere.local" {
				t.Errorf("vmware-cis-user %v", u)
			}
			token := c.Values("Vmware-Cis-Assertion")[0]
			claims := verifyWithGoJOSE(t, base+httpapi.JWKSPath, audience, token)
			py := verifyWithPyJWT(t, base+httpapi.JWKSPath, audience, token)
			for _, got := range []map[string]any{claims, py} {
				if got["sub"] != "administrator@vsphere.local" || got["iss"] != base || got["aud"] != audience {
					t.Errorf("claims %v, want sub the user, iss %s, aud %s", got, base, audience)
				}
				exp := time.Unix(int64(got["exp"].(float64)), 0)
				if exp.After(loggedIn.Add(maxLifetime)) {
					t.Errorf("exp %v after the session's absolute expiry %v", exp, loggedIn.Add(maxLifetime))
				}
			}
			for _, part := range strings.Split(token, ".")[:2] {
				b, _ := base64.RawURLEncoding.DecodeString(part)
				if strings.Contains(string(b), id) || strings.Contains(string(b), sessionHashHex(id)[:12]) {
					t.Errorf("the assertion carries the session: %s", b)
				}
			}
			parts := strings.Split(token, ".")
			payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
			tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), "administrator", "root", 1))) + "." + parts[2]
			if out, err := pyVerify(base+httpapi.JWKSPath, audience, tampered); err == nil {
				t.Errorf("PyJWT verified a tampered assertion: %s", out)
			}
		})
	}
	t.Run("TheJWKSIsPublicCacheableAndHoldsNoPrivatePart", func(t *testing.T) {
		r, _ := http.NewRequest("GET", base+httpapi.JWKSPath, nil)
		status, h, body := call(t, r)
		if status != 200 || h.Get("Cache-Control") != httpapi.JWKSCacheControl || h.Get("Content-Type") != "application/json" {
			t.Errorf("%d %v", status, h)
		}
		if strings.Contains(body, `"d"`) || !strings.Contains(body, `"kid"`) {
			t.Errorf("JWKS %s", body)
		}
	})
	for _, leak := range scan.Leaks() {
		t.Errorf("cis-local logged a secret: %s", leak)
	}
}

func sessionHashHex(id string) string {
	tok, _ := session.ParseToken(id)
	return tok.Hash().String()
}

func verifyWithGoJOSE(t *testing.T, jwksURL, audience, token string) map[string]any {
	t.Helper()
	resp, err := http.Get(jwksURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var std jwt.Claims
	all := map[string]any{}
	if err := tok.Claims(set, &std, &all); err != nil {
		t.Fatalf("go-jose: %v", err)
	}
	if err := std.Validate(jwt.Expected{AnyAudience: jwt.Audience{audience}, Time: time.Now()}); err != nil {
		t.Fatalf("go-jose: %v", err)
	}
	return all
}

func pyVerify(jwksURL, audience, token string) ([]byte, error) {
	root, _ := filepath.Abs("../../..")
	return exec.Command("/usr/bin/python3", filepath.Join(root, "dev/upstreamtest/verify_assertion.py"), jwksURL, audience, token).Output()
}

func verifyWithPyJWT(t *testing.T, jwksURL, audience, token string) map[string]any {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import jwt").Run(); err != nil {
		// CI (and `make test REQUIRE_TEMPLATE_TOOLS=1`) installs it: there
		// a missing PyJWT is a failed set-up, not a reason to skip.
		if os.Getenv("CI") != "" || os.Getenv("REQUIRE_TEMPLATE_TOOLS") != "" {
			t.Fatal("/usr/bin/python3 has no PyJWT: make deps installs python3-jwt")
		}
		t.Skip("/usr/bin/python3 has no PyJWT: make deps installs python3-jwt")
	}
	out, err := pyVerify(jwksURL, audience, token)
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("PyJWT: %v %s", err, stderr)
	}
	claims := map[string]any{}
	if err := json.Unmarshal(out, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// protectedCall is one call through the front door on one surface, with
// the session's id where that surface carries it, and what the body of
// its refusal holds.
type protectedCall struct {
	name    string
	request func() *http.Request
	refused string
}

// protectedCalls are a protected call on each surface (/api's header,
// /rest's cookie after cookiePrefix, JSON-RPC's securityCtx) with session
// id.
func protectedCalls(base, id, cookiePrefix string) []protectedCall {
	rpc := `{"jsonrpc":"2.0","method":"invoke","id":"7","params":{"serviceId":"com.vmware.vcenter.VM","operationId":"list",` +
		`"input":{"STRUCTURE":{"operation-input":{}}},"ctx":{"appCtx":{},` +
		`"securityCtx":{"schemeId":"com.vmware.vapi.std.security.session_id","sessionId":"` + id + `"}}}}`
	return []protectedCall{
		{"API", func() *http.Request {
			r, _ := http.NewRequest("GET", base+"/api/vcenter/vm", nil)
			r.Header.Set("vmware-api-session-id", id)
			return r
		}, `"error_type":"UNAUTHENTICATED"`},
		{"Rest", func() *http.Request {
			r, _ := http.NewRequest("GET", base+"/rest/vcenter/vm", nil)
			r.Header.Set("Cookie", cookiePrefix+"vmware-api-session-id="+id)
			return r
		}, `"type":"com.vmware.vapi.std.errors.unauthenticated"`},
		{"JSONRPC", func() *http.Request {
			r, _ := http.NewRequest("POST", base+"/api", strings.NewReader(rpc))
			r.Header.Set("Content-Type", "application/json")
			return r
		}, `"com.vmware.vapi.std.errors.invalid_request"`},
	}
}
