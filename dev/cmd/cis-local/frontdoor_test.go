package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/localrun"
	"github.com/cis-session/cis-session/dev/logscan"
	"github.com/cis-session/cis-session/dev/upstreamtest"
)

// TestMakeRunIsTheFrontDoor runs `make run`'s binary with UPSTREAM_URL set
// to a loopback server and a 2-second idle timeout: an authenticated call
// reaches the upstream as the user, without the session id; calls with no
// session, a logged-out one or an expired one get the vAPI 401 and never
// reach it; and calls to protected routes alone keep a session alive past
// its idle timeout. No log line carries a token.
func TestMakeRunIsTheFrontDoor(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	up := &upstreamtest.Upstream{}
	upstream := httptest.NewServer(up)
	defer upstream.Close()

	const idle = 2 * time.Second
	scan := logscan.New()
	base := localrun.Start(t, scan.Writer(), "UPSTREAM_URL="+upstream.URL+"/base", "SESSION_IDLE_TIMEOUT=2s").URL
	logIn := func() string {
		req, _ := http.NewRequest("POST", base+"/api/session", nil)
		req.SetBasicAuth("administrator@vsphere.local", localrun.Password)
		status, _, body := call(t, req)
		if status != 201 {
			t.Fatalf("log in: %d %s", status, body)
		}
		id := strings.Trim(body, "\"\n")
		scan.Secret(id)
		return id
	}
	protected := func(method, path, id, body string) (int, http.Header, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if id != "" {
			req.Header.Set("vmware-api-session-id", id)
		}
		return call(t, req)
	}
	refused := func(what string, status int, h http.Header, body string, legacy bool) {
		t.Helper()
		want := `"error_type":"UNAUTHENTICATED"`
		if legacy {
			want = `"type":"com.vmware.vapi.std.errors.unauthenticated"`
		}
		if status != 401 || !strings.Contains(body, want) || h.Get("WWW-Authenticate") != `Basic realm="VAPI endpoint"` || h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d %v %s, want the vAPI 401 with the challenge", what, status, h, body)
		}
		if calls := up.Taken(); len(calls) != 0 {
			t.Errorf("%s reached the upstream: %+v", what, calls)
		}
	}

	id := logIn()
	t.Run("AnAuthenticatedCallReachesTheUpstreamAsTheUser", func(t *testing.T) {
		status, _, body := protected("PATCH", "/api/vcenter/vm/vm-42?x=1&y=2", id, `{"name":"web"}`)
		if status != 200 || body != `{"value":"from upstream"}` {
			t.Fatalf("authenticated call: %d %s, want the upstream's answer", status, body)
		}
		calls := up.Taken()
		if len(calls) != 1 {
			t.Fatalf("upstream got %d calls, want 1", len(calls))
		}
		c := calls[0]
		if c.Method != "PATCH" || c.Path != "/base/api/vcenter/vm/vm-42" || c.Query != "x=1&y=2" || c.Body != `{"name":"web"}` {
			t.Errorf("forwarded as %s %s?%s %s", c.Method, c.Path, c.Query, c.Body)
		}
		if u := c.Header.Get("vmware-cis-user"); u != "administrator@vsphere.local" {
			t.Errorf("vmware-cis-user = %q", u)
		}
		if c.Header.Get("vmware-cis-session-created") == "" {
			t.Error("no vmware-cis-session-created")
		}
		if v := c.Header.Values("vmware-api-session-id"); len(v) != 0 {
			t.Errorf("the session id was forwarded: %v", v)
		}
	})
	t.Run("TheRestCookieAuthenticatesAndIsNotForwarded", func(t *testing.T) {
		req, _ := http.NewRequest("POST", base+"/rest/vcenter/vm?~action=clone", nil)
		req.Header.Set("Cookie", "vmware-api-session-id="+id)
		if status, _, body := call(t, req); status != 200 {
			t.Fatalf("cookie call: %d %s", status, body)
		}
		calls := up.Taken()
		if len(calls) != 1 || calls[0].Path != "/base/rest/vcenter/vm" || calls[0].Header.Get("Cookie") != "" {
			t.Fatalf("forwarded %+v, want /base/rest/vcenter/vm without the cookie", calls)
		}
		if u := calls[0].Header.Values("vmware-cis-user"); len(u) != 1 || u[0] != "administrator@vsphere.local" {
			t.Errorf("vmware-cis-user %v, want the session's user", u)
		}
	})
	t.Run("AJSONRPCCallForAnotherServiceReachesTheUpstreamWithoutItsSecurityContext", func(t *testing.T) {
		rpc := func(sessionID string) (int, string) {
			body := `{"jsonrpc":"2.0","method":"invoke","id":"7","params":{"serviceId":"com.vmware.vcenter.VM","operationId":"list",` +
				`"input":{"STRUCTURE":{"operation-input":{}}},"ctx":{"appCtx":{"opId":"op-7"},` +
				`"securityCtx":{"schemeId":"com.vmware.vapi.std.security.session_id","sessionId":"` + sessionID + `"}}}}`
			req, _ := http.NewRequest("POST", base+"/api", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("vapi-service", "com.vmware.vcenter.VM")
			req.Header.Set("vapi-operation", "list")
			status, _, answer := call(t, req)
			return status, answer
		}
		if status, answer := rpc(id); status != 200 || answer != `{"value":"from upstream"}` {
			t.Fatalf("authenticated JSON-RPC call: %d %s, want the upstream's answer", status, answer)
		}
		calls := up.Taken()
		want := `{"jsonrpc":"2.0","method":"invoke","id":"7","params":{"serviceId":"com.vmware.vcenter.VM","operationId":"list",` +
			`"input":{"STRUCTURE":{"operation-input":{}}},"ctx":{"appCtx":{"opId":"op-7"}}}}`
		if len(calls) != 1 || calls[0].Method != "POST" || calls[0].Path != "/base/api" || calls[0].Body != want {
			t.Fatalf("forwarded %+v, want POST /base/api with %s", calls, want)
		}
		if u := calls[0].Header.Get("vmware-cis-user"); u != "administrator@vsphere.local" {
			t.Errorf("vmware-cis-user = %q", u)
		}
		status, answer := rpc(strings.Repeat("cd", 16))
		if status != 200 || !strings.Contains(answer, `"com.vmware.vapi.std.errors.unauthenticated"`) || !strings.Contains(answer, `"id":"7"`) {
			t.Errorf("JSON-RPC call with an unknown session: %d %s, want the JSON-RPC unauthenticated error", status, answer)
		}
		if calls := up.Taken(); len(calls) != 0 {
			t.Errorf("a refused JSON-RPC call reached the upstream: %+v", calls)
		}
	})
	t.Run("UnauthenticatedCallsNeverReachTheUpstream", func(t *testing.T) {
		status, h, body := protected("GET", "/api/vcenter/vm", "", "")
		refused("no session", status, h, body, false)
		status, h, body = protected("GET", "/rest/vcenter/vm", strings.Repeat("ab", 16), "")
		refused("unknown session", status, h, body, true)
	})
	t.Run("CallsOnProtectedRoutesAloneKeepTheSessionAlive", func(t *testing.T) {
		alive := logIn()
		for end := time.Now().Add(2*idle + idle/2); time.Now().Before(end); time.Sleep(idle / 4) {
			if status, _, body := protected("GET", "/api/vcenter/host", alive, ""); status != 200 {
				t.Fatalf("protected call on a session in use: %d %s", status, body)
			}
		}
		up.Taken()
		req, _ := http.NewRequest("GET", base+"/api/session", nil)
		req.Header.Set("vmware-api-session-id", alive)
		if status, _, body := call(t, req); status != 200 {
			t.Fatalf("get after %v of protected calls only (idle timeout %v): %d %s", 2*idle+idle/2, idle, status, body)
		}
	})
	t.Run("AnExpiredSessionIsRefused", func(t *testing.T) {
		expiring := logIn()
		time.Sleep(idle + idle/4)
		status, h, body := protected("GET", "/api/vcenter/vm", expiring, "")
		refused("expired session", status, h, body, false)
	})
	t.Run("ALoggedOutSessionIsRefused", func(t *testing.T) {
		out := logIn()
		if status, _, _ := protected("GET", "/api/vcenter/vm", out, ""); status != 200 {
			t.Fatal("live session refused")
		}
		up.Taken()
		req, _ := http.NewRequest("DELETE", base+"/api/session", nil)
		req.Header.Set("vmware-api-session-id", out)
		if status, _, _ := call(t, req); status != 204 {
			t.Fatalf("log out: %d", status)
		}
		status, h, body := protected("GET", "/api/vcenter/vm", out, "")
		refused("logged-out session", status, h, body, false)
	})
	for _, leak := range scan.Leaks() {
		t.Errorf("cis-local logged a secret: %s", leak)
	}
}

