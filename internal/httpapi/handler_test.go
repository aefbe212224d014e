package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/logscan"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/session"
)

const (
	goodLogin = "administrator" // as a client types it: the fake takes it as is
	goodPass  = "Admin!23-for-the-surface-tests"
	liveID    = "cb40d6966154bce92713c537d2c4a848" // names the fake's one live session
	issuedID  = "5f0c1e7a9b3d4c2e8a6b0d1f3e5c7a9b" // the token the fake issues at log-in
	unknownID = "0123456789abcdef0123456789abcdef" // well formed, names nothing

	restPath = httpapi.LegacySessionPath
)

// liveSession is the fake's session. Its times are in a zone other than UTC
// and finer than milliseconds, which the wire form is not.
var liveSession = session.Session{
	User:         "Administrator@vsphere.local",
	Created:      time.Date(2025, 7, 16, 9, 18, 48, 517_999_999, time.FixedZone("CEST", 2*3600)),
	LastAccessed: time.Date(2025, 7, 16, 7, 20, 11, 799_000_001, time.UTC),
}

// The answers, byte for byte as vCenter words them.
const (
	info = `{"user":"Administrator@vsphere.local","created_time":"2025-07-16T07:18:48.517Z","last_accessed_time":"2025-07-16T07:20:11.799Z"}`

	authRequired = `{"args":[],"default_message":"Authentication required.","id":"com.vmware.vapi.endpoint.method.authentication.required"}`
	challenge    = `"challenge":"Basic realm=\"VAPI endpoint\""`
	unavailableM = `{"args":[],"default_message":"Service unavailable.","id":"com.vmware.vapi.std.errors.service_unavailable"}`
	notFoundM    = `{"args":[],"default_message":"Not found.","id":"com.vmware.vapi.rest.httpNotFound"}`
	noOperationM = `{"args":[],"default_message":"Operation not found.","id":"com.vmware.vapi.rest.operationNotFound"}`
	badRequestM  = `{"args":[],"default_message":"Invalid request.","id":"com.vmware.vapi.rest.badRequest"}`
	sessionCapM  = `{"args":["550","550","alice@corp.example"],"default_message":"User session count is limited to 550. Existing session count is 550 for user alice@corp.example","id":"com.vmware.vapi.endpoint.failedToLoginMaxUserSessionCountReached"}`

	unauthenticated   = `{"error_type":"UNAUTHENTICATED","messages":[` + authRequired + `],` + challenge + `}`
	unavailable       = `{"error_type":"SERVICE_UNAVAILABLE","messages":[` + unavailableM + `]}`
	notFound          = `{"error_type":"NOT_FOUND","messages":[` + notFoundM + `]}`
	operationNotFound = `{"error_type":"OPERATION_NOT_FOUND","messages":[` + noOperationM + `]}`
	invalidRequest    = `{"error_type":"INVALID_REQUEST","messages":[` + badRequestM + `]}`
	sessionCap        = `{"error_type":"SERVICE_UNAVAILABLE","messages":[` + sessionCapM + `]}`

	restUnauthenticated   = `{"type":"com.vmware.vapi.std.errors.unauthenticated","value":{"messages":[` + authRequired + `],` + challenge + `}}`
	restUnavailable       = `{"type":"com.vmware.vapi.std.errors.service_unavailable","value":{"messages":[` + unavailableM + `]}}`
	restNotFound          = `{"type":"com.vmware.vapi.std.errors.not_found","value":{"messages":[` + notFoundM + `]}}`
	restOperationNotFound = `{"type":"com.vmware.vapi.std.errors.operation_not_found","value":{"messages":[` + noOperationM + `]}}`
	restInvalidRequest    = `{"type":"com.vmware.vapi.std.errors.invalid_request","value":{"messages":[` + badRequestM + `]}}`
	restSessionCap        = `{"type":"com.vmware.vapi.std.errors.service_unavailable","value":{"messages":[` + sessionCapM + `]}}`

	// The /rest session cookie as vCenter sets it (and SameSite=Strict), and
	// as log-out expires it.
	sessionCookie = "vmware-api-session-id=" + issuedID + "; Path=/rest; HttpOnly; Secure; SameSite=Strict"
	expiredCookie = "vmware-api-session-id=; Path=/rest; Max-Age=0; HttpOnly; Secure; SameSite=Strict"
)

