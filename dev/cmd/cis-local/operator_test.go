package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/localrun"
	"github.com/cis-session/cis-session/dev/oidcissuer"
	"github.com/cis-session/cis-session/dev/proc"
)

// These hold the operator's view of sessions (issue 25) and the identity
// provider's back-channel logout against the real binary as `make run`
// serves it, with the real admin tool pointed at its engine.

// client is one vSphere client: its connections come from a loopback
// address of its own, and it sends its own User-Agent.
type client struct {
	t    *testing.T
	run  *localrun.Run
	http *http.Client
	ua   string
}

func newClient(t *testing.T, run *localrun.Run, ip, ua string) *client {
	return &client{t: t, run: run, http: from(ip), ua: ua}
}

func (c *client) do(req *http.Request) (int, string) {
	c.t.Helper()
	req.Header.Set("User-Agent", c.ua)
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// jsonrpc is a vAPI JSON-RPC call of the session service.
func jsonrpc(op, securityCtx string) string {
	return `{"jsonrpc":"2.0","method":"invoke","id":"0","params":{"serviceId":"com.vmware.cis.session","operationId":"` + op +
		`","input":{"STRUCTURE":{"operation-input":{}}},"ctx":{"appCtx":{},"securityCtx":` + securityCtx + `}}}`
}

// logIn opens a session on surface ("api", "rest", "jsonrpc") with Basic
// credentials (user, pass) or, when user is "", the access token pass.
func (c *client) logIn(surface, user, pass string) string {
	c.t.Helper()
	var req *http.Request
	switch surface {
	case "api", "rest":
		path := map[string]string{"api": "/api/session", "rest": "/rest/com/vmware/cis/session"}[surface]
		req, _ = http.NewRequest("POST", c.run.URL+path, nil)
		if user == "" {
			req.Header.Set("Authorization", "Bearer "+pass)
		} else {
			req.SetBasicAuth(user, pass)
		}
	case "jsonrpc":
		sec, _ := json.Marshal(map[string]string{"schemeId": "com.vmware.vapi.std.security.user_pass", "userName": user, "password": pass})
		if user == "" {
			sec, _ = json.Marshal(map[string]string{"schemeId": "com.vmware.vapi.std.security.oauth", "accessToken": pass})
		}
		req, _ = http.NewRequest("POST", c.run.URL+"/api", strings.NewReader(jsonrpc("create", string(sec))))
		req.Header.Set("Content-Type", "application/json")
	}
	status, body := c.do(req)
	var id string
	switch surface {
	case "api":
		_ = json.Unmarshal([]byte(body), &id)
	case "rest":
		var v struct{ Value string }
		_ = json.Unmarshal([]byte(body), &v)
		id = v.Value
	case "jsonrpc":
		var v struct {
			Result struct {
				Output struct{ SECRET string }
			}
		}
		_ = json.Unmarshal([]byte(body), &v)
		id = v.Result.Output.SECRET
	}
	if id == "" {
		c.t.Fatalf("log-in on %s: %d %s", surface, status, body)
	}
	return id
}

// get asks for the session id on surface and reports whether it is live
// there: a use of the session, counted.
func (c *client) get(surface, id string) bool {
	c.t.Helper()
	var req *http.Request
	switch surface {
	case "api":
		req, _ = http.NewRequest("GET", c.run.URL+"/api/session", nil)
		req.Header.Set("vmware-api-session-id", id)
	case "rest":
		req, _ = http.NewRequest("POST", c.run.URL+"/rest/com/vmware/cis/session?~action=get", nil)
		req.Header.Set("vmware-api-session-id", id)
	case "jsonrpc":
		sec, _ := json.Marshal(map[string]string{"schemeId": "com.vmware.vapi.std.security.session_id", "sessionId": id})
		req, _ = http.NewRequest("POST", c.run.URL+"/api", strings.NewReader(jsonrpc("get", string(sec))))
		req.Header.Set("Content-Type", "application/json")
	}
	status, body := c.do(req)
	switch {
	case status == 200 && strings.Contains(body, `"user"`):
		return true
	case status == 401 || status == 200 && strings.Contains(body, "unauthenticated"):
		return false
	}
	c.t.Fatalf("get on %s: %d %s", surface, status, body)
	return false
}

// surfaces is every surface a session is used on.
var surfaces = []string{"api", "rest", "jsonrpc"}

// liveOnEverySurface reports whether id is live on all three surfaces, or
// dead on all three (and fails the test when they disagree).
func (c *client) liveOnEverySurface(id string) bool {
	c.t.Helper()
	live := c.get("api", id)
	for _, s := range surfaces[1:] {
		if c.get(s, id) != live {
			c.t.Fatalf("session live on api: %v, but not so on %s", live, s)
		}
	}
	return live
}

// cisAdmin runs the real admin tool against run's engine, with the
// settings its env file gives `make admin`.
func cisAdmin(t *testing.T, run *localrun.Run, args ...string) (string, error) {
	t.Helper()
	root, err := localdynamo.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "cis-admin")
	if out, err := exec.Command("go", "build", "-C", root, "-o", bin, "./cmd/cis-admin").CombinedOutput(); err != nil {
		t.Fatalf("build cis-admin: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	for k, v := range run.Settings(t) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("cis-admin %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String(), nil
}

// listed is one line of `cis-admin sessions -json`.
type listed struct {
	User         string `json:"user"`
	Handle       string `json:"handle"`
	Created      string `json:"created"`
	LastAccessed string `json:"last_accessed"`
	Source       string `json:"source"`
	UserAgent    string `json:"user_agent"`
	Surface      string `json:"surface"`
	Method       string `json:"method"`
	Calls        int    `json:"calls"`
}

func sessionsJSON(t *testing.T, run *localrun.Run) []listed {
	t.Helper()
	out, err := cisAdmin(t, run, "sessions", "-json")
	if err != nil {
		t.Fatal(err)
	}
	var all []listed
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var l listed
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("sessions -json printed %q: %v", line, err)
		}
		all = append(all, l)
	}
	return all
}

