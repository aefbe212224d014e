package compat_test

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/dynamotest"
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

// The same path with curl itself, its cookie jar a file, as docs/CLIENTS.md
// shows it. curl is the reference client for this; where it is not
// installed the cookie-jar test above still covers the path.
func TestCurlWalksTheCookiePath(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		dynamotest.Unavailable(t, "curl is not installed")
	}
	ts := serve(t, dynamotest.Engines(t)[0], 30*time.Minute)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	jar := filepath.Join(dir, "cookies")
	rest := ts.URL + "/rest/com/vmware/cis/session"
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(curl, append([]string{"--silent", "--show-error", "--cacert", ca, "--noproxy", "*"}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("curl %v: %v", args, err)
		}
		return string(out)
	}

	var created struct{ Value string }
	out := run("-c", jar, "-X", "POST", "-u", userName+":"+password, rest)
	if json.Unmarshal([]byte(out), &created) != nil || !sessionIDRE.MatchString(created.Value) {
		t.Fatalf("curl log-in: %s", out)
	}
	if stored, _ := os.ReadFile(jar); !strings.Contains(string(stored), "vmware-api-session-id\t"+created.Value) {
		t.Fatalf("curl's jar does not hold the session cookie:\n%s", stored)
	}
	var info struct{ Value struct{ User string } }
	out = run("-b", jar, "-c", jar, "-X", "POST", rest+"?~action=get")
	if json.Unmarshal([]byte(out), &info) != nil || info.Value.User != userName {
		t.Fatalf("curl get by cookie: %s", out)
	}
	if out = run("-b", jar, "-c", jar, "-X", "DELETE", "-o", os.DevNull, "-w", "%{http_code}", rest); out != "200" {
		t.Fatalf("curl log-out by cookie: %s", out)
	}
	if stored, _ := os.ReadFile(jar); strings.Contains(string(stored), created.Value) {
		t.Fatalf("curl's jar still holds the session after log-out:\n%s", stored)
	}
	out = run("-b", "vmware-api-session-id="+created.Value, rest)
	if !strings.HasPrefix(out, `{"type":"com.vmware.vapi.std.errors.unauthenticated",`) {
		t.Fatalf("curl get by the old cookie: %s", out)
	}
}