// fakeService stands in for the session service: one user, one live
// session, or one error or panic for every call. It records each call.
type fakeService struct {
	err     error
	panic   any
	calls   []string
	refused int // log-ins refused before Login: RefuseMalformed
}

func (f *fakeService) called(call string) {
	f.calls = append(f.calls, call)
	if f.panic != nil {
		panic(f.panic)
	}
}

func (f *fakeService) Login(_ context.Context, login, password string) (session.Token, session.Session, error) {
	f.called("Login " + login)
	switch {
	case f.err != nil:
		return "", session.Session{}, f.err
	case login != goodLogin || password != goodPass:
		return "", session.Session{}, session.Errorf(session.EUNAUTHENTICATED, "wrong password")
	}
	return issuedID, liveSession, nil
}

func (f *fakeService) Get(_ context.Context, rawID string) (session.Session, error) {
	f.called("Get " + rawID)
	switch {
	case f.err != nil:
		return session.Session{}, f.err
	case rawID != liveID:
		return session.Session{}, session.Errorf(session.EUNAUTHENTICATED, "no session")
	}
	return liveSession, nil
}

func (f *fakeService) Logout(_ context.Context, rawID string) error {
	f.called("Logout " + rawID)
	switch {
	case f.err != nil:
		return f.err
	case rawID != liveID:
		return session.Errorf(session.EUNAUTHENTICATED, "no session")
	}
	return nil
}

func (f *fakeService) RefuseMalformed(context.Context) { f.refused++ }

