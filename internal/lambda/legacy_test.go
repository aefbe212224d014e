package lambda_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/session"
)

// The legacy surface, /rest/com/vmware/cis/session, as govmomi's REST client
// and the tools built on it speak it (see CONTRACT.md).

const restPath = "/rest/com/vmware/cis/session"

var legacyTokenRE = regexp.MustCompile(`^\{"value":"([0-9a-f]{32})"\}$`)

func headerAuthn(h map[string]string) map[string]string {
	h["vmware-use-header-authn"] = "true"
	return h
}

// restLogin logs in on /rest asking for header authentication, as govmomi
// does, and returns the token.
func (s *stack) restLogin() string {
	s.t.Helper()
	r := s.v2("POST", restPath, headerAuthn(basic(adminName, adminPass)), "")
	m := legacyTokenRE.FindStringSubmatch(r.Body)
	if r.Status != 200 || m == nil {
		s.t.Fatalf("/rest login: %d %s", r.Status, r.Body)
	}
	return m[1]
}

type legacyError struct {
	Type  string `json:"type"`
	Value struct {
		Messages  []message `json:"messages"`
		Challenge *string   `json:"challenge"`
	} `json:"value"`
}

// wantLegacyError checks a well-formed, wrapped vAPI error of the given
// type (lower_snake, as /rest names them) and status.
func wantLegacyError(t *testing.T, r response, status int, errorType string) {
	t.Helper()
	wantErrorStatus(t, r, status)
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.Body), &top); err != nil || len(top) != 2 || top["type"] == nil || top["value"] == nil {
		t.Fatalf("error body is not {type, value}: %s", r.Body)
	}
	var e legacyError
	if err := json.Unmarshal([]byte(r.Body), &e); err != nil {
		t.Fatalf("error body is not a wrapped vAPI error: %v: %s", err, r.Body)
	}
	if want := "com.vmware.vapi.std.errors." + errorType; e.Type != want || len(e.Value.Messages) == 0 {
		t.Fatalf("error = %s, want type %s with messages", r.Body, want)
	}
	wantErrorContent(t, r, e.Value.Messages, e.Value.Challenge)
}

// legacyInfo decodes a /rest get body, which must be exactly {"value": info}.
func legacyInfo(t *testing.T, r response) map[string]string {
	t.Helper()
	var body struct {
		Value map[string]string `json:"value"`
	}
	var top map[string]json.RawMessage
	if r.Status != 200 || json.Unmarshal([]byte(r.Body), &top) != nil || len(top) != 1 ||
		json.Unmarshal([]byte(r.Body), &body) != nil || len(body.Value) != 3 {
		t.Fatalf("/rest get = %d %s, want 200 and {\"value\":{user, created_time, last_accessed_time}}", r.Status, r.Body)
	}
	return body.Value
}

func TestLegacySessionLifecycleThroughLambda(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		st := newStack(t, dynamotest.Setup(t, srv))

		r := st.v2("POST", restPath, headerAuthn(basic(adminName, adminPass)), "")
		m := legacyTokenRE.FindStringSubmatch(r.Body)
		if r.Status != 200 || m == nil {
			t.Fatalf("login = %d %q, want 200 and {\"value\":\"<32 hex digits>\"}", r.Status, r.Body)
		}
		if r.header("Cache-Control") != "no-store" {
			t.Errorf("login Cache-Control = %q, want no-store", r.header("Cache-Control"))
		}
		tok := m[1]
		created := st.clock.Now()

		// govmomi's read: POST with ?~action=get.
		st.clock.Advance(42*time.Second + 7*time.Millisecond)
		info := legacyInfo(t, st.v2req(request{method: "POST", path: restPath, query: "~action=get", headers: sid(tok)}))
		want := map[string]string{
			"user":               adminName,
			"created_time":       created.Format(httpapi.TimeFormat),
			"last_accessed_time": st.clock.Now().Format(httpapi.TimeFormat),
		}
		for k, v := range want {
			if info[k] != v {
				t.Errorf("%s = %q, want %q", k, info[k], v)
			}
		}

		// The plain GET reads it too, and is a use as well.
		st.clock.Advance(time.Minute)
		info = legacyInfo(t, st.v2("GET", restPath, sid(tok), ""))
		if info["created_time"] != want["created_time"] || info["last_accessed_time"] != st.clock.Now().Format(httpapi.TimeFormat) {
			t.Fatalf("GET %v: created must stay, last access must be now", info)
		}

		r = st.v2("DELETE", restPath, sid(tok), "")
		if r.Status != 200 || r.Body != "" {
			t.Fatalf("delete = %d %q, want 200 and no body", r.Status, r.Body)
		}
		wantLegacyError(t, st.v2req(request{method: "POST", path: restPath, query: "~action=get", headers: sid(tok)}), 401, "unauthenticated")
		wantLegacyError(t, st.v2("GET", restPath, sid(tok), ""), 401, "unauthenticated")
		wantLegacyError(t, st.v2("DELETE", restPath, sid(tok), ""), 401, "unauthenticated")
	})
}