func TestMakeRunListsEverySessionWithItsSourceUserAgentAndCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	run := localrun.Start(t, io.Discard)
	// A user agent with control characters (a tab, and a C1 terminal
	// escape, CSI, which HTTP lets through as obs-text) is listed without them.
	govc := newClient(t, run, "127.0.0.7", "govc/0.52.0\u009b31m\t(linux)")
	pyvmomi := newClient(t, run, "127.0.0.9", "vAPI/2.44.0 Python/3.12.3 (Linux; 6.8.0; x86_64)")
	a := govc.logIn("api", admin, localrun.Password)
	b := pyvmomi.logIn("jsonrpc", admin, localrun.Password)
	for range 3 {
		if !govc.get("api", a) {
			t.Fatal("session a is not live")
		}
	}
	time.Sleep(5 * time.Millisecond) // b's last access is later than a's: listed first
	if !pyvmomi.get("rest", b) {
		t.Fatal("session b is not live")
	}

	got := sessionsJSON(t, run)
	if len(got) != 2 {
		t.Fatalf("sessions -json listed %d sessions, want 2: %+v", len(got), got)
	}
	want := []struct {
		source, ua, surface string
		calls               int
	}{
		{"127.0.0.9", "vAPI/2.44.0 Python/3.12.3 (Linux; 6.8.0; x86_64)", "jsonrpc", 1},
		{"127.0.0.7", "govc/0.52.031m(linux)", "api", 3},
	}
	for i, w := range want {
		l := got[i]
		if l.User != admin || l.Source != w.source || l.UserAgent != w.ua || l.Surface != w.surface || l.Method != "password" || l.Calls != w.calls {
			t.Errorf("session %d listed as %+v; want user %s, source %s, user agent %q, surface %s, method password, %d calls",
				i, l, admin, w.source, w.ua, w.surface, w.calls)
		}
		if l.Handle == "" || l.Created == "" || l.LastAccessed == "" {
			t.Errorf("session %d lacks its handle or times: %+v", i, l)
		}
		for _, id := range []string{a, b} {
			if strings.Contains(strings.ToLower(l.Handle), strings.ToLower(id)) {
				t.Errorf("handle %q holds a session id", l.Handle)
			}
		}
	}
	// list-sessions NAME shows the same fields.
	if out, err := cisAdmin(t, run, "list-sessions", admin); err != nil ||
		!strings.Contains(out, "127.0.0.7") || !strings.Contains(out, "vAPI/2.44.0") || !strings.Contains(out, got[0].Handle) {
		t.Errorf("list-sessions: %v\n%s", err, out)
	}

	// The operator ends a's session by its handle: gone on every surface,
	// and b's lives on.
	if out, err := cisAdmin(t, run, "end-session", got[1].Handle); err != nil || !strings.Contains(out, "ended session "+got[1].Handle) {
		t.Fatalf("end-session: %v\n%s", err, out)
	}
	if govc.liveOnEverySurface(a) {
		t.Error("the session ended by its handle still lives")
	}
	if !pyvmomi.liveOnEverySurface(b) {
		t.Error("the other session was ended too")
	}
	if _, err := cisAdmin(t, run, "end-session", got[1].Handle); err == nil || !strings.Contains(err.Error(), "no session has the handle") {
		t.Errorf("ending it again: %v; want no session", err)
	}
}