// exchange is one request and everything the answer must be.
type exchange struct {
	name           string
	method, target string
	header         http.Header // canonicalized by Add; several values are several headers
	body           string

	status     int
	wantBody   string
	wantCookie string   // the one Set-Cookie expected; "" for none
	wantCalls  []string // what reached the service, in order
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func withAuth(user, pass string) http.Header {
	return http.Header{"Authorization": {basic(user, pass)}}
}

func withID(id string) http.Header { return http.Header{"Vmware-Api-Session-Id": {id}} }

func withCookie(cookie string) http.Header { return http.Header{"Cookie": {cookie}} }

func merge(hs ...http.Header) http.Header {
	out := http.Header{}
	for _, h := range hs {
		for k, vs := range h {
			out[k] = append(out[k], vs...)
		}
	}
	return out
}

// Credentials at the session package's limits fit the Authorization limit;
// anything longer is refused unread.
var (
	longestUser   = strings.Repeat("u", session.MaxUserLen)
	longestAuth   = withAuth(longestUser, strings.Repeat("p", session.MaxPasswordLen))
	oversizedAuth = withAuth(goodLogin, goodPass+strings.Repeat("p", httpapi.MaxAuthorizationLen))
)

func TestModernSurface(t *testing.T) {
	const path = httpapi.SessionPath
	run(t, nil, []exchange{
		// Log-in.
		{name: "LogInAnswers201AndTheBareToken", method: "POST", target: path, header: withAuth(goodLogin, goodPass),
			status: 201, wantBody: `"` + issuedID + `"`, wantCalls: []string{"Login administrator"}},
		{name: "LogInIgnoresTheQuery", method: "POST", target: path + "?~action=get", header: withAuth(goodLogin, goodPass),
			status: 201, wantBody: `"` + issuedID + `"`, wantCalls: []string{"Login administrator"}},
		{name: "LogInSetsNoCookieEvenWithoutHeaderAuthn", method: "POST", target: path, header: merge(withAuth(goodLogin, goodPass), http.Header{"Vmware-Use-Header-Authn": {"false"}}),
			status: 201, wantBody: `"` + issuedID + `"`, wantCalls: []string{"Login administrator"}},
		{name: "LogInWithAWrongPasswordIsUnauthenticated", method: "POST", target: path, header: withAuth(goodLogin, "wrong-password-1"),
			status: 401, wantBody: unauthenticated, wantCalls: []string{"Login administrator"}},
		{name: "LogInWithoutCredentialsNeverReachesTheService", method: "POST", target: path,
			status: 401, wantBody: unauthenticated},
		{name: "LogInWithAnotherSchemeNeverReachesTheService", method: "POST", target: path, header: http.Header{"Authorization": {"Bearer " + goodPass}},
			status: 401, wantBody: unauthenticated},
		{name: "LogInWithUndecodableBasicNeverReachesTheService", method: "POST", target: path, header: http.Header{"Authorization": {"Basic %%%"}},
			status: 401, wantBody: unauthenticated},
		{name: "LogInWithTwoAuthorizationHeadersNeverReachesTheService", method: "POST", target: path, header: merge(withAuth(goodLogin, goodPass), withAuth(goodLogin, goodPass)),
			status: 401, wantBody: unauthenticated},
		{name: "LogInWithTheLongestAcceptableCredentialsReachesTheService", method: "POST", target: path, header: longestAuth,
			status: 401, wantBody: unauthenticated, wantCalls: []string{"Login " + longestUser}},
		{name: "LogInWithAnOversizedAuthorizationNeverReachesTheService", method: "POST", target: path, header: oversizedAuth,
			status: 401, wantBody: unauthenticated},

		// Get.
		{name: "GetAnswersTheSessionInfoInUTCMilliseconds", method: "GET", target: path, header: withID(liveID),
			status: 200, wantBody: info, wantCalls: []string{"Get " + liveID}},
		{name: "GetTrimsTheHeader", method: "GET", target: path, header: withID(" " + liveID + " "),
			status: 200, wantBody: info, wantCalls: []string{"Get " + liveID}},
		{name: "GetIgnoresAnEmptyJSONBody", method: "GET", target: path, header: merge(withID(liveID), http.Header{"Content-Type": {"application/json"}}), body: "{}",
			status: 200, wantBody: info, wantCalls: []string{"Get " + liveID}},
		{name: "GetWithoutTheHeaderIsUnauthenticated", method: "GET", target: path,
			status: 401, wantBody: unauthenticated, wantCalls: []string{"Get "}},
		{name: "GetWithTwoHeadersPresentsNoID", method: "GET", target: path, header: merge(withID(liveID), withID(liveID)),
			status: 401, wantBody: unauthenticated, wantCalls: []string{"Get "}},
		{name: "GetOfAnUnknownSessionIsUnauthenticated", method: "GET", target: path, header: withID(unknownID),
			status: 401, wantBody: unauthenticated, wantCalls: []string{"Get " + unknownID}},
		{name: "GetNeverReadsTheCookie", method: "GET", target: path, header: withCookie("vmware-api-session-id=" + liveID),
			status: 401, wantBody: unauthenticated, wantCalls: []string{"Get "}},

		// Delete.
		{name: "DeleteAnswers204AndNoBody", method: "DELETE", target: path, header: withID(liveID),
			status: 204, wantCalls: []string{"Logout " + liveID}},
		{name: "DeleteIgnoresAnEmptyJSONBody", method: "DELETE", target: path, header: merge(withID(liveID), http.Header{"Content-Type": {"application/json"}}), body: "{}",
			status: 204, wantCalls: []string{"Logout " + liveID}},
		{name: "DeleteOfAnUnknownSessionIsUnauthenticated", method: "DELETE", target: path, header: withID(unknownID),
			status: 401, wantBody: unauthenticated, wantCalls: []string{"Logout " + unknownID}},
		{name: "DeleteNeverReadsTheCookie", method: "DELETE", target: path, header: withCookie("vmware-api-session-id=" + liveID),
			status: 401, wantBody: unauthenticated, wantCalls: []string{"Logout "}},

		// What names no operation never reaches the service.
		{name: "UnknownPathIsNotFound", method: "GET", target: "/api/nothing", header: withID(liveID), status: 404, wantBody: notFound},
		{name: "PathBelowTheSessionIsNotFound", method: "GET", target: path + "/x", header: withID(liveID), status: 404, wantBody: notFound},
		{name: "TrailingSlashIsNotFound", method: "GET", target: path + "/", header: withID(liveID), status: 404, wantBody: notFound},
		{name: "DoubleSlashIsNotFound", method: "GET", target: "//api/session", header: withID(liveID), status: 404, wantBody: notFound},
		{name: "DotSegmentIsNotFound", method: "DELETE", target: "/api/./session", header: withID(liveID), status: 404, wantBody: notFound},
		{name: "PutIsOperationNotFound", method: "PUT", target: path, header: withID(liveID), status: 404, wantBody: operationNotFound},
		{name: "PatchIsOperationNotFound", method: "PATCH", target: path, header: withID(liveID), status: 404, wantBody: operationNotFound},
		{name: "OptionsIsOperationNotFound", method: "OPTIONS", target: path, status: 404, wantBody: operationNotFound},
		{name: "HeadIsOperationNotFoundAndNeverTouchesTheSession", method: "HEAD", target: path, header: withID(liveID), status: 404, wantBody: operationNotFound},
	})
}

func TestLegacySurface(t *testing.T) {
	const path = restPath
	headerAuthn := func(v string) http.Header {
		return merge(withAuth(goodLogin, goodPass), http.Header{"Vmware-Use-Header-Authn": {v}})
	}
	run(t, nil, []exchange{
		// Log-in: the cookie unless header authentication is asked for.
		{name: "LogInAnswersTheWrappedTokenAndSetsTheCookie", method: "POST", target: path, header: withAuth(goodLogin, goodPass),
			status: 200, wantBody: `{"value":"` + issuedID + `"}`, wantCookie: sessionCookie, wantCalls: []string{"Login administrator"}},
		{name: "LogInWithHeaderAuthnSetsNoCookie", method: "POST", target: path, header: headerAuthn("true"),
			status: 200, wantBody: `{"value":"` + issuedID + `"}`, wantCalls: []string{"Login administrator"}},
		{name: "HeaderAuthnIsCaseInsensitive", method: "POST", target: path, header: headerAuthn("TRUE"),
			status: 200, wantBody: `{"value":"` + issuedID + `"}`, wantCalls: []string{"Login administrator"}},
		{name: "HeaderAuthnIsTrimmed", method: "POST", target: path, header: headerAuthn(" True "),
			status: 200, wantBody: `{"value":"` + issuedID + `"}`, wantCalls: []string{"Login administrator"}},
		{name: "HeaderAuthnFalseSetsTheCookie", method: "POST", target: path, header: headerAuthn("false"),
			status: 200, wantBody: `{"value":"` + issuedID + `"}`, wantCookie: sessionCookie, wantCalls: []string{"Login administrator"}},
		{name: "LogInWithAWrongPasswordIsUnauthenticatedAndSetsNoCookie", method: "POST", target: path, header: withAuth(goodLogin, "wrong-password-1"),
			status: 401, wantBody: restUnauthenticated, wantCalls: []string{"Login administrator"}},
		{name: "LogInWithoutCredentialsNeverReachesTheService", method: "POST", target: path,
			status: 401, wantBody: restUnauthenticated},
		{name: "LogInWithAnOversizedAuthorizationNeverReachesTheService", method: "POST", target: path, header: oversizedAuth,
			status: 401, wantBody: restUnauthenticated},

		// Get, by ~action or by method; the id from the header or the cookie.
		{name: "GetActionAnswersTheWrappedInfo", method: "POST", target: path + "?~action=get", header: withID(liveID),
			status: 200, wantBody: `{"value":` + info + `}`, wantCalls: []string{"Get " + liveID}},
		{name: "GetAnswersTheWrappedInfo", method: "GET", target: path, header: withID(liveID),
			status: 200, wantBody: `{"value":` + info + `}`, wantCalls: []string{"Get " + liveID}},
		{name: "GetActionWithoutASessionIsUnauthenticated", method: "POST", target: path + "?~action=get",
			status: 401, wantBody: restUnauthenticated, wantCalls: []string{"Get "}},
		{name: "GetReadsTheCookieAmongOthers", method: "GET", target: path, header: withCookie("lang=en; vmware-api-session-id=" + liveID),
			status: 200, wantBody: `{"value":` + info + `}`, wantCalls: []string{"Get " + liveID}},
		{name: "TheHeaderWinsOverAGoodCookie", method: "GET", target: path, header: merge(withID(unknownID), withCookie("vmware-api-session-id="+liveID)),
			status: 401, wantBody: restUnauthenticated, wantCalls: []string{"Get " + unknownID}},
		{name: "TheHeaderWinsOverABadCookie", method: "GET", target: path, header: merge(withID(liveID), withCookie("vmware-api-session-id="+unknownID)),
			status: 200, wantBody: `{"value":` + info + `}`, wantCalls: []string{"Get " + liveID}},
		{name: "TwoSessionCookiesPresentNoID", method: "GET", target: path, header: withCookie("vmware-api-session-id=" + liveID + "; vmware-api-session-id=" + unknownID),
			status: 401, wantBody: restUnauthenticated, wantCalls: []string{"Get "}},

		// Delete: 200 and no body; a cookie presented is expired.
		{name: "DeleteByHeaderAnswers200AndNoBodyAndNoCookie", method: "DELETE", target: path, header: withID(liveID),
			status: 200, wantCalls: []string{"Logout " + liveID}},
		{name: "DeleteByCookieExpiresTheCookie", method: "DELETE", target: path, header: withCookie("vmware-api-session-id=" + liveID),
			status: 200, wantCookie: expiredCookie, wantCalls: []string{"Logout " + liveID}},
		{name: "FailedDeleteLeavesTheCookie", method: "DELETE", target: path, header: withCookie("vmware-api-session-id=" + unknownID),
			status: 401, wantBody: restUnauthenticated, wantCalls: []string{"Logout " + unknownID}},

		// ~action: an unknown one names no operation, a malformed one is a bad request.
		{name: "UnknownActionIsOperationNotFound", method: "POST", target: path + "?~action=delete", header: withID(liveID), status: 404, wantBody: restOperationNotFound},
		{name: "ActionOnGetIsOperationNotFound", method: "GET", target: path + "?~action=get", header: withID(liveID), status: 404, wantBody: restOperationNotFound},
		{name: "ActionOnDeleteIsOperationNotFound", method: "DELETE", target: path + "?~action=get", header: withID(liveID), status: 404, wantBody: restOperationNotFound},
		{name: "EmptyActionIsInvalidRequest", method: "POST", target: path + "?~action=", header: withID(liveID), status: 400, wantBody: restInvalidRequest},
		{name: "RepeatedActionIsInvalidRequest", method: "POST", target: path + "?~action=get&~action=get", header: withID(liveID), status: 400, wantBody: restInvalidRequest},
		{name: "UnparsableQueryIsInvalidRequest", method: "POST", target: path + "?~action=%zz", header: withID(liveID), status: 400, wantBody: restInvalidRequest},

		// What names no operation never reaches the service.
		{name: "PutIsOperationNotFound", method: "PUT", target: path, header: withID(liveID), status: 404, wantBody: restOperationNotFound},
		{name: "HeadIsOperationNotFoundAndNeverTouchesTheSession", method: "HEAD", target: path, header: withID(liveID), status: 404, wantBody: restOperationNotFound},
		{name: "UnknownPathIsNotFound", method: "GET", target: "/rest/com/vmware/cis/nothing", status: 404, wantBody: restNotFound},
		{name: "TheBaseIsNotFound", method: "GET", target: "/rest", status: 404, wantBody: restNotFound},
		{name: "UncleanPathIsNotFound", method: "GET", target: "/rest//com/vmware/cis/session", header: withID(liveID), status: 404, wantBody: restNotFound},
	})
}

// Each failure of the service is answered the one way its code says, on
// every operation of both surfaces, and a backend failure discloses nothing.
func TestServiceErrorsAreMappedToTheWireOnce(t *testing.T) {
	requests := []struct {
		name           string
		method, target string
		header         http.Header
		legacy         bool
	}{
		{"LogIn", "POST", httpapi.SessionPath, withAuth(goodLogin, goodPass), false},
		{"Get", "GET", httpapi.SessionPath, withID(liveID), false},
		{"Delete", "DELETE", httpapi.SessionPath, withID(liveID), false},
		{"RestLogIn", "POST", restPath, withAuth(goodLogin, goodPass), true},
		{"RestGetAction", "POST", restPath + "?~action=get", withID(liveID), true},
		{"RestGet", "GET", restPath, withID(liveID), true},
		{"RestDelete", "DELETE", restPath, merge(withID(liveID), withCookie("vmware-api-session-id="+liveID)), true},
	}
	failures := []struct {
		name           string
		err            error
		panic          any
		status         int
		body, restBody string
	}{
		{name: "UnauthenticatedIs401", err: session.Errorf(session.EUNAUTHENTICATED, "no session"),
			status: 401, body: unauthenticated, restBody: restUnauthenticated},
		// The service's decision wins over its cause's code: a missing
		// session is "log in again", never a 404.
		{name: "UnauthenticatedOverAStoreNotFoundIs401", err: &session.Error{Code: session.EUNAUTHENTICATED, Err: session.Errorf(session.ENOTFOUND, "no session")},
			status: 401, body: unauthenticated, restBody: restUnauthenticated},
		{name: "NotFoundIs404", err: session.Errorf(session.ENOTFOUND, "no such thing"),
			status: 404, body: notFound, restBody: restNotFound},
		{name: "InvalidIs400", err: session.Errorf(session.EINVALID, "malformed"),
			status: 400, body: invalidRequest, restBody: restInvalidRequest},
		{name: "SessionCapIsVCentersOwn503", err: &session.Error{Code: session.ELIMIT, Err: &session.SessionLimitError{Limit: 550, Existing: 550, User: "alice@corp.example"}},
			status: 503, body: sessionCap, restBody: restSessionCap},
		{name: "SessionCapWithoutItsFactsDisclosesNothing", err: session.Errorf(session.ELIMIT, "too many"),
			status: 503, body: unavailable, restBody: restUnavailable},
		{name: "BackendFailureDisclosesNothing", err: session.Unavailable("touch session", errors.New("dial tcp 10.1.2.3:8000: connection refused")),
			status: 503, body: unavailable, restBody: restUnavailable},
		{name: "UnexpectedErrorIs503NotA500", err: errors.New("a bug"),
			status: 503, body: unavailable, restBody: restUnavailable},
		{name: "PanicIsRecoveredInto503", panic: "a bug holding " + liveID,
			status: 503, body: unavailable, restBody: restUnavailable},
		{name: "RuntimePanicIsRecoveredInto503", panic: runtimeError(),
			status: 503, body: unavailable, restBody: restUnavailable},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			var cases []exchange
			for _, r := range requests {
				body := f.body
				if r.legacy {
					body = f.restBody
				}
				cases = append(cases, exchange{name: r.name, method: r.method, target: r.target, header: r.header,
					status: f.status, wantBody: body, wantCalls: []string{callOf(r.method, r.target, r.header)}})
			}
			run(t, &fakeService{err: f.err, panic: f.panic}, cases)
		})
	}
}