func TestOneSessionServesBothSurfaces(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		st := newStack(t, dynamotest.Setup(t, srv))

		fromAPI := st.login()
		st.clock.Advance(time.Second)
		if info := legacyInfo(t, st.v2("GET", restPath, sid(fromAPI), "")); info["user"] != adminName {
			t.Fatalf("an /api session on /rest: %v", info)
		}
		st.clock.Advance(time.Second)
		r := st.v2("GET", "/api/session", sid(fromAPI), "")
		if r.Status != 200 || !strings.Contains(r.Body, `"last_accessed_time":"`+st.clock.Now().Format(httpapi.TimeFormat)+`"`) {
			t.Fatalf("/api get after a /rest get = %d %s", r.Status, r.Body)
		}
		if r := st.v2("DELETE", restPath, sid(fromAPI), ""); r.Status != 200 {
			t.Fatalf("/rest delete of an /api session = %d %s", r.Status, r.Body)
		}
		wantError(t, st.v2("GET", "/api/session", sid(fromAPI), ""), 401, "UNAUTHENTICATED")

		fromREST := st.restLogin()
		if r := st.v2("GET", "/api/session", sid(fromREST), ""); r.Status != 200 || !strings.Contains(r.Body, adminName) {
			t.Fatalf("a /rest session on /api = %d %s", r.Status, r.Body)
		}
		if r := st.v2("DELETE", "/api/session", sid(fromREST), ""); r.Status != 204 {
			t.Fatalf("/api delete of a /rest session = %d %s", r.Status, r.Body)
		}
		wantLegacyError(t, st.v2("GET", restPath, sid(fromREST), ""), 401, "unauthenticated")
	})
}

// sessionCookie returns the one vmware-api-session-id cookie a response
// sets, from the HTTP API response's cookies field.
func sessionCookie(t *testing.T, r response) *http.Cookie {
	t.Helper()
	if sc := r.header("Set-Cookie"); sc != "" {
		t.Fatalf("Set-Cookie among the headers (%q): HTTP API sends cookies in the cookies field", sc)
	}
	var found *http.Cookie
	for _, line := range r.Cookies {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("cookie %q: %v", line, err)
		}
		if c.Name == "vmware-api-session-id" {
			if found != nil {
				t.Fatalf("two session cookies: %q", r.Cookies)
			}
			found = c
		}
	}
	return found
}

func TestLegacyLoginSetsTheSessionCookieUnlessHeaderAuthnIsAsked(t *testing.T) {
	srv := dynamotest.Engines(t)[0]
	st := newStack(t, dynamotest.Setup(t, srv))

	r := st.v2("POST", restPath, basic(adminName, adminPass), "")
	m := legacyTokenRE.FindStringSubmatch(r.Body)
	if r.Status != 200 || m == nil {
		t.Fatalf("login = %d %s", r.Status, r.Body)
	}
	c := sessionCookie(t, r)
	if c == nil {
		t.Fatalf("login without vmware-use-header-authn set no session cookie: %q", r.Cookies)
	}
	if c.Value != m[1] || c.Path != "/rest" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.MaxAge != 0 || c.Domain != "" {
		t.Fatalf("session cookie %q, want the id with Path=/rest; Secure; HttpOnly; SameSite=Strict and no lifetime of its own", r.Cookies)
	}

	for _, v := range []string{"true", "TRUE", " True "} {
		r := st.v2("POST", restPath, map[string]string{"authorization": basic(adminName, adminPass)["authorization"], "vmware-use-header-authn": v}, "")
		if r.Status != 200 || sessionCookie(t, r) != nil {
			t.Fatalf("login with vmware-use-header-authn %q = %d, cookies %q: want 200 and no cookie", v, r.Status, r.Cookies)
		}
	}
	r = st.v2("POST", restPath, map[string]string{"authorization": basic(adminName, adminPass)["authorization"], "vmware-use-header-authn": "false"}, "")
	if sessionCookie(t, r) == nil {
		t.Fatalf("login with vmware-use-header-authn false set no cookie")
	}
	// Neither a failed log-in nor the /api surface sets one.
	r = st.v2("POST", restPath, basic(adminName, "wrong-password-1"), "")
	wantLegacyError(t, r, 401, "unauthenticated")
	if sessionCookie(t, r) != nil {
		t.Fatalf("failed login set a cookie: %q", r.Cookies)
	}
	if r := st.v2("POST", "/api/session", basic(adminName, adminPass), ""); len(r.Cookies) != 0 {
		t.Fatalf("/api login set cookies %q", r.Cookies)
	}
}

