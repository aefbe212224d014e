package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/localrun"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// build builds a command of this repository into a temporary directory.
func build(t *testing.T, pkg string) string {
	t.Helper()
	root, err := localdynamo.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, "./"+pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// TestSmokePassesAgainstMakeRunWhichLogsTheRefusalButNoSecret is `make
// smoke` against `make run`, then a refused log-in, whose metric and audit
// lines must be in what cis-local logs (at LOG_LEVEL=ERROR, even), with no
// password in anything it wrote. While it runs, the admin tool reaches its
// engine through the file it wrote, and nothing else.
func TestSmokePassesAgainstMakeRunWhichLogsTheRefusalButNoSecret(t *testing.T) {
	const password, wrong = "Smoke-Pass-9", "Wrong-Pass-77"
	logged := &lockedBuffer{}
	l := localrun.Start(t, logged, "LOCAL_ADMIN_PASSWORD="+password, "LOG_LEVEL=ERROR")

	smoke := exec.Command(build(t, "dev/cmd/cis-smoke"), l.URL)
	smoke.Env = append(os.Environ(), "LOCAL_ADMIN_PASSWORD="+password, "CIS_SMOKE_PASSWORD=")
	out, err := smoke.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS: log in, get, protected call, log out, refused after") {
		t.Fatalf("cis-smoke %s: %v\n%s", l.URL, err, out)
	}
	// It reports the two things only a deployed stack can tell: the get's
	// body whole, and the protected refusal's challenge header.
	for _, want := range []string{"get body whole: user, created_time, last_accessed_time", `challenge: WWW-Authenticate: Basic realm="VAPI endpoint"`,
		`session refusal: WWW-Authenticate: Basic realm="VAPI endpoint"`, "protected call     GET " + l.URL + ProtectedPath} {
		if !strings.Contains(string(out), want) {
			t.Errorf("cis-smoke's report has no %q:\n%s", want, out)
		}
	}

	req, _ := http.NewRequest(http.MethodPost, l.URL+"/api/session", nil)
	req.SetBasicAuth("administrator@vsphere.local", wrong)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}

	// The admin tool, given only the file's settings, lists the seeded user.
	env, err := os.ReadFile(l.EnvFile)
	if err != nil {
		t.Fatalf("cis-local wrote no %s while running: %v", l.EnvFile, err)
	}
	admin := exec.Command(build(t, "cmd/cis-admin"), "list-users")
	admin.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for _, line := range strings.Split(string(env), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(k, "#") {
			admin.Env = append(admin.Env, k+"="+v)
		}
	}
	if got, err := admin.CombinedOutput(); err != nil || !strings.Contains(string(got), "administrator@vsphere.local") {
		t.Errorf("cis-admin list-users with %s's settings: %v\n%s", l.EnvFile, err, got)
	}

	l.Interrupt(t)
	if _, err := os.Stat(l.EnvFile); !os.IsNotExist(err) {
		t.Errorf("%s still there after cis-local stopped: %v", l.EnvFile, err)
	}

	logs := logged.String()
	for _, secret := range []string{password, wrong,
		base64.StdEncoding.EncodeToString([]byte("administrator@vsphere.local:" + wrong))} {
		if strings.Contains(logs, secret) {
			t.Errorf("cis-local logged a secret (%q)", secret)
		}
	}
	var metric, audit bool
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		switch {
		case m["log"] == "metric" && m["LogInRefused"] == 1.0 && m["Cause"] == "wrong_password":
			metric = m["_aws"] != nil
		case m["log"] == "audit" && m["event"] == "login_refused" && m["cause"] == "wrong_password":
			audit = m["source"] == "127.0.0.1" && m["user"] == "administrator@vsphere.local"
		}
	}
	if !metric || !audit {
		t.Errorf("refused log-in: metric line %v, audit line %v, in:\n%s", metric, audit, logs)
	}
}