// callOf is the call a request that reaches the service makes.
func callOf(method, target string, h http.Header) string {
	switch {
	case method == "DELETE":
		return "Logout " + h.Get("Vmware-Api-Session-Id")
	case method == "POST" && !strings.Contains(target, "~action=get"):
		return "Login " + goodLogin
	}
	return "Get " + h.Get("Vmware-Api-Session-Id")
}

// runtimeError returns what a nil map write panics with.
func runtimeError() (p any) {
	defer func() { p = recover() }()
	var m map[string]int
	//lint:ignore SA5000 the write to a nil map is the point: it panics with a runtime.Error
	m["x"] = 1
	return nil
}

// A function serves only its operations; every other route of the service
// answers OPERATION_NOT_FOUND without reaching it.
func TestEachOperationServesOnlyItsRoutes(t *testing.T) {
	requests := []struct {
		op             httpapi.Operation
		method, target string
		header         http.Header
		status         int
		refusal        string
	}{
		{httpapi.OpCreate, "POST", httpapi.SessionPath, withAuth(goodLogin, goodPass), 201, operationNotFound},
		{httpapi.OpGet, "GET", httpapi.SessionPath, withID(liveID), 200, operationNotFound},
		{httpapi.OpDelete, "DELETE", httpapi.SessionPath, withID(liveID), 204, operationNotFound},
		{httpapi.OpLegacyPost, "POST", restPath, withAuth(goodLogin, goodPass), 200, restOperationNotFound},
		{httpapi.OpLegacyPost, "POST", restPath + "?~action=get", withID(liveID), 200, restOperationNotFound},
		{httpapi.OpGet, "GET", restPath, withID(liveID), 200, restOperationNotFound},
		{httpapi.OpDelete, "DELETE", restPath, withID(liveID), 200, restOperationNotFound},
	}
	for _, op := range httpapi.AllOperations {
		t.Run(string(op), func(t *testing.T) {
			for _, r := range requests {
				svc := &fakeService{}
				rec := serve(svc, []httpapi.Operation{op}, r.method, r.target, r.header)
				served := rec.Code == r.status && len(svc.calls) == 1
				refused := rec.Code == 404 && rec.Body.String() == r.refusal && len(svc.calls) == 0
				if r.op == op && !served || r.op != op && !refused {
					t.Errorf("%s %s: %d %s, service called %d times; want it served only by %s", r.method, r.target, rec.Code, rec.Body, len(svc.calls), r.op)
				}
			}
		})
	}
	t.Run("NoneNamedServesAll", func(t *testing.T) {
		for _, r := range requests {
			svc := &fakeService{}
			if rec := serve(svc, nil, r.method, r.target, r.header); rec.Code != r.status || len(svc.calls) != 1 {
				t.Errorf("%s %s = %d %s, want %d", r.method, r.target, rec.Code, rec.Body, r.status)
			}
		}
	})
}