func TestLegacySurfaceAcceptsTheSessionCookie(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		st := newStack(t, dynamotest.Setup(t, srv))
		r := st.v2("POST", restPath, basic(adminName, adminPass), "")
		c := sessionCookie(t, r)
		if c == nil {
			t.Fatalf("no session cookie: %d %s", r.Status, r.Body)
		}
		// What a browser or curl's cookie jar sends back, among other cookies.
		jar := []string{"lang=en", "vmware-api-session-id=" + c.Value}
		unknown, _ := session.NewToken()

		if info := legacyInfo(t, st.v2req(request{method: "POST", path: restPath, query: "~action=get", cookies: jar})); info["user"] != adminName {
			t.Fatalf("get by cookie: %v", info)
		}
		legacyInfo(t, st.v2req(request{method: "GET", path: restPath, cookies: jar}))

		// The header wins over the cookie, whichever of them is good.
		wantLegacyError(t, st.v2req(request{method: "GET", path: restPath, headers: sid(string(unknown)), cookies: jar}), 401, "unauthenticated")
		good := st.restLogin()
		legacyInfo(t, st.v2req(request{method: "GET", path: restPath, headers: sid(good), cookies: []string{"vmware-api-session-id=" + string(unknown)}}))

		// Two session cookies name no one session.
		wantLegacyError(t, st.v2req(request{method: "GET", path: restPath, cookies: []string{jar[1], "vmware-api-session-id=" + good}}), 401, "unauthenticated")

		// /api never takes the id from a cookie.
		wantError(t, st.v2req(request{method: "GET", path: "/api/session", cookies: jar}), 401, "UNAUTHENTICATED")
		wantError(t, st.v2req(request{method: "DELETE", path: "/api/session", cookies: jar}), 401, "UNAUTHENTICATED")

		// Log-out by cookie ends the session and expires the cookie.
		r = st.v2req(request{method: "DELETE", path: restPath, cookies: jar})
		if r.Status != 200 || r.Body != "" {
			t.Fatalf("delete by cookie = %d %q", r.Status, r.Body)
		}
		gone := sessionCookie(t, r)
		if gone == nil || gone.MaxAge >= 0 || gone.Value != "" || gone.Path != "/rest" {
			t.Fatalf("delete by cookie: cookies %q, want vmware-api-session-id expired (Max-Age=0) on Path=/rest", r.Cookies)
		}
		wantLegacyError(t, st.v2req(request{method: "GET", path: restPath, cookies: jar}), 401, "unauthenticated")

		// Log-out by header alone has no cookie to expire.
		r = st.v2("DELETE", restPath, sid(good), "")
		if r.Status != 200 || len(r.Cookies) != 0 {
			t.Fatalf("delete by header = %d, cookies %q: want 200 and none", r.Status, r.Cookies)
		}
	})
}

func TestLegacySurfaceThroughRESTAPIPayload(t *testing.T) {
	srv := dynamotest.Engines(t)[0]
	st := newStack(t, dynamotest.Setup(t, srv))
	r := st.v1req(request{method: "POST", path: restPath, headers: basic(adminName, adminPass)})
	m := legacyTokenRE.FindStringSubmatch(r.Body)
	if r.Status != 200 || m == nil {
		t.Fatalf("v1 login = %d %s", r.Status, r.Body)
	}
	if sc, _ := http.ParseSetCookie(r.header("Set-Cookie")); sc == nil || sc.Value != m[1] || sc.Path != "/rest" {
		t.Fatalf("v1 login Set-Cookie = %q", r.header("Set-Cookie"))
	}
	if info := legacyInfo(t, st.v1req(request{method: "POST", path: restPath, query: "~action=get", headers: sid(m[1])})); info["user"] != adminName {
		t.Fatalf("v1 ~action=get: %v", info)
	}
	legacyInfo(t, st.v1req(request{method: "GET", path: restPath, cookies: []string{"vmware-api-session-id=" + m[1]}}))
	if r := st.v1req(request{method: "DELETE", path: restPath, headers: sid(m[1])}); r.Status != 200 {
		t.Fatalf("v1 delete = %d %s", r.Status, r.Body)
	}
}