// TestWithoutAnUpstreamAuthenticatedCallsAreOperationNotFound: no
// UPSTREAM_URL, as a stack deployed without UpstreamUrl.
func TestWithoutAnUpstreamAuthenticatedCallsAreOperationNotFound(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	base := localrun.Start(t, io.Discard, "UPSTREAM_URL=").URL
	req, _ := http.NewRequest("POST", base+"/api/session", nil)
	req.SetBasicAuth("administrator@vsphere.local", localrun.Password)
	_, _, body := call(t, req)
	id := strings.Trim(body, "\"\n")
	for path, want := range map[string]string{
		"/api/vcenter/vm":  `"error_type":"OPERATION_NOT_FOUND"`,
		"/rest/vcenter/vm": `"type":"com.vmware.vapi.std.errors.operation_not_found"`,
	} {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("vmware-api-session-id", id)
		if status, h, body := call(t, req); status != 404 || !strings.Contains(body, want) || h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d %s, want 404 with %s", path, status, body, want)
		}
	}
}

// TestABadUpstreamURLStopsStartUp: cis-local refuses to serve rather than
// forward where the operator did not mean (config parses the variable).
func TestABadUpstreamURLStopsStartUp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "cis-local")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, v := range []string{"ftp://host", "http://", "http://host/?q=1", "::"} {
		cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
		cmd.Env = append(os.Environ(), "UPSTREAM_URL="+v, "AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:9")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "UPSTREAM_URL") {
			t.Errorf("UPSTREAM_URL=%q: %v, %s; want start-up to fail naming UPSTREAM_URL", v, err, out)
		}
	}
}
