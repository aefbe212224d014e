package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/localrun"
	"github.com/cis-session/cis-session/dev/logscan"
	"github.com/cis-session/cis-session/dev/proc"
	"github.com/cis-session/cis-session/dev/upstreamtest"
	"github.com/cis-session/cis-session/internal/argon2id"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/session"
)

// rpcCreate is the JSON-RPC create of VMware's SDKs with a security context.
func rpcCreate(securityCtx string) string {
	return `{"jsonrpc":"2.0","method":"invoke","id":"0","params":{"serviceId":"com.vmware.cis.session","operationId":"create",` +
		`"input":{"STRUCTURE":{"operation-input":{}}},"ctx":{"appCtx":{},"securityCtx":` + securityCtx + `}}}`
}

// logInOn logs in on one surface with an Authorization header (the /api
// and /rest POSTs) or a JSON-RPC security context, and returns the status,
// the body and the session id when one was issued.
func logInOn(t *testing.T, base, surface, authorization, securityCtx string) (int, string, string) {
	t.Helper()
	var r *http.Request
	switch surface {
	case "api":
		r, _ = http.NewRequest("POST", base+httpapi.SessionPath, nil)
	case "rest":
		r, _ = http.NewRequest("POST", base+httpapi.LegacySessionPath, nil)
	case "jsonrpc":
		r, _ = http.NewRequest("POST", base+httpapi.JSONRPCPath, strings.NewReader(rpcCreate(securityCtx)))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("vapi-service", httpapi.ServiceSession)
		r.Header.Set("vapi-operation", "create")
	}
	if authorization != "" && surface != "jsonrpc" {
		r.Header.Set("Authorization", authorization)
	}
	status, _, body := call(t, r)
	var id string
	switch {
	case surface == "api" && status == 201:
		_ = json.Unmarshal([]byte(body), &id)
	case surface == "rest" && status == 200:
		var v struct{ Value string }
		_ = json.Unmarshal([]byte(body), &v)
		id = v.Value
	case surface == "jsonrpc":
		var v struct {
			Result struct {
				Output struct{ SECRET string }
			}
		}
		_ = json.Unmarshal([]byte(body), &v)
		id = v.Result.Output.SECRET
	}
	if id != "" {
		logscan.Secret(id)
	}
	return status, body, id
}

// localToken asks make run's own issuer (LOCAL_OIDC=1) for a token naming user.
func localToken(t *testing.T, issuer, user string) string {
	t.Helper()
	resp, err := http.Get(issuer + "/token?alg=ES256&user=" + url.QueryEscape(user))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("token of %q: %d %s", user, resp.StatusCode, b)
	}
	tok := strings.TrimSpace(string(b))
	logscan.Secret(tok)
	return tok
}