func TestLegacyRequestErrorsAreWrappedVAPIErrors(t *testing.T) {
	srv := dynamotest.Engines(t)[0]
	st := newStack(t, dynamotest.Setup(t, srv))
	tok := st.restLogin()
	cases := []struct {
		name   string
		req    request
		status int
		typ    string
	}{
		{"WrongPassword", request{method: "POST", path: restPath, headers: basic(adminName, "wrong-password-1")}, 401, "unauthenticated"},
		{"NoCredentials", request{method: "POST", path: restPath}, 401, "unauthenticated"},
		{"GetWithoutSession", request{method: "POST", path: restPath, query: "~action=get"}, 401, "unauthenticated"},
		{"UnknownAction", request{method: "POST", path: restPath, query: "~action=delete", headers: sid(tok)}, 404, "operation_not_found"},
		{"ActionOnGet", request{method: "GET", path: restPath, query: "~action=get", headers: sid(tok)}, 404, "operation_not_found"},
		{"ActionOnDelete", request{method: "DELETE", path: restPath, query: "~action=get", headers: sid(tok)}, 404, "operation_not_found"},
		{"EmptyAction", request{method: "POST", path: restPath, query: "~action=", headers: sid(tok)}, 400, "invalid_request"},
		{"RepeatedAction", request{method: "POST", path: restPath, query: "~action=get&~action=get", headers: sid(tok)}, 400, "invalid_request"},
		{"UnparsableQuery", request{method: "POST", path: restPath, query: "~action=%zz", headers: sid(tok)}, 400, "invalid_request"},
		{"UnknownMethod", request{method: "PUT", path: restPath, headers: sid(tok)}, 404, "operation_not_found"},
		{"UnknownPath", request{method: "GET", path: "/rest/com/vmware/cis/nothing"}, 404, "not_found"},
		{"UncleanPath", request{method: "GET", path: "/rest//com/vmware/cis/session"}, 404, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantLegacyError(t, st.v2req(c.req), c.status, c.typ)
		})
	}
	// None of those touched or ended the session.
	legacyInfo(t, st.v2("GET", restPath, sid(tok), ""))

	t.Run("MalformedEvent", func(t *testing.T) {
		ev := `{"version":"2.0","rawPath":"` + restPath + `","isBase64Encoded":true,"body":"%%%","requestContext":{"http":{"method":"POST","path":"` + restPath + `"}}}`
		wantLegacyError(t, st.invokeRaw([]byte(ev)), 400, "invalid_request")
	})
}

func TestEachFunctionServesOnlyItsLegacyRoutes(t *testing.T) {
	srv := dynamotest.Engines(t)[0]
	f := dynamotest.Setup(t, srv)
	tok := newStack(t, f).restLogin()
	getWith := func(st *stack) response {
		return st.v2req(request{method: "POST", path: restPath, query: "~action=get", headers: sid(tok)})
	}

	// The create function serves the /rest POST whole: log-in and read.
	create := newStack(t, f, httpapi.OpCreate, httpapi.OpLegacyPost)
	create.restLogin()
	legacyInfo(t, getWith(create))
	wantLegacyError(t, create.v2("GET", restPath, sid(tok), ""), 404, "operation_not_found")
	wantLegacyError(t, create.v2("DELETE", restPath, sid(tok), ""), 404, "operation_not_found")

	get := newStack(t, f, httpapi.OpGet)
	legacyInfo(t, get.v2("GET", restPath, sid(tok), ""))
	wantLegacyError(t, getWith(get), 404, "operation_not_found")
	wantLegacyError(t, get.v2("DELETE", restPath, sid(tok), ""), 404, "operation_not_found")

	del := newStack(t, f, httpapi.OpDelete)
	wantLegacyError(t, getWith(del), 404, "operation_not_found")
	if r := del.v2("DELETE", restPath, sid(tok), ""); r.Status != 200 {
		t.Fatalf("delete function's /rest delete = %d %s", r.Status, r.Body)
	}
}