// serve sends one request to a handler of ops over svc.
func serve(svc *fakeService, ops []httpapi.Operation, method, target string, header http.Header) *httptest.ResponseRecorder {
	h := httpapi.New(svc, slog.New(slog.NewJSONHandler(logscan.Writer(), nil)), ops...)
	req := httptest.NewRequest(method, target, nil)
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	rec := httptest.NewRecorder()
	logscan.Recording(h).ServeHTTP(rec, req)
	return rec
}

// run sends each exchange to a handler of every operation over a fresh copy
// of svc (a fake that succeeds when nil), and checks all of the answer: the
// status, the body byte for byte, the headers every answer must carry or
// must not, the cookie, the calls that reached the service, and the access
// log line, which must give the status sent and no secret.
func run(t *testing.T, svc *fakeService, cases []exchange) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fake := &fakeService{}
			if svc != nil {
				fake.err, fake.panic = svc.err, svc.panic
			}
			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(io.MultiWriter(&logs, logscan.Writer()), nil))
			req := httptest.NewRequest(c.method, c.target, strings.NewReader(c.body))
			for k, vs := range c.header {
				for _, v := range vs {
					req.Header.Add(k, v)
				}
			}
			rec := httptest.NewRecorder()
			logscan.Recording(httpapi.New(fake, log)).ServeHTTP(rec, req)

			if rec.Code != c.status || rec.Body.String() != c.wantBody {
				t.Errorf("answer = %d %s\nwant     %d %s", rec.Code, rec.Body, c.status, c.wantBody)
			}
			wantHeader(t, rec, "Cache-Control", "no-store")
			wantHeader(t, rec, "WWW-Authenticate", map[bool]string{true: httpapi.Challenge}[c.status == 401])
			wantHeader(t, rec, "Content-Type", map[bool]string{true: "application/json"}[c.wantBody != ""])
			wantHeader(t, rec, "Set-Cookie", c.wantCookie)
			if !slices.Equal(fake.calls, c.wantCalls) {
				t.Errorf("calls to the service = %q, want %q", fake.calls, c.wantCalls)
			}
			wantAccessLog(t, logs.String(), rec.Code)
		})
	}
}