// addLocalUser adds a local user to the engine of a running make run, as
// `make admin ARGS="add-user NAME"` does.
func addLocalUser(t *testing.T, run *localrun.Run, name, password string) {
	t.Helper()
	vars := run.Settings(t)
	hash, err := argon2id.Hash(password, argon2id.DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	users := &dynamo.Users{DB: run.DB(t), Table: vars[config.EnvUsersTable]}
	if err := users.Add(context.Background(), session.User{Name: name, PasswordHash: hash}, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// claimsOf decodes an assertion's claims (its signature is verified by
// TestMakeRunNeverForwardsAClientsIdentityAndSignsEveryCall).
func claimsOf(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("assertion %q", token)
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMakeRunKeepsAFederatedAndALocalUserOfOneNameApart: through make
// run's binary with its own identity provider (LOCAL_OIDC=1), the local
// alice@corp.example and the federated ALICE@corp.example are two users:
// three federated sessions fill the federated user's cap of three and
// refuse a fourth, but not the local user's log-in; the local user's cap
// is its own; and the upstream is told which kind each is (the
// assertion's idp: "local" or the issuer), while vmware-cis-user stays
// name@domain. Every look-alike of a user's name in a token's claim is
// refused, on every surface, with the wrong password's answer.
func TestMakeRunKeepsAFederatedAndALocalUserOfOneNameApart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	port, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	issuer := fmt.Sprintf("http://127.0.0.1:%d", port)
	up := upstreamtest.NewRaw(t)
	scan := logscan.New()
	run := localrun.Start(t, scan.Writer(), "LOCAL_OIDC=1", fmt.Sprintf("LOCAL_OIDC_PORT=%d", port), "OIDC_ISSUER=",
		"MAX_SESSIONS_PER_USER=3", "UPSTREAM_URL="+up.URL, "ASSERTION_KEY_FILE="+t.TempDir()+"/key.json")
	base := run.URL
	const local, password = "alice@corp.example", "Alice-Local-1"
	scan.Secret(password)
	addLocalUser(t, run, local, password)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(local+":"+password))

	// The federated user fills its own cap...
	var fed []string
	for range 3 {
		status, body, id := logInOn(t, base, "api", "Bearer "+localToken(t, issuer, "ALICE@corp.example"), "")
		if status != 201 {
			t.Fatalf("federated log-in: %d %s", status, body)
		}
		fed = append(fed, id)
	}
	if status, body, _ := logInOn(t, base, "api", "Bearer "+localToken(t, issuer, "Alice@Corp.Example"), ""); status != 503 ||
		!strings.Contains(body, "failedToLoginMaxUserSessionCountReached") {
		t.Fatalf("a fourth federated log-in: %d %s; want the cap's 503", status, body)
	}
	// ...which is not the local user's.
	var locals []string
	for i := range 3 {
		status, body, id := logInOn(t, base, "api", basic, "")
		if status != 201 {
			t.Fatalf("local log-in %d with three federated sessions of the same name: %d %s", i+1, status, body)
		}
		locals = append(locals, id)
	}
	if status, body, _ := logInOn(t, base, "api", basic, ""); status != 503 {
		t.Fatalf("a fourth local log-in: %d %s; want the cap's 503", status, body)
	}

	// The upstream is told which kind of identity each is.
	kinds := map[string]string{}
	for who, id := range map[string]string{"local": locals[0], "federated": fed[0]} {
		r, _ := http.NewRequest("GET", base+"/api/vcenter/vm", nil)
		r.Header.Set(httpapi.HeaderSessionID, id)
		if status, _, body := call(t, r); status != 200 {
			t.Fatalf("%s call: %d %s", who, status, body)
		}
		calls := up.Taken()
		if len(calls) != 1 {
			t.Fatalf("%s call: the upstream got %d calls", who, len(calls))
		}
		c := claimsOf(t, calls[0].Values("Vmware-Cis-Assertion")[0])
		kinds[who], _ = c["idp"].(string)
		user := calls[0].Values("Vmware-Cis-User")
		if len(user) != 1 || !strings.EqualFold(user[0], local) || c["sub"] != user[0] {
			t.Errorf("%s call: vmware-cis-user %v, sub %v; want name@domain", who, user, c["sub"])
		}
	}
	if kinds["local"] != session.LocalIdP || kinds["federated"] != issuer {
		t.Errorf("the assertions' idp: local %q, federated %q; want %q and %q", kinds["local"], kinds["federated"], session.LocalIdP, issuer)
	}

	// Every look-alike of a name is refused as a wrong password is.
	wrong := map[string]string{}
	for _, surface := range []string{"api", "rest", "jsonrpc"} {
		_, body, _ := logInOn(t, base, surface, "Basic "+base64.StdEncoding.EncodeToString([]byte(local+":wrong-Password-9")),
			`{"schemeId":"com.vmware.vapi.std.security.user_pass","userName":"`+local+`","password":"wrong-Password-9"}`)
		wrong[surface] = body
	}
	for why, name := range map[string]string{
		"TrailingSpace":        "alice@corp.example ",
		"TrailingDot":          "alice@corp.example.",
		"NoBreakSpace":         "alice\u00a0@corp.example",
		"ZeroWidthSpaceInside": "ali\u200bce@corp.example",
		"WordJoiner":           "alice@corp\u2060.example",
		"SoftHyphen":           "al\u00adice@corp.example",
		"BidiOverride":         "alice@\u202eelpmaxe.proc",
		"Tab":                  "alice\t@corp.example",
		"C1Control":            "alice\u0085@corp.example",
	} {
		t.Run("LookAlike"+why, func(t *testing.T) {
			tok := localToken(t, issuer, name)
			for _, surface := range []string{"api", "rest", "jsonrpc"} {
				status, body, id := logInOn(t, base, surface, "Bearer "+tok,
					`{"schemeId":"com.vmware.vapi.std.security.oauth","accessToken":"`+tok+`"}`)
				if id != "" || body != wrong[surface] || (surface != "jsonrpc" && status != 401) {
					t.Errorf("%s: %d %s; want the wrong password's answer %s", surface, status, body, wrong[surface])
				}
			}
		})
	}

	// A JSON-RPC token log-in the per-source WAF rule might not count is
	// refused as a password one is, before the token is checked.
	t.Run("JSONRPCTokenLogInsTheRateRuleCannotSeeAreRefused", func(t *testing.T) {
		tok := localToken(t, issuer, "bob@corp.example")
		oauth := `{"schemeId":"com.vmware.vapi.std.security.oauth","accessToken":"` + tok + `"}`
		send := func(body string) string {
			r, _ := http.NewRequest("POST", base+httpapi.JSONRPCPath, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			_, _, answer := call(t, r)
			return answer
		}
		for name, body := range map[string]string{
			"EscapedOperation": strings.Replace(rpcCreate(oauth), `"operationId":"create"`, `"operationId":"cr\u0065ate"`, 1),
			"EscapedService":   strings.Replace(rpcCreate(oauth), `"serviceId":"com.vmware.cis.session"`, `"serviceId":"com.vmware.cis.sessio\u006e"`, 1),
			"ReCasedKey":       strings.Replace(rpcCreate(oauth), `"operationId"`, `"OperationId"`, 1),
			"Over8KB":          strings.Replace(rpcCreate(oauth), `"appCtx":{}`, `"appCtx":{"pad":"`+strings.Repeat("x", httpapi.MaxWAFBody)+`"}`, 1),
		} {
			if answer := send(body); answer != wrong["jsonrpc"] {
				t.Errorf("%s: %s; want the wrong password's answer %s", name, answer, wrong["jsonrpc"])
			}
		}
		if answer := send(rpcCreate(oauth)); !strings.Contains(answer, `"SECRET"`) {
			t.Errorf("the same token, visible: %s; want a session", answer)
		}
	})
	for _, leak := range scan.Leaks() {
		t.Errorf("cis-local logged a secret: %s", leak)
	}
}

// TestMakeRunSendsNothingOfTheClientsCredentialsUpstream: through make
// run's binary, with an upstream that records header lines as they cross
// the wire, on /api, /rest and JSON-RPC: a call that carries Authorization
// beside its session reaches the upstream with no Authorization, no
// Cookie, and no session id anywhere (header, cookie, body); a call that
// sends the session id under another spelling of its header, or a header
// whose name in any punctuation is reserved (vmware.cis.user,
// vmware~cis~user, vmware+cis+user), is refused (vAPI 401 on /api and
// /rest, invalid_request on JSON-RPC) and reaches nothing; a hostile Host
// header leaves the assertion's iss the configured base URL. With
// FORWARD_CLIENT_AUTHORIZATION=true, and only then, Authorization goes on.
func TestMakeRunSendsNothingOfTheClientsCredentialsUpstream(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	up := upstreamtest.NewRaw(t)
	scan := logscan.New()
	run := localrun.Start(t, scan.Writer(), "UPSTREAM_URL="+up.URL, "ASSERTION_KEY_FILE="+t.TempDir()+"/key.json", "API_BASE_URL=")
	base := run.URL
	_, body, id := logInOn(t, base, "api", "Basic "+base64.StdEncoding.EncodeToString([]byte(admin+":"+localrun.Password)), "")
	if id == "" {
		t.Fatalf("log in: %s", body)
	}
	scan.Secret(id)
	const clientAuth = "Basic cm9vdDpzZWNyZXQtcGFzc3dvcmQ=" // root:secret-password
	scan.Secret(clientAuth)

	surfaces := protectedCalls(base, id, "other=1; ")
	for _, s := range surfaces {
		t.Run(s.name+"/NoAuthorizationNoSessionID", func(t *testing.T) {
			r := s.request()
			r.Header.Set("Authorization", clientAuth)
			r.Header["authorization"] = []string{"Bearer also-the-clients"}
			r.Host = "evil.example"
			if status, _, body := call(t, r); status != 200 {
				t.Fatalf("%d %s, want the upstream's answer", status, body)
			}
			calls := up.Taken()
			if len(calls) != 1 {
				t.Fatalf("the upstream got %d calls, want 1", len(calls))
			}
			c := calls[0]
			for _, l := range c.Lines {
				name, _, _ := strings.Cut(l, ":")
				if strings.EqualFold(name, "Authorization") || strings.EqualFold(name, "Cookie") || strings.EqualFold(name, httpapi.HeaderSessionID) {
					t.Errorf("the upstream got %q", l)
				}
			}
			if all := strings.Join(c.Lines, "\n") + c.Body; strings.Contains(all, id) || strings.Contains(all, "also-the-clients") ||
				strings.Contains(all, clientAuth) {
				t.Errorf("the client's credentials reached the upstream:\n%s", all)
			}
			if iss := claimsOf(t, c.Values("Vmware-Cis-Assertion")[0])["iss"]; iss != base {
				t.Errorf("with Host evil.example the assertion's iss is %v, want %s", iss, base)
			}
		})
		for _, name := range []string{"vmware_api_session_id", "vmware.api.session.id", "Vmware~Api~Session~Id", "vmware.cis.user",
			"vmware~cis~user", "vmware+cis+user", "VMWARE.CIS.ASSERTION", "vmware!cis#session|created"} {
			t.Run(s.name+"/"+name+"IsRefused", func(t *testing.T) {
				r := s.request()
				r.Header[name] = []string{id}
				status, _, body := call(t, r)
				if !strings.Contains(body, s.refused) || (s.name != "JSONRPC" && status != 401) {
					t.Errorf("%d %s, want %s", status, body, s.refused)
				}
				if calls := up.Taken(); len(calls) != 0 {
					t.Errorf("reached the upstream: %+v", calls)
				}
			})
		}
	}

	t.Run("AnOperatorMayPassAuthorizationOn", func(t *testing.T) {
		up := upstreamtest.NewRaw(t)
		run := localrun.Start(t, scan.Writer(), "UPSTREAM_URL="+up.URL, "ASSERTION_KEY_FILE="+t.TempDir()+"/key.json",
			config.EnvForwardClientAuthorization+"=true")
		_, body, id := logInOn(t, run.URL, "api", "Basic "+base64.StdEncoding.EncodeToString([]byte(admin+":"+localrun.Password)), "")
		if id == "" {
			t.Fatalf("log in: %s", body)
		}
		r, _ := http.NewRequest("GET", run.URL+"/api/vcenter/vm", nil)
		r.Header.Set(httpapi.HeaderSessionID, id)
		r.Header.Set("Authorization", clientAuth)
		if status, _, body := call(t, r); status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		calls := up.Taken()
		if len(calls) != 1 || len(calls[0].Values("Authorization")) != 1 || strings.TrimSpace(calls[0].Values("Authorization")[0]) != clientAuth {
			t.Fatalf("with the opt-in the upstream got %+v; want the client's Authorization", calls)
		}
		if strings.Contains(strings.Join(calls[0].Lines, "\n"), id) {
			t.Error("the session id reached the upstream")
		}
	})
	for _, leak := range scan.Leaks() {
		t.Errorf("cis-local logged a secret: %s", leak)
	}
}