// provider is the local identity provider `make run` starts with
// LOCAL_OIDC=1, as a test asks it for tokens.
type provider struct {
	t      *testing.T
	url    string
	minted []string // every token it gave
}

func (p *provider) get(path string, q url.Values) string {
	p.t.Helper()
	resp, err := http.Get(p.url + path + "?" + q.Encode())
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		p.t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
	}
	tok := strings.TrimSpace(string(b))
	p.minted = append(p.minted, tok)
	return tok
}

// lockedLog keeps what cis-local writes, for a test to search.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.b.String(), s)
}

// accessToken is a token for user from provider session sid.
func (p *provider) accessToken(user, sid string) string {
	return p.get("/token", url.Values{"user": {user}, "sid": {sid}})
}

// logoutToken is a logout token for sub and sid ("" leaves it out), with
// extra query parameters of oidcissuer's /logout-token.
func (p *provider) logoutToken(sub, sid string, extra ...string) string {
	q := url.Values{}
	if sub != "" {
		q.Set("sub", sub)
	}
	if sid != "" {
		q.Set("sid", sid)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return p.get("/logout-token", q)
}

// backchannelLogout posts token as the provider does.
func backchannelLogout(t *testing.T, run *localrun.Run, token string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.PostForm(run.URL+"/oidc/backchannel-logout", url.Values{"logout_token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestMakeRunBackchannelLogoutEndsTheSessionsOfASubjectOrAProviderSession(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	port, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedLog{}
	run := localrun.Start(t, logs, "LOCAL_OIDC=1", fmt.Sprintf("LOCAL_OIDC_PORT=%d", port))
	idp := &provider{t: t, url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	defer func() {
		// No token, access or logout, reaches a log line.
		if !logs.contains(`"msg":"backchannel logout"`) {
			t.Error("no log line of a logout: this test reads the log wrong")
		}
		for _, tok := range idp.minted {
			if logs.contains(tok) || logs.contains(tok[strings.LastIndexByte(tok, '.')+1:]) {
				t.Errorf("cis-local logged a token it was sent")
			}
		}
	}()
	c := newClient(t, run, "127.0.0.1", "test")

	const alice, bob = "alice@corp.example", "bob@corp.example"
	// alice has two provider sessions: s1 (the api and JSON-RPC sessions
	// here) and s2 (the rest one); bob two, b1 and b2, each on every surface.
	aliceS1 := []string{c.logIn("api", "", idp.accessToken(alice, "s1")), c.logIn("jsonrpc", "", idp.accessToken(alice, "s1"))}
	aliceS2 := c.logIn("rest", "", idp.accessToken(alice, "s2"))
	var bobs, bobsB2 []string
	for _, s := range surfaces {
		bobs = append(bobs, c.logIn(s, "", idp.accessToken(bob, "b1")))
		bobsB2 = append(bobsB2, c.logIn(s, "", idp.accessToken(bob, "b2")))
	}
	local := c.logIn("api", admin, localrun.Password)
	all := slices.Concat([]string{aliceS2, local}, aliceS1, bobs, bobsB2)
	wantLive := func(when string, ids ...string) {
		t.Helper()
		for _, id := range ids {
			if !c.liveOnEverySurface(id) {
				t.Fatalf("%s: a session that should live was ended", when)
			}
		}
	}
	wantDead := func(when string, ids ...string) {
		t.Helper()
		for _, id := range ids {
			if c.liveOnEverySurface(id) {
				t.Fatalf("%s: a session that should have ended lives", when)
			}
		}
	}

	// Every token refused: 400, the spec's error, and nothing ended.
	foreign, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	forged := oidcissuer.Sign(foreign, oidcissuer.KeyRS256, "RS256", map[string]any{
		"iss": idp.url, "aud": oidcissuer.Audience, "sub": alice, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix(),
		"jti": "forged-1", "events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}},
	})
	for name, token := range map[string]string{
		"wrong signature":    forged,
		"a nonce":            idp.logoutToken(alice, "", "nonce", "n-0S6_WzA2Mj"),
		"no events member":   idp.logoutToken(alice, "", "events", "0"),
		"wrong audience":     idp.logoutToken(alice, "", "aud", "another-client"),
		"expired":            idp.logoutToken(alice, "", "exp", "-120"),
		"an access token":    idp.accessToken(alice, "s1"),
		"not a token at all": "not-a-jwt",
	} {
		status, _, body := backchannelLogout(t, run, token)
		if status != 400 || strings.TrimSpace(body) != `{"error":"invalid_request"}` {
			t.Errorf("%s: %d %s; want 400 {\"error\":\"invalid_request\"}", name, status, body)
		}
	}
	wantLive("after refused logout tokens", all...)

	// A provider session: only its sessions end.
	s1 := idp.logoutToken(alice, "s1")
	status, h, body := backchannelLogout(t, run, s1)
	if status != 200 || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("logout of provider session s1: %d %q %s; want 200, Cache-Control no-store", status, h.Get("Cache-Control"), body)
	}
	wantDead("after s1's logout", aliceS1...)
	wantLive("after s1's logout", slices.Concat([]string{aliceS2, local}, bobs, bobsB2)...)

	// The same token again is a replay: refused, and it ends nothing, not
	// even a new session of that provider session.
	again := c.logIn("api", "", idp.accessToken(alice, "s1"))
	if status, _, body := backchannelLogout(t, run, s1); status != 400 || strings.TrimSpace(body) != `{"error":"invalid_request"}` {
		t.Errorf("replayed jti: %d %s; want 400", status, body)
	}
	wantLive("after a replayed logout token", again, aliceS2)

	// A provider session named by its sid alone, no sub (as the
	// specification allows): its sessions end on every surface, and only
	// they: not bob's other provider session's, nor anyone else's.
	status, h, body = backchannelLogout(t, run, idp.logoutToken("", "b1"))
	if status != 200 || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("sid-only logout of provider session b1: %d %q %s; want 200, Cache-Control no-store", status, h.Get("Cache-Control"), body)
	}
	wantDead("after b1's sid-only logout", bobs...)
	wantLive("after b1's sid-only logout", slices.Concat([]string{again, aliceS2, local}, bobsB2)...)
	// A sid no session came from ends nothing, and is no error.
	if status, _, body := backchannelLogout(t, run, idp.logoutToken("", "no-such-sid")); status != 200 {
		t.Errorf("sid-only logout of an unknown provider session: %d %s; want 200", status, body)
	}
	wantLive("after an unknown sid's logout", slices.Concat([]string{again, aliceS2, local}, bobsB2)...)

	// A subject: every session of alice's, on every surface; no one else's.
	if status, _, body := backchannelLogout(t, run, idp.logoutToken(alice, "")); status != 200 {
		t.Fatalf("logout of subject %s: %d %s", alice, status, body)
	}
	wantDead("after alice's logout", again, aliceS2)
	wantLive("after alice's logout", append([]string{local}, bobsB2...)...)
}
