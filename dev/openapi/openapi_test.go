package openapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/faultproxy"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/localrun"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/httpapi"
)

const (
	admin = "administrator@vsphere.local"
	// sessionCap is the run's MAX_SESSIONS_PER_USER: above what the other
	// cases keep open, so that only the cap's own case reaches it.
	sessionCap = 40
)

// TestTheLocalServiceAnswersAsDocumented is docs/openapi.yaml held to the
// real `make run` binary: every status of every session operation on each
// surface (success; no, unknown, malformed and logged-out sessions; wrong
// credentials; the requests the service refuses as malformed; the JSON-RPC
// errors; the front door's refusals; a store that cannot answer and the
// session cap), each request and answer checked against the document. A
// request the document does not describe (no credentials, a ~action it
// does not list, a body that is no JSON-RPC request) is sent on purpose,
// and the document must say that it does not describe it.
//
// The binary's store is reached through a fault proxy, so the 503s are the
// binary's own answers to a failing DynamoDB. This run has federation off:
// a bearer token is refused as a wrong password, and every 401 offers
// Basic alone. A second run has it on (federationOn): every status of a
// bearer log-in on each surface. In both, the challenge of every 401 is
// held to the operation's and the configuration's (Bearer is offered by a
// log-in with federation on, and nothing else), in the header and the
// body alike (checkChallenge). Every operation and status the document declares must
// have been seen by the end, here or, for the three the binary cannot give
// (answersMakeRunCannotGive), from the code that gives them when deployed.
func TestTheLocalServiceAnswersAsDocumented(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	spec := mustSpec(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	eng, err := localdynamo.Start(ctx, localdynamo.Dynalite)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Stop() })
	proxy, err := faultproxy.Start(eng.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	run := localrun.Start(t, io.Discard,
		"AWS_ENDPOINT_URL_DYNAMODB="+proxy.URL,
		"DYNAMODB_READ_ON_FAILED_CONDITION=true", // dynalite's way, which cis-local sets only for an engine it starts
		"LOGIN_MAX_FAILURES=0",                   // the wrong passwords here must not lock the user out
		fmt.Sprintf("MAX_SESSIONS_PER_USER=%d", sessionCap),
		config.EnvOIDCIssuer+"=", // federation off, whatever this process's environment says
	)
	c := &client{spec: spec, base: run.URL, seen: seen{}, challenge: httpapi.Challenge}

	live := c.login(t)
	gone := c.login(t)
	// Federation is off in this run: a well-signed token of an issuer it
	// was never told of is refused as a wrong password, and the challenge
	// is Basic alone (checkChallenge).
	untrusted := issuerToken(t)
	c.logout(t, gone)
	unknown := strings.Repeat("ab", 16)
	malformed := "../../etc/passwd"

	t.Run("APISession", func(t *testing.T) {
		c.each(t, []call{
			{name: "CreateAnswersTheIDAsABareString", method: "POST", path: "/api/session", header: basic(admin, localrun.Password), status: 201, want: `"`},
			{name: "CreateWithAWrongPasswordIsUnauthenticated", method: "POST", path: "/api/session", header: basic(admin, "wrong"), status: 401, want: `"UNAUTHENTICATED"`},
			{name: "CreateForAnUnknownUserIsUnauthenticated", method: "POST", path: "/api/session", header: basic("nobody@vsphere.local", "wrong"), status: 401, want: `"UNAUTHENTICATED"`},
			{name: "CreateWithoutCredentialsIsUnauthenticated", method: "POST", path: "/api/session", status: 401, want: `"UNAUTHENTICATED"`, undocumented: true},
			{name: "CreateWithABearerTokenIsUnauthenticated", method: "POST", path: "/api/session", header: hdr("Authorization", "Bearer "+untrusted), status: 401, want: `"UNAUTHENTICATED"`},
			{name: "CreateWithAnotherSchemeIsUnauthenticated", method: "POST", path: "/api/session", header: hdr("Authorization", "Negotiate abc"), status: 401, want: `"UNAUTHENTICATED"`, undocumented: true},
			{name: "CreateWithAnOversizedAuthorizationIsUnauthenticated", method: "POST", path: "/api/session", header: hdr("Authorization", "Basic "+strings.Repeat("QUFB", httpapi.MaxAuthorizationLen/4+1)), status: 401, want: `"UNAUTHENTICATED"`},
			{name: "GetAnswersTheInfo", method: "GET", path: "/api/session", header: sid(live), status: 200, want: `"user":"` + admin + `"`},
			{name: "GetWithTheSessionHeaderTwiceIsUnauthenticated", method: "GET", path: "/api/session", header: hdr(httpapi.HeaderSessionID, live, httpapi.HeaderSessionID, live), status: 401, want: `"UNAUTHENTICATED"`},
			{name: "GetIgnoresTheRestCookie", method: "GET", path: "/api/session", header: cookie(live), status: 401, want: `"UNAUTHENTICATED"`, undocumented: true},
			{name: "GetIgnoresABodyOfEmptyJSON", method: "GET", path: "/api/session", header: hdr(httpapi.HeaderSessionID, live, "Content-Type", "application/json"), body: `{}`, status: 200, want: admin},
			{name: "GetWithoutASessionIsUnauthenticated", method: "GET", path: "/api/session", status: 401, want: `"UNAUTHENTICATED"`, undocumented: true},
			{name: "GetWithAnUnknownSessionIsUnauthenticated", method: "GET", path: "/api/session", header: sid(unknown), status: 401, want: `"UNAUTHENTICATED"`},
			{name: "GetWithAMalformedSessionIsUnauthenticated", method: "GET", path: "/api/session", header: sid(malformed), status: 401, want: `"UNAUTHENTICATED"`},
			{name: "GetAfterDeleteIsUnauthenticated", method: "GET", path: "/api/session", header: sid(gone), status: 401, want: `"UNAUTHENTICATED"`},
			{name: "DeleteAnswersNoContent", method: "DELETE", path: "/api/session", header: sid(c.login(t)), status: 204},
			{name: "DeleteAfterDeleteIsUnauthenticated", method: "DELETE", path: "/api/session", header: sid(gone), status: 401, want: `"UNAUTHENTICATED"`},
			{name: "DeleteWithoutASessionIsUnauthenticated", method: "DELETE", path: "/api/session", status: 401, want: `"UNAUTHENTICATED"`, undocumented: true},
		})
	})

	t.Run("RestSession", func(t *testing.T) {
		const p = httpapi.LegacySessionPath
		headerAuthn := basic(admin, localrun.Password)
		headerAuthn.Set(httpapi.HeaderUseHeaderAuthn, "true")
		withCookie := c.restLogin(t)
		c.each(t, []call{
			{name: "CreateWithHeaderAuthnSetsNoCookie", method: "POST", path: p, header: headerAuthn, status: 200, want: `{"value":"`, cookie: "none"},
			{name: "CreateSetsTheSessionCookie", method: "POST", path: p, header: basic(admin, localrun.Password), status: 200, want: `{"value":"`, cookie: "set"},
			{name: "CreateWithAWrongPasswordIsUnauthenticated", method: "POST", path: p, header: basic(admin, "wrong"), status: 401, want: `"com.vmware.vapi.std.errors.unauthenticated"`},
			{name: "CreateWithoutCredentialsIsUnauthenticated", method: "POST", path: p, status: 401, want: `"com.vmware.vapi.std.errors.unauthenticated"`, undocumented: true},
			{name: "CreateWithABearerTokenIsUnauthenticated", method: "POST", path: p, header: hdr("Authorization", "Bearer "+untrusted), status: 401, want: `"com.vmware.vapi.std.errors.unauthenticated"`, cookie: "none"},
			{name: "ActionGetAnswersTheInfo", method: "POST", path: p + "?~action=get", header: sid(live), status: 200, want: `{"value":{"user":"` + admin + `"`},
			{name: "ActionGetByCookieAnswersTheInfo", method: "POST", path: p + "?~action=get", header: cookie(withCookie), status: 200, want: admin},
			{name: "TheHeaderWinsOverTheCookie", method: "POST", path: p + "?~action=get", header: hdr(httpapi.HeaderSessionID, gone, "Cookie", httpapi.CookieSessionID+"="+withCookie), status: 401, want: "unauthenticated"},
			{name: "ActionGetAfterDeleteIsUnauthenticated", method: "POST", path: p + "?~action=get", header: sid(gone), status: 401, want: "unauthenticated"},
			{name: "ActionGetWithoutASessionIsUnauthenticated", method: "POST", path: p + "?~action=get", status: 401, want: "unauthenticated", undocumented: true},
			{name: "AnotherActionIsOperationNotFound", method: "POST", path: p + "?~action=list", header: sid(live), status: 404, want: "operation_not_found", undocumented: true},
			{name: "AnEmptyActionIsInvalid", method: "POST", path: p + "?~action=", header: sid(live), status: 400, want: "invalid_request", undocumented: true},
			{name: "ARepeatedActionIsInvalid", method: "POST", path: p + "?~action=get&~action=get", header: sid(live), status: 400, want: "invalid_request"},
			// A query that does not parse is beyond what OpenAPI can say
			// (kin-openapi, as net/url, drops the pair): documented as far
			// as the document goes, and its 400 is.
			{name: "AnUnparsableQueryIsInvalid", method: "POST", path: p + "?~action=%zz", header: sid(live), status: 400, want: "invalid_request"},
			{name: "GetAnswersTheInfo", method: "GET", path: p, header: sid(live), status: 200, want: `{"value":{"user":"` + admin + `"`},
			{name: "GetAfterDeleteIsUnauthenticated", method: "GET", path: p, header: cookie(gone), status: 401, want: "unauthenticated"},
			{name: "GetWithAnActionIsOperationNotFound", method: "GET", path: p + "?~action=get", header: sid(live), status: 404, want: "operation_not_found"},
			{name: "GetWithAnEmptyActionIsInvalid", method: "GET", path: p + "?~action=", header: sid(live), status: 400, want: "invalid_request"},
			{name: "DeleteByHeaderAnswersAnEmpty200", method: "DELETE", path: p, header: sid(c.login(t)), status: 200, cookie: "none"},
			{name: "DeleteByCookieExpiresTheCookie", method: "DELETE", path: p, header: cookie(withCookie), status: 200, cookie: "expired"},
			{name: "DeleteAfterDeleteIsUnauthenticated", method: "DELETE", path: p, header: sid(gone), status: 401, want: "unauthenticated"},
			{name: "DeleteWithoutASessionIsUnauthenticated", method: "DELETE", path: p, status: 401, want: "unauthenticated", undocumented: true},
			{name: "DeleteWithAnActionIsOperationNotFound", method: "DELETE", path: p + "?~action=get", header: sid(live), status: 404, want: "operation_not_found"},
			{name: "DeleteWithAnEmptyActionIsInvalid", method: "DELETE", path: p + "?~action=", header: sid(live), status: 400, want: "invalid_request"},
		})
	})

	t.Run("JSONRPC", func(t *testing.T) {
		c.each(t, []call{
			{name: "CreateAnswersTheSecret", method: "POST", path: "/api", body: invoke("1", "create", userPass(admin, localrun.Password), emptyInput), status: 200, want: `"output":{"SECRET":"`},
			{name: "CreateWithAWrongPasswordIsUnauthenticated", method: "POST", path: "/api", body: invoke("2", "create", userPass(admin, "wrong"), emptyInput), status: 200, want: `"com.vmware.vapi.std.errors.unauthenticated"`},
			{name: "CreateWithoutASecurityContextIsUnauthenticated", method: "POST", path: "/api", body: invoke("3", "create", "", emptyInput), status: 200, want: `"com.vmware.vapi.std.errors.unauthenticated"`},
			{name: "CreateWithAPasswordNotAStringIsUnauthenticated", method: "POST", path: "/api", body: invoke("3", "create", `"securityCtx":{"schemeId":"com.vmware.vapi.std.security.user_pass","userName":"`+admin+`","password":1}`, emptyInput), status: 200, want: `"com.vmware.vapi.std.errors.unauthenticated"`, undocumented: true},
			{name: "CreateWithAnOAuthContextIsUnauthenticated", method: "POST", path: "/api", body: invoke("3", "create", oauthCtx(untrusted), emptyInput), status: 200, want: `"com.vmware.vapi.std.errors.unauthenticated"`},
			{name: "CreateWithASessionContextIsUnauthenticated", method: "POST", path: "/api", body: invoke("3", "create", sessionCtx(live), emptyInput), status: 200, want: `"com.vmware.vapi.std.errors.unauthenticated"`},
			{name: "GetAnswersTheInfo", method: "POST", path: "/api", body: invoke(4, "get", sessionCtx(live), emptyInput), status: 200, want: `"com.vmware.cis.session.info":{"user":"` + admin + `"`},
			{name: "GetByTheHeaderAnswersTheInfo", method: "POST", path: "/api", header: sid(live), body: invoke(nil, "get", "", emptyInput), status: 200, want: `"id":null,"result":{"output":{"STRUCTURE"`},
			{name: "GetAfterDeleteIsUnauthenticated", method: "POST", path: "/api", body: invoke("5", "get", sessionCtx(gone), emptyInput), status: 200, want: `"com.vmware.vapi.std.errors.unauthenticated"`},
			{name: "DeleteAnswersANullOutput", method: "POST", path: "/api", body: invoke("6", "delete", sessionCtx(c.login(t)), emptyInput), status: 200, want: `"result":{"output":null}`},
			{name: "DeleteAfterDeleteIsUnauthenticated", method: "POST", path: "/api", body: invoke("7", "delete", sessionCtx(gone), emptyInput), status: 200, want: `"com.vmware.vapi.std.errors.unauthenticated"`},
			{name: "AnotherOperationIsOperationNotFound", method: "POST", path: "/api", body: invoke("8", "list", sessionCtx(live), emptyInput), status: 200, want: `"com.vmware.vapi.std.errors.operation_not_found"`},
			{name: "AnInputIsInvalidRequest", method: "POST", path: "/api", body: invoke("9", "get", sessionCtx(live), `{"STRUCTURE":{"operation-input":{"x":1}}}`), status: 200, want: `"com.vmware.vapi.std.errors.invalid_request"`},
			{name: "AnotherServiceWithASessionIsOperationNotFound", method: "POST", path: "/api", body: invokeService("10", "com.vmware.vcenter.VM", "list", sessionCtx(live)), status: 200, want: `"com.vmware.vapi.std.errors.operation_not_found"`},
			{name: "AnotherServiceAfterDeleteIsUnauthenticated", method: "POST", path: "/api", body: invokeService("11", "com.vmware.vcenter.VM", "list", sessionCtx(gone)), status: 200, want: `"com.vmware.vapi.std.errors.unauthenticated"`},
			{name: "NoJSONIsAParseError", method: "POST", path: "/api", body: `{"jsonrpc":`, status: 200, want: `"id":null,"error":{"code":-32700`, undocumented: true},
			{name: "ABatchIsAnInvalidRequest", method: "POST", path: "/api", body: `[` + invoke("12", "get", sessionCtx(live), emptyInput) + `]`, status: 200, want: `"id":null,"error":{"code":-32600`, undocumented: true},
			{name: "ANotificationIsAnInvalidRequest", method: "POST", path: "/api", body: `{"jsonrpc":"2.0","method":"invoke","params":{}}`, status: 200, want: `"code":-32600`, undocumented: true},
			{name: "ABodyTooLargeIsAnInvalidRequest", method: "POST", path: "/api", body: invoke("13", "get", sessionCtx(live)+`,"pad":"`+strings.Repeat("x", httpapi.MaxJSONRPCBody)+`"`, emptyInput), status: 200, want: `"code":-32600`},
			{name: "AnotherMethodIsMethodNotFound", method: "POST", path: "/api", body: `{"jsonrpc":"2.0","method":"call","id":"14","params":{}}`, status: 200, want: `"id":"14","error":{"code":-32601`, undocumented: true},
			{name: "ParamsWithoutAnOperationAreInvalidParams", method: "POST", path: "/api", body: `{"jsonrpc":"2.0","method":"invoke","id":15,"params":{"serviceId":"com.vmware.cis.session"}}`, status: 200, want: `"id":15,"error":{"code":-32602`, undocumented: true},
			{name: "AHeaderNamingAnotherOperationIsAMismatch", method: "POST", path: "/api", header: hdr(httpapi.HeaderVAPIOperation, "delete"), body: invoke("16", "get", sessionCtx(live), emptyInput), status: 200, want: `"code":-31001`},
		})
	})

	t.Run("FrontDoor", func(t *testing.T) {
		var calls []call
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			calls = append(calls,
				call{name: m + "APIWithoutASessionIsUnauthenticated", method: m, path: "/api/vcenter/vm", status: 401, want: `"UNAUTHENTICATED"`, undocumented: true},
				call{name: m + "APIAfterDeleteIsUnauthenticated", method: m, path: "/api/vcenter/vm/vm-42", header: sid(gone), status: 401, want: `"UNAUTHENTICATED"`},
				call{name: m + "APIWithASessionAndNoUpstreamIsOperationNotFound", method: m, path: "/api/vcenter/vm", header: sid(live), status: 404, want: `"OPERATION_NOT_FOUND"`},
				call{name: m + "RestAfterDeleteByCookieIsUnauthenticated", method: m, path: "/rest/vcenter/vm", header: cookie(gone), status: 401, want: "unauthenticated"},
				call{name: m + "RestWithAnUnknownSessionIsUnauthenticated", method: m, path: "/rest/com/vmware/cis/tagging/tag", header: sid(unknown), status: 401, want: "unauthenticated"},
				call{name: m + "RestWithASessionAndNoUpstreamIsOperationNotFound", method: m, path: "/rest/vcenter/vm", header: sid(live), status: 404, want: "operation_not_found"},
			)
		}
		c.each(t, calls)
	})

	// The assertion's key set: public, no session; make run signs with
	// build/cis-local-assertion-key.json's key and publishes it.
	// Federation is off in this run: every logout token is refused.
	t.Run("BackchannelLogout", func(t *testing.T) {
		c.each(t, []call{
			{name: "WithoutAProviderALogoutIsRefused", method: "POST", path: httpapi.BackchannelLogoutPath, header: form(), body: "logout_token=" + untrusted, status: 400, want: `"invalid_request"`},
		})
	})

	t.Run("UpstreamIdentity", func(t *testing.T) {
		c.each(t, []call{
			{name: "TheKeySetIsPublished", method: "GET", path: httpapi.JWKSPath, status: 200, want: `"kty":"EC"`},
			{name: "TheKeySetNeedsNoSession", method: "GET", path: httpapi.JWKSPath, header: sid(gone), status: 200, want: `"alg":"ES256"`},
		})
	})

	t.Run("SessionCap", func(t *testing.T) {
		var opened []string
		defer func() {
			for _, id := range opened {
				c.logout(t, id)
			}
		}()
		for range sessionCap + 1 {
			x := c.send(t, call{method: "POST", path: "/api/session", header: basic(admin, localrun.Password)})
			if x.Status == 201 {
				var id string
				if err := json.Unmarshal(x.Body, &id); err != nil {
					t.Fatal(err)
				}
				opened = append(opened, id)
				continue
			}
			break
		}
		c.each(t, []call{
			{name: "CreatePastTheCapIsUnavailable", method: "POST", path: "/api/session", header: basic(admin, localrun.Password), status: 503, want: "failedToLoginMaxUserSessionCountReached"},
			{name: "RestCreatePastTheCapIsUnavailable", method: "POST", path: httpapi.LegacySessionPath, header: basic(admin, localrun.Password), status: 503, want: "failedToLoginMaxUserSessionCountReached"},
			{name: "JSONRPCCreatePastTheCapIsUnavailable", method: "POST", path: "/api", body: invoke("1", "create", userPass(admin, localrun.Password), emptyInput), status: 200, want: "failedToLoginMaxUserSessionCountReached"},
		})
	})

	t.Run("StoreDown", func(t *testing.T) {
		if err := proxy.Inject(faultproxy.Fault{Kind: faultproxy.InternalError}); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = proxy.Clear() }()
		const unavailable, restUnavailable, rpcUnavailable = `"SERVICE_UNAVAILABLE"`, "com.vmware.vapi.std.errors.service_unavailable", `"com.vmware.vapi.std.errors.service_unavailable"`
		calls := []call{
			{name: "APICreate", method: "POST", path: "/api/session", header: basic(admin, localrun.Password), status: 503, want: unavailable},
			{name: "APIGet", method: "GET", path: "/api/session", header: sid(live), status: 503, want: unavailable},
			{name: "APIDelete", method: "DELETE", path: "/api/session", header: sid(live), status: 503, want: unavailable},
			{name: "RestCreate", method: "POST", path: httpapi.LegacySessionPath, header: basic(admin, localrun.Password), status: 503, want: restUnavailable},
			{name: "RestActionGet", method: "POST", path: httpapi.LegacySessionPath + "?~action=get", header: sid(live), status: 503, want: restUnavailable},
			{name: "RestGet", method: "GET", path: httpapi.LegacySessionPath, header: sid(live), status: 503, want: restUnavailable},
			{name: "RestDelete", method: "DELETE", path: httpapi.LegacySessionPath, header: sid(live), status: 503, want: restUnavailable},
			{name: "JSONRPCCreate", method: "POST", path: "/api", body: invoke("1", "create", userPass(admin, localrun.Password), emptyInput), status: 200, want: rpcUnavailable},
			{name: "JSONRPCGet", method: "POST", path: "/api", body: invoke("2", "get", sessionCtx(live), emptyInput), status: 200, want: rpcUnavailable},
			{name: "JSONRPCDelete", method: "POST", path: "/api", body: invoke("3", "delete", sessionCtx(live), emptyInput), status: 200, want: rpcUnavailable},
			{name: "JSONRPCAnotherService", method: "POST", path: "/api", body: invokeService("4", "com.vmware.vcenter.VM", "list", sessionCtx(live)), status: 200, want: rpcUnavailable},
		}
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			calls = append(calls,
				call{name: "FrontDoorAPI" + m, method: m, path: "/api/vcenter/vm", header: sid(live), status: 503, want: unavailable},
				call{name: "FrontDoorRest" + m, method: m, path: "/rest/vcenter/vm", header: sid(live), status: 503, want: restUnavailable},
			)
		}
		c.each(t, calls)
		if proxy.Faulted() == 0 {
			t.Error("no request reached the failing store: the 503s were not its")
		}
	})

	// The answers above are what a client sees of a live session: it is
	// still there once the store answers again.
	c.each(t, []call{{name: "TheSessionOutlivesTheFault", method: "GET", path: "/api/session", header: sid(live), status: 200, want: admin}})

	// The same binary with federated log-in on, on the same engine.
	t.Run("FederationOn", func(t *testing.T) { federationOn(t, spec, c.seen, eng.Endpoint) })

	if t.Failed() {
		return
	}
	offline := &client{spec: spec, seen: c.seen, challenge: httpapi.Challenge}
	answersMakeRunCannotGive(t, offline)
	c.seen.mustCover(t, spec)
}

