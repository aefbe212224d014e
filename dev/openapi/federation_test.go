package openapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/cis-session/cis-session/dev/localrun"
	"github.com/cis-session/cis-session/dev/oidcissuer"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/oidc"
)

const (
	// fedUser is the user the federated run's tokens name: in another
	// domain than the local one, as a federated name must be.
	fedUser = "alice@corp.example"
	// cappedUser is the federated user the session cap's cases fill up.
	cappedUser = "bob@corp.example"
	// group is the run's OIDC_REQUIRED_GROUP.
	group = "vsphere-admins"
)

// form is the header of a back-channel logout's body.
func form() http.Header { return hdr("Content-Type", "application/x-www-form-urlencoded") }

// issuerToken is a well-signed access token of an issuer on loopback that
// no run trusts (it is stopped before the token is used).
func issuerToken(t *testing.T) string {
	t.Helper()
	iss, err := oidcissuer.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer iss.Close()
	return iss.Token(oidcissuer.KeyRS256, iss.Claims(fedUser, group))
}

// federationOn is docs/openapi.yaml held to the `make run` binary with
// federated log-in on (OIDC_ISSUER, OIDC_AUDIENCE, OIDC_REQUIRED_GROUP),
// trusting a real issuer on loopback (dev/oidcissuer, as `LOCAL_OIDC=1
// make run` starts one): every status of a bearer log-in on each surface —
// the issuer not reachable (503), success, every refused token of
// oidcissuer.Forgeries (expired, wrong audience and issuer, alg none, HMAC,
// foreign keys, ...), the session cap — and the challenge of every 401:
// a log-in's names Bearer too, a get's, a delete's and the front door's do not
// (checkChallenge, with the client's challenge). Its exchanges are added to
// seen, so the coverage check counts them.
func federationOn(t *testing.T, spec *Spec, seen seen, endpoint string) {
	// The issuer is started to know its address and mint tokens, then
	// stopped: the run's first bearer log-ins find nobody there.
	iss, err := oidcissuer.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(iss.URL, "http://")
	downToken := iss.Token(oidcissuer.KeyRS256, iss.Claims(fedUser, group))
	expired := iss.Claims(fedUser, group)
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	downExpired := iss.Token(oidcissuer.KeyRS256, expired)
	downLogout := iss.Token(oidcissuer.KeyRS256, iss.LogoutClaims(fedUser, ""))
	if err := iss.Close(); err != nil {
		t.Fatal(err)
	}

	run := localrun.Start(t, io.Discard,
		"AWS_ENDPOINT_URL_DYNAMODB="+endpoint, // the engine itself, not the fault proxy: no store faults here
		"DYNAMODB_READ_ON_FAILED_CONDITION=true",
		"LOGIN_MAX_FAILURES=0",
		fmt.Sprintf("MAX_SESSIONS_PER_USER=%d", sessionCap),
		// Tables of its own: the other run's sessions do not count here.
		config.EnvSessionsTable+"=cis-openapi-federated-sessions",
		config.EnvUsersTable+"=cis-openapi-federated-users",
		config.EnvOIDCIssuer+"="+iss.URL,
		config.EnvOIDCAudience+"="+oidcissuer.Audience,
		config.EnvOIDCRequiredGroup+"="+group,
	)
	c := &client{spec: spec, base: run.URL, seen: seen, challenge: httpapi.ChallengeFederated}
	const p = httpapi.LegacySessionPath
	const unauthenticated, restUnauthenticated, rpcUnauthenticated = `"UNAUTHENTICATED"`, `"com.vmware.vapi.std.errors.unauthenticated"`, `"com.vmware.vapi.std.errors.unauthenticated"`
	const unavailable, restUnavailable, rpcUnavailable = `"SERVICE_UNAVAILABLE"`, `"com.vmware.vapi.std.errors.service_unavailable"`, `"com.vmware.vapi.std.errors.service_unavailable"`

	// Until the service has fetched the issuer's discovery document and
	// key set, a bearer log-in it cannot make them is 503: whatever the
	// token, an expired one included, since nothing can be told of it.
	t.Run("IssuerDown", func(t *testing.T) {
		c.each(t, []call{
			{name: "APICreateIsUnavailable", method: "POST", path: httpapi.SessionPath, header: bearer("Bearer", downToken), status: 503, want: unavailable},
			{name: "RestCreateIsUnavailable", method: "POST", path: p, header: bearer("Bearer", downToken), status: 503, want: restUnavailable, cookie: "none"},
			{name: "JSONRPCCreateIsUnavailable", method: "POST", path: "/api", body: invoke("1", "create", oauthCtx(downToken), emptyInput), status: 200, want: rpcUnavailable},
			{name: "AnExpiredTokenIsUnavailableToo", method: "POST", path: httpapi.SessionPath, header: bearer("Bearer", downExpired), status: 503, want: unavailable},
			{name: "APasswordLogInDoesNotNeedTheIssuer", method: "POST", path: httpapi.SessionPath, header: basic(admin, localrun.Password), status: 201, want: `"`},
			{name: "AWrongPasswordIsUnauthenticated", method: "POST", path: httpapi.SessionPath, header: basic(admin, "wrong"), status: 401, want: unauthenticated},
			{name: "ABackchannelLogoutIsUnavailable", method: "POST", path: httpapi.BackchannelLogoutPath, header: form(), body: "logout_token=" + downLogout, status: 503, want: `"temporarily_unavailable"`},
		})
	})
	if t.Failed() {
		return
	}

	// The issuer again, at the same address (with new keys).
	iss, err = oidcissuer.Start(addr)
	if err != nil {
		t.Fatalf("restart the issuer at %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = iss.Close() })
	c.waitForIssuer(t, iss)

	token := func(kid string, groups ...string) string {
		return iss.Token(kid, iss.Claims(fedUser, groups...))
	}
	rs, es := oidcissuer.KeyRS256, oidcissuer.KeyES256
	headerAuthn := bearer("Bearer", token(rs, group))
	headerAuthn.Set(httpapi.HeaderUseHeaderAuthn, "true")
	fed := c.bearerLogin(t, token(es, "staff", group))
	gone := c.bearerLogin(t, token(rs, group))
	c.logout(t, gone)

	t.Run("BackchannelLogout", func(t *testing.T) {
		logout := iss.Token(rs, iss.LogoutClaims(cappedUser, ""))
		c.each(t, []call{
			{name: "ALogoutTokenIsAccepted", method: "POST", path: httpapi.BackchannelLogoutPath, header: form(), body: "logout_token=" + logout, status: 200},
			{name: "ItsJTIAgainIsRefused", method: "POST", path: httpapi.BackchannelLogoutPath, header: form(), body: "logout_token=" + logout, status: 400, want: `"invalid_request"`},
			{name: "AnAccessTokenIsRefused", method: "POST", path: httpapi.BackchannelLogoutPath, header: form(), body: "logout_token=" + token(rs, group), status: 400, want: `"invalid_request"`},
		})
	})

	t.Run("LogIn", func(t *testing.T) {
		c.each(t, []call{
			{name: "APICreateAnswersTheID", method: "POST", path: httpapi.SessionPath, header: bearer("Bearer", token(rs, group)), status: 201, want: `"`},
			{name: "APICreateReadsTheSchemeInAnyCase", method: "POST", path: httpapi.SessionPath, header: bearer("bearer", token(es, group)), status: 201, want: `"`},
			{name: "RestCreateSetsTheSessionCookie", method: "POST", path: p, header: bearer("BEARER", token(rs, group)), status: 200, want: `{"value":"`, cookie: "set"},
			{name: "RestCreateWithHeaderAuthnSetsNoCookie", method: "POST", path: p, header: headerAuthn, status: 200, want: `{"value":"`, cookie: "none"},
			{name: "JSONRPCCreateAnswersTheSecret", method: "POST", path: "/api", body: invoke("1", "create", oauthCtx(token(es, group)), emptyInput), status: 200, want: `"output":{"SECRET":"`},
			{name: "GetAnswersTheClaimsUser", method: "GET", path: httpapi.SessionPath, header: sid(fed), status: 200, want: `"user":"` + fedUser + `"`},
			{name: "RestGetAnswersTheClaimsUser", method: "GET", path: p, header: sid(fed), status: 200, want: `{"value":{"user":"` + fedUser + `"`},
			{name: "JSONRPCGetAnswersTheClaimsUser", method: "POST", path: "/api", body: invoke("2", "get", sessionCtx(fed), emptyInput), status: 200, want: `{"user":"` + fedUser + `"`},
			{name: "AFederatedSessionPassesTheFrontDoor", method: "GET", path: "/api/vcenter/vm", header: sid(fed), status: 404, want: `"OPERATION_NOT_FOUND"`},
			{name: "APasswordLogInStillAnswersTheID", method: "POST", path: httpapi.SessionPath, header: basic(admin, localrun.Password), status: 201, want: `"`},
		})
	})

	// Every refused token is a wrong password's answer, and every 401 of a
	// log-in offers Bearer too; a get's, a delete's and the front door's
	// do not (checkChallenge, by challengeFor).
	t.Run("Refused", func(t *testing.T) {
		calls := []call{
			{name: "APIWrongPassword", method: "POST", path: httpapi.SessionPath, header: basic(admin, "wrong"), status: 401, want: unauthenticated},
			{name: "RestWrongPassword", method: "POST", path: p, header: basic(admin, "wrong"), status: 401, want: restUnauthenticated},
			{name: "JSONRPCWrongPassword", method: "POST", path: "/api", body: invoke("1", "create", userPass(admin, "wrong"), emptyInput), status: 200, want: rpcUnauthenticated},
			{name: "APINoCredentials", method: "POST", path: httpapi.SessionPath, status: 401, want: unauthenticated, undocumented: true},
			{name: "APIAnEmptyToken", method: "POST", path: httpapi.SessionPath, header: hdr("Authorization", "Bearer "), status: 401, want: unauthenticated, undocumented: true},
			{name: "APITokenNotAB64token", method: "POST", path: httpapi.SessionPath, header: bearer("Bearer", `a"b`), status: 401, want: unauthenticated},
			{name: "APITokenOver8KiB", method: "POST", path: httpapi.SessionPath, header: bearer("Bearer", strings.Repeat("a", 8<<10+1)), status: 401, want: unauthenticated},
			{name: "JSONRPCOAuthWithoutAToken", method: "POST", path: "/api", body: invoke("2", "create", `"securityCtx":{"schemeId":"com.vmware.vapi.std.security.oauth"}`, emptyInput), status: 200, want: rpcUnauthenticated, undocumented: true},
			{name: "APIGetAfterDelete", method: "GET", path: httpapi.SessionPath, header: sid(gone), status: 401, want: unauthenticated},
			{name: "APIDeleteAfterDelete", method: "DELETE", path: httpapi.SessionPath, header: sid(gone), status: 401, want: unauthenticated},
			{name: "RestGetAfterDelete", method: "GET", path: p, header: sid(gone), status: 401, want: restUnauthenticated},
			{name: "RestActionGetAfterDelete", method: "POST", path: p + "?~action=get", header: sid(gone), status: 401, want: restUnauthenticated},
			{name: "RestDeleteAfterDelete", method: "DELETE", path: p, header: sid(gone), status: 401, want: restUnauthenticated},
			{name: "JSONRPCGetAfterDelete", method: "POST", path: "/api", body: invoke("3", "get", sessionCtx(gone), emptyInput), status: 200, want: rpcUnauthenticated},
			{name: "JSONRPCDeleteAfterDelete", method: "POST", path: "/api", body: invoke("3", "delete", sessionCtx(gone), emptyInput), status: 200, want: rpcUnauthenticated},
			// The front door takes session ids only: Basic alone.
			{name: "FrontDoorAPIAfterDeleteOffersBasicAlone", method: "GET", path: "/api/vcenter/vm", header: sid(gone), status: 401, want: unauthenticated},
			{name: "FrontDoorRestAfterDeleteOffersBasicAlone", method: "POST", path: "/rest/vcenter/vm", header: sid(gone), status: 401, want: restUnauthenticated},
			{name: "JSONRPCAnotherServiceAfterDeleteOffersBasicAlone", method: "POST", path: "/api", body: invokeService("4", "com.vmware.vcenter.VM", "list", sessionCtx(gone)), status: 200, want: rpcUnauthenticated},
		}
		for _, f := range iss.Forgeries(fedUser, group, oidc.DefaultSkew) {
			name := caseName(f.Name)
			calls = append(calls,
				call{name: "API" + name, method: "POST", path: httpapi.SessionPath, header: bearer("Bearer", f.Token), status: 401, want: unauthenticated},
				call{name: "Rest" + name, method: "POST", path: p, header: bearer("Bearer", f.Token), status: 401, want: restUnauthenticated, cookie: "none"},
				call{name: "JSONRPC" + name, method: "POST", path: "/api", body: invoke("5", "create", oauthCtx(f.Token), emptyInput), status: 200, want: rpcUnauthenticated},
			)
		}
		c.each(t, calls)
	})

	// A federated user has the cap a password user has.
	t.Run("SessionCap", func(t *testing.T) {
		tok := iss.Token(rs, iss.Claims(cappedUser, group))
		var opened []string
		defer func() {
			for _, id := range opened {
				c.logout(t, id)
			}
		}()
		for range sessionCap {
			opened = append(opened, c.bearerLogin(t, tok))
		}
		const capped = "failedToLoginMaxUserSessionCountReached"
		c.each(t, []call{
			{name: "APICreatePastTheCapIsUnavailable", method: "POST", path: httpapi.SessionPath, header: bearer("Bearer", tok), status: 503, want: capped},
			{name: "RestCreatePastTheCapIsUnavailable", method: "POST", path: p, header: bearer("Bearer", tok), status: 503, want: capped},
			{name: "JSONRPCCreatePastTheCapIsUnavailable", method: "POST", path: "/api", body: invoke("1", "create", oauthCtx(tok), emptyInput), status: 200, want: capped},
		})
	})

	if d, k := iss.Requests(); d == 0 || k == 0 {
		t.Errorf("the issuer served discovery %d and keys %d times: the log-ins above were not verified against it", d, k)
	}
}

// bearer is an Authorization header presenting token under scheme (a
// spelling of Bearer).
func bearer(scheme, token string) http.Header { return hdr("Authorization", scheme+" "+token) }

// bearerLogin creates a session on /api/session with token and returns
// its id.
func (c *client) bearerLogin(t testing.TB, token string) string {
	t.Helper()
	x := c.send(t, call{method: "POST", path: httpapi.SessionPath, header: bearer("Bearer", token)})
	var id string
	if x.Status != 201 || json.Unmarshal(x.Body, &id) != nil {
		t.Fatalf("bearer log-in: %d %s", x.Status, x.Body)
	}
	return id
}

// waitForIssuer waits until a bearer log-in succeeds: after a failed fetch
// the service does not ask the issuer again for oidc.DefaultRetryAfter,
// answering 503 meanwhile. It waits for progress, bounded well past that.
func (c *client) waitForIssuer(t *testing.T, iss *oidcissuer.Issuer) {
	t.Helper()
	deadline := time.Now().Add(oidc.DefaultRetryAfter + time.Minute)
	for {
		x := c.send(t, call{method: "POST", path: httpapi.SessionPath, header: bearer("Bearer", iss.Token(oidcissuer.KeyRS256, iss.Claims(fedUser, group)))})
		switch {
		case x.Status == http.StatusCreated:
			var id string
			if err := json.Unmarshal(x.Body, &id); err != nil {
				t.Fatal(err)
			}
			c.logout(t, id)
			return
		case x.Status != http.StatusServiceUnavailable:
			t.Fatalf("a bearer log-in while the service catches up with the issuer: %d %s", x.Status, x.Body)
		case time.Now().After(deadline):
			t.Fatalf("bearer log-ins still 503 %s after the issuer came back", oidc.DefaultRetryAfter+time.Minute)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// caseName is a forgery's name as a subtest's: its words capitalized and
// joined, letters and digits only ("not yet valid (nbf)": NotYetValidNbf).
func caseName(s string) string {
	var b strings.Builder
	for _, w := range strings.Fields(s) {
		first := true
		for _, r := range w {
			switch {
			case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			case first:
				b.WriteRune(unicode.ToUpper(r))
				first = false
			default:
				b.WriteRune(r)
			}
		}
	}
	return b.String()
}