// TestMakeRunStopsWithAnErrorWhenItsEngineDies: a runner serving without
// its engine would answer 503 to everything and look alive.
func TestMakeRunStopsWithAnErrorWhenItsEngineDies(t *testing.T) {
	out := &lockedBuffer{}
	l := localrun.Start(t, out, "LOG_LEVEL=INFO")
	pid := l.EnginePID()
	if pid == 0 {
		t.Fatal("cis-local did not log the engine it started")
	}
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Done():
	case <-time.After(time.Minute):
		t.Fatal("cis-local still running after its engine died")
	}
	if err := l.Err(); err == nil || !strings.Contains(out.String(), "has died") {
		t.Fatalf("cis-local exit %v, output:\n%s", err, out.String())
	}
	if _, err := os.Stat(l.EnvFile); !os.IsNotExist(err) {
		t.Errorf("%s still there after cis-local stopped: %v", l.EnvFile, err)
	}
}

// TestSmokeFailsWithoutTheChallengeHeaderOrAWholeGet: against a service
// that answers the walk as the contract says but for one thing, the smoke
// fails, naming it: a protected refusal without WWW-Authenticate, a session
// refusal with the challenge in no header, a get body without a field (what
// a touch returning less than the whole item would give), a front door that
// refuses a live session. A session refusal whose header API Gateway
// remapped passes, and is reported.
func TestSmokeFailsWithoutTheChallengeHeaderOrAWholeGet(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef"
	const challenge = `Basic realm="VAPI endpoint"`
	unauth := `{"error_type":"UNAUTHENTICATED","messages":[],"challenge":"Basic realm=\"VAPI endpoint\""}`
	service := func(breaks string) http.Handler {
		loggedOut := false
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			live := r.Header.Get("vmware-api-session-id") == id && !loggedOut
			refuse := func() {
				switch {
				case r.URL.Path == "/api/session" && breaks == "remapped":
					w.Header().Set(RemappedChallenge, challenge)
				case r.URL.Path == "/api/session" && breaks == "sessionheader":
				case r.URL.Path == ProtectedPath && breaks == "header":
				default:
					w.Header().Set("WWW-Authenticate", challenge)
				}
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(unauth))
			}
			switch {
			case r.Method == http.MethodPost && r.URL.Path == "/api/session":
				w.WriteHeader(http.StatusCreated)
				w.Write([]byte(`"` + id + `"`))
			case r.URL.Path == "/api/session" && !live:
				refuse()
			case r.Method == http.MethodGet && r.URL.Path == "/api/session":
				last := `,"last_accessed_time":"2026-12-06T10:00:01.000Z"`
				if breaks == "get" {
					last = ""
				}
				w.Write([]byte(`{"user":"administrator@vsphere.local","created_time":"2026-12-06T10:00:00.000Z"` + last + `}`))
			case r.Method == http.MethodDelete:
				loggedOut = true
				w.WriteHeader(http.StatusNoContent)
			case r.URL.Path == ProtectedPath && live && breaks != "door":
				w.WriteHeader(http.StatusNotFound)
			default:
				refuse()
			}
		})
	}
	for breaks, want := range map[string]string{"": "", "remapped": "", "header": "protected call after log-out: WWW-Authenticate",
		"sessionheader": "get after log-out: WWW-Authenticate", "get": "last_accessed_time", "door": "protected call"} {
		t.Run("breaks="+breaks, func(t *testing.T) {
			srv := httptest.NewServer(service(breaks))
			defer srv.Close()
			env := func(k string) string { return map[string]string{"CIS_SMOKE_PASSWORD": "p"}[k] }
			var out strings.Builder
			err := run(t.Context(), srv.URL, env, &out)
			if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
				t.Errorf("smoke: %v, want an error naming %q", err, want)
			}
			if breaks == "remapped" && !strings.Contains(out.String(), "remapped by the gateway to "+RemappedChallenge) {
				t.Errorf("a remapped challenge is not reported:\n%s", out.String())
			}
		})
	}
}