// wantHeader checks that rec carries name exactly once with value, or not
// at all when value is "".
func wantHeader(t *testing.T, rec *httptest.ResponseRecorder, name, value string) {
	t.Helper()
	got := rec.Result().Header.Values(name)
	switch {
	case value == "" && len(got) != 0:
		t.Errorf("%s = %q, want none", name, got)
	case value != "" && (len(got) != 1 || got[0] != value):
		t.Errorf("%s = %q, want %q", name, got, value)
	}
}

// wantAccessLog checks that the log has one access line, giving status, and
// none of the secrets the tests use.
func wantAccessLog(t *testing.T, logs string, status int) {
	t.Helper()
	for _, secret := range []string{liveID, issuedID, goodPass} {
		if strings.Contains(logs, secret) {
			t.Errorf("a secret (%.4s…) is in the log:\n%s", secret, strings.ReplaceAll(logs, secret, "[SECRET]"))
		}
	}
	var lines int
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var l struct {
			Msg    string `json:"msg"`
			Status int    `json:"status"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if l.Msg == "request" {
			lines++
			if l.Status != status {
				t.Errorf("access log status = %d, sent %d", l.Status, status)
			}
		}
	}
	if lines != 1 {
		t.Errorf("%d access log lines, want 1:\n%s", lines, logs)
	}
}

// A log-in refused before it reaches the service (no Basic credentials, or
// credentials that cannot be read) is still told to it, for the operator's
// count of refused log-ins by cause; an accepted one is not.
func TestLogInsRefusedBeforeTheServiceAreCountedAsMalformed(t *testing.T) {
	for _, c := range []struct {
		name   string
		header http.Header
		want   int
	}{
		{"NoAuthorization", nil, 1},
		{"AnotherScheme", http.Header{"Authorization": {"Bearer " + goodPass}}, 1},
		{"Undecodable", http.Header{"Authorization": {"Basic %%%"}}, 1},
		{"Oversized", oversizedAuth, 1},
		{"ReadableCredentials", withAuth(goodLogin, goodPass), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			fake := &fakeService{}
			h := httpapi.New(fake, slog.New(slog.NewJSONHandler(io.Discard, nil)))
			r := httptest.NewRequest("POST", "/api/session", nil)
			for k, vs := range c.header {
				r.Header[k] = vs
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if fake.refused != c.want {
				t.Errorf("refused before the service %d times, want %d", fake.refused, c.want)
			}
		})
	}
}