// call is one request and what its answer must be.
type call struct {
	name         string
	method, path string
	header       http.Header
	body         string
	status       int
	want         string // the body holds it
	// undocumented: the request is deliberately one the document does not
	// describe (no credentials, a ~action it does not list, a body that is
	// no JSON-RPC request), and the document must say so. Its answer must
	// still be one the document declares.
	undocumented bool
	// cookie is what the answer's Set-Cookie must do: "none", "set" (a
	// new session's cookie) or "expired"; "" does not look.
	cookie string
}

// client sends calls to the service and checks each exchange.
type client struct {
	spec *Spec
	base string
	seen seen
	// challenge is a log-in's 401 challenge in this run's configuration:
	// httpapi.Challenge with federation off, httpapi.ChallengeFederated
	// with it on. Every other 401's (get, delete, the front door) is
	// httpapi.Challenge either way.
	challenge string
}

// each runs the calls in order, each as a subtest.
func (c *client) each(t *testing.T, calls []call) {
	t.Helper()
	for _, cl := range calls {
		t.Run(cl.name, func(t *testing.T) {
			x := c.send(t, cl)
			c.check(t, cl, x)
		})
	}
}

func (c *client) send(t testing.TB, cl call) Exchange {
	t.Helper()
	req, err := http.NewRequest(cl.method, c.base+cl.path, strings.NewReader(cl.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range cl.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if cl.body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return Exchange{Request: req, RequestBody: []byte(cl.body), Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// check holds one exchange to the call's expectations and to the document.
func (c *client) check(t *testing.T, cl call, x Exchange) {
	t.Helper()
	if x.Status != cl.status || !strings.Contains(string(x.Body), cl.want) {
		t.Fatalf("%s %s answered %d %s; want %d with %s", cl.method, cl.path, x.Status, x.Body, cl.status, cl.want)
	}
	if err := checkCookie(cl.cookie, x.Header.Values("Set-Cookie")); err != nil {
		t.Error(err)
	}
	res, err := c.spec.Check(context.Background(), x)
	if err != nil {
		t.Fatalf("the document has no operation for %s %s: %v", cl.method, cl.path, err)
	}
	if err := checkChallenge(c.challengeFor(res.Operation, x), x); err != nil {
		t.Errorf("%s: %v", res.Operation, err)
	}
	switch {
	case cl.undocumented && res.Request == nil:
		t.Errorf("%s: the document describes the request, which this case sends as one it does not", res.Operation)
	case !cl.undocumented && res.Request != nil:
		t.Errorf("%s: the document does not describe the request: %v", res.Operation, res.Request)
	}
	if res.Response != nil {
		t.Errorf("%s: the answer %d %s is not what the document declares: %v", res.Operation, x.Status, x.Body, res.Response)
	}
	c.seen.add(res.Operation, x.Status)
}

// challengeFor is the challenge an answer to x's request must carry if it
// carries one: the run's log-in challenge for a log-in (create on /api,
// /rest without ~action, JSON-RPC create), Basic alone for anything else.
func (c *client) challengeFor(op string, x Exchange) string {
	var rpc struct {
		Params struct{ ServiceID, OperationID string }
	}
	switch {
	case op == "Cis.Session.create",
		op == "Rest.Cis.Session.createOrGet" && !x.Request.URL.Query().Has("~action"),
		op == "JsonRpc.invoke" && json.Unmarshal(x.RequestBody, &rpc) == nil &&
			rpc.Params.ServiceID == httpapi.ServiceSession && rpc.Params.OperationID == "create":
		return c.challenge
	}
	return httpapi.Challenge
}

// checkChallenge holds an answer's challenge to want, exactly: a 401 has
// want in WWW-Authenticate (once) and as its body's challenge (/api's
// challenge, /rest's value.challenge); a JSON-RPC unauthenticated error
// has want as its challenge; any other answer has neither. The document
// can say which strings a challenge may be; that the header and the body
// agree, and which one a run gives, only a check of both can.
func checkChallenge(want string, x Exchange) error {
	var b struct {
		Challenge *string
		Value     struct{ Challenge *string }
		Result    struct {
			Error struct {
				ERROR map[string]struct {
					Challenge *struct{ OPTIONAL string }
				}
			}
		}
	}
	_ = json.Unmarshal(x.Body, &b) // a field of another shape is skipped
	var body []string
	for _, c := range []*string{b.Challenge, b.Value.Challenge} {
		if c != nil {
			body = append(body, *c)
		}
	}
	unauthenticatedRPC := false
	for name, e := range b.Result.Error.ERROR {
		unauthenticatedRPC = unauthenticatedRPC || name == httpapi.ErrorNamePrefix+"unauthenticated"
		if e.Challenge != nil {
			body = append(body, e.Challenge.OPTIONAL)
		}
	}
	header := x.Header.Values("WWW-Authenticate")
	switch {
	case x.Status == http.StatusUnauthorized:
		if len(header) != 1 || header[0] != want || len(body) != 1 || body[0] != want {
			return fmt.Errorf("a 401 with WWW-Authenticate %q and the body's challenge %q; want %q in both", header, body, want)
		}
	case unauthenticatedRPC:
		if len(header) != 0 || len(body) != 1 || body[0] != want {
			return fmt.Errorf("a JSON-RPC unauthenticated error with WWW-Authenticate %q and the challenge %q; want no header and %q", header, body, want)
		}
	case len(header) != 0 || len(body) != 0:
		return fmt.Errorf("a %d with WWW-Authenticate %q and a challenge %q; want neither", x.Status, header, body)
	}
	return nil
}

func checkCookie(want string, got []string) error {
	var ok bool
	switch want {
	case "":
		return nil
	case "none":
		ok = len(got) == 0
	case "set":
		ok = len(got) == 1 && !strings.Contains(got[0], "Max-Age=0") && !strings.HasPrefix(got[0], httpapi.CookieSessionID+"=;")
	case "expired":
		ok = len(got) == 1 && strings.Contains(got[0], "Max-Age=0")
	}
	if !ok {
		return fmt.Errorf("Set-Cookie %q, want %s", got, want)
	}
	return nil
}

// login creates a session on /api/session and returns its id.
func (c *client) login(t testing.TB) string {
	t.Helper()
	x := c.send(t, call{method: "POST", path: "/api/session", header: basic(admin, localrun.Password)})
	var id string
	if x.Status != 201 || json.Unmarshal(x.Body, &id) != nil {
		t.Fatalf("log in: %d %s", x.Status, x.Body)
	}
	return id
}

// restLogin creates a session on /rest and returns the cookie's value.
func (c *client) restLogin(t testing.TB) string {
	t.Helper()
	x := c.send(t, call{method: "POST", path: httpapi.LegacySessionPath, header: basic(admin, localrun.Password)})
	resp := http.Response{Header: x.Header}
	for _, ck := range resp.Cookies() {
		if ck.Name == httpapi.CookieSessionID {
			return ck.Value
		}
	}
	t.Fatalf("log in on /rest set no cookie: %d %v %s", x.Status, x.Header, x.Body)
	return ""
}

func (c *client) logout(t testing.TB, id string) {
	t.Helper()
	if x := c.send(t, call{method: "DELETE", path: "/api/session", header: sid(id)}); x.Status != 204 {
		t.Fatalf("log out: %d %s", x.Status, x.Body)
	}
}

// seen records, per operation, the statuses checked against the document.
type seen map[string]map[int]bool

func (s seen) add(op string, status int) {
	if s[op] == nil {
		s[op] = map[int]bool{}
	}
	s[op][status] = true
}

// mustCover fails for every operation and status the document declares
// that no check has seen: a status that is documented and never given is as
// much a drift as one given and not documented.
func (s seen) mustCover(t *testing.T, spec *Spec) {
	t.Helper()
	var missing []string
	for path, item := range spec.Doc.Paths.Map() {
		for method, op := range item.Operations() {
			for code := range op.Responses.Map() {
				var status int
				if _, err := fmt.Sscan(code, &status); err != nil {
					missing = append(missing, fmt.Sprintf("%s %s: response %q is no single status", method, path, code))
					continue
				}
				if !s[op.OperationID][status] {
					missing = append(missing, fmt.Sprintf("%s %s (%s) %d", method, path, op.OperationID, status))
				}
			}
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("documented but never checked: %s", m)
	}
}

func mustSpec(t *testing.T) *Spec {
	t.Helper()
	doc, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(doc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTheDocumentListsEveryRoute: the document's paths and methods are
// exactly the service's routes (httpapi.Routes) and the front door's two
// templates with the methods API Gateway forwards, so a route added
// without its description, or a description of a route that is gone, fails.
func TestTheDocumentListsEveryRoute(t *testing.T) {
	spec := mustSpec(t)
	want := map[string][]string{}
	for _, rt := range httpapi.Routes {
		want[rt.Path] = append(want[rt.Path], rt.Method)
	}
	for _, p := range []string{FrontDoorAPI, FrontDoorRest} {
		want[p] = []string{"DELETE", "GET", "PATCH", "POST", "PUT"}
	}
	got := map[string][]string{}
	for path, item := range spec.Doc.Paths.Map() {
		for method := range item.Operations() {
			got[path] = append(got[path], method)
		}
	}
	for _, m := range []map[string][]string{want, got} {
		for _, ms := range m {
			slices.Sort(ms)
		}
	}
	for path, ms := range want {
		if !slices.Equal(got[path], ms) {
			t.Errorf("%s: the document has %v, the service serves %v", path, got[path], ms)
		}
	}
	for path := range got {
		if _, ok := want[path]; !ok {
			t.Errorf("%s: the document describes a path the service does not serve", path)
		}
	}
	// Every path the front door guards must find the front door's
	// description, and the session paths their own.
	for target, op := range map[string]string{
		"/api/vcenter/vm/vm-42": "FrontDoor.api.get", "/rest/vcenter/vm": "FrontDoor.rest.get",
		"/api/session": "Cis.Session.get", httpapi.LegacySessionPath: "Rest.Cis.Session.get",
	} {
		r, _ := http.NewRequest("GET", "http://127.0.0.1"+target, nil)
		route, _, err := spec.Find(r)
		if err != nil || route.Operation.OperationID != op {
			t.Errorf("GET %s found %v (%v), want %s", target, route, err, op)
		}
	}
}

// The requests the cases send, in the SDKs' and curl's forms.

func basic(user, password string) http.Header {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, password)
	return r.Header
}

func sid(id string) http.Header { return hdr(httpapi.HeaderSessionID, id) }

func cookie(id string) http.Header { return hdr("Cookie", httpapi.CookieSessionID+"="+id) }

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

const emptyInput = `{"STRUCTURE":{"operation-input":{}}}`

func userPass(user, password string) string {
	u, _ := json.Marshal(user)
	p, _ := json.Marshal(password)
	return `"securityCtx":{"schemeId":"com.vmware.vapi.std.security.user_pass","userName":` + string(u) + `,"password":` + string(p) + `}`
}

func oauthCtx(token string) string {
	return `"securityCtx":{"schemeId":"com.vmware.vapi.std.security.oauth","accessToken":"` + token + `"}`
}

func sessionCtx(id string) string {
	return `"securityCtx":{"schemeId":"com.vmware.vapi.std.security.session_id","sessionId":"` + id + `"}`
}

// invoke is a com.vmware.cis.session call as vapi_runtime sends it; sec is
// a securityCtx member, or "" for none.
func invoke(id any, operation, sec, input string) string {
	return invokeWith(id, httpapi.ServiceSession, operation, sec, input)
}

func invokeService(id any, service, operation, sec string) string {
	return invokeWith(id, service, operation, sec, emptyInput)
}

func invokeWith(id any, service, operation, sec, input string) string {
	idJSON, _ := json.Marshal(id)
	ctx := `"appCtx":{"opId":"op-1"}`
	if sec != "" {
		ctx += "," + sec
	}
	return `{"jsonrpc":"2.0","method":"invoke","id":` + string(idJSON) + `,"params":{"serviceId":"` + service +
		`","operationId":"` + operation + `","input":` + input + `,"ctx":{` + ctx + `}}}`
}
