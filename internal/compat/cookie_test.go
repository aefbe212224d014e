package compat_test

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cis-session/cis-session/internal/dynamotest"
)

// The cookie path of /rest, as curl -c/-b or a browser walks it: a client
// with a cookie jar that never sets the session header itself.
func TestCookieJarClientLivesOnTheSessionCookieOnRestOnly(t *testing.T) {
	ts := serve(t, dynamotest.Engines(t)[0], 30*time.Minute)
	rest := ts.URL + "/rest/com/vmware/cis/session"
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := ts.Client()
	c.Jar = jar

	status, hdr, body := do(t, c, "POST", rest, http.Header{"Authorization": {basicAuth(userName, password)}})
	var created struct{ Value string }
	if status != 200 || json.Unmarshal([]byte(body), &created) != nil || !sessionIDRE.MatchString(created.Value) {
		t.Fatalf("log-in = %d %s", status, body)
	}
	setCookie := hdr.Get("Set-Cookie")
	for _, attr := range []string{"vmware-api-session-id=" + created.Value, "Path=/rest", "Secure", "HttpOnly", "SameSite=Strict"} {
		if !strings.Contains(setCookie, attr) {
			t.Fatalf("Set-Cookie %q lacks %s", setCookie, attr)
		}
	}
	restURL, _ := url.Parse(rest)
	apiURL, _ := url.Parse(ts.URL + "/api/session")
	if len(jar.Cookies(restURL)) != 1 || len(jar.Cookies(apiURL)) != 0 {
		t.Fatalf("jar holds %v for /rest and %v for /api: want the cookie for /rest only", jar.Cookies(restURL), jar.Cookies(apiURL))
	}

	for _, req := range []struct{ method, url string }{{"POST", rest + "?~action=get"}, {"GET", rest}} {
		status, _, body := do(t, c, req.method, req.url, nil)
		var info struct{ Value struct{ User string } }
		if status != 200 || json.Unmarshal([]byte(body), &info) != nil || info.Value.User != userName {
			t.Fatalf("%s %s by cookie = %d %s", req.method, req.url, status, body)
		}
	}
	// /api does not take the cookie, even when a client sends it there.
	status, _, body = do(t, c, "GET", apiURL.String(), http.Header{"Cookie": {"vmware-api-session-id=" + created.Value}})
	if status != 401 || !strings.Contains(body, `"error_type":"UNAUTHENTICATED"`) {
		t.Fatalf("/api get by cookie = %d %s, want 401", status, body)
	}

	status, _, body = do(t, c, "DELETE", rest, nil)
	if status != 200 || body != "" {
		t.Fatalf("log-out by cookie = %d %q", status, body)
	}
	if left := jar.Cookies(restURL); len(left) != 0 {
		t.Fatalf("the jar still holds %v after log-out", left)
	}
	status, _, body = do(t, c, "GET", rest, http.Header{"Cookie": {"vmware-api-session-id=" + created.Value}})
	if status != 401 || !strings.HasPrefix(body, `{"type":"com.vmware.vapi.std.errors.unauthenticated","value":{`) {
		t.Fatalf("get by the old cookie = %d %s, want the wrapped 401", status, body)
	}
}
