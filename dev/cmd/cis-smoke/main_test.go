package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/proc"
)

// local is a running cis-local binary, as `make run` runs it.
type local struct {
	url, envFile string
	cmd          *exec.Cmd
	out          *lockedBuffer // everything it wrote, stdout and stderr
	exited       chan struct{}
	waitErr      error
	enginePID    chan int
}

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

// startLocal runs cis-local with its own dynalite at logLevel, and waits
// until it serves.
func startLocal(t *testing.T, password, logLevel string) *local {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs cis-local")
	}
	root, _ := localdynamo.RepoRoot()
	port, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	l := &local{
		url:       fmt.Sprintf("http://127.0.0.1:%d", port),
		envFile:   filepath.Join(t.TempDir(), "cis-local.env"),
		out:       &lockedBuffer{},
		exited:    make(chan struct{}),
		enginePID: make(chan int, 1),
	}
	l.cmd = exec.Command(build(t, "dev/cmd/cis-local"))
	l.cmd.Dir = root
	l.cmd.Env = append(os.Environ(), "PORT="+fmt.Sprint(port), "AWS_ENDPOINT_URL_DYNAMODB=",
		"LOCAL_ADMIN_PASSWORD="+password, "CIS_LOCAL_ENV_FILE="+l.envFile, "LOG_LEVEL="+logLevel)
	stdout, _ := l.cmd.StdoutPipe()
	l.cmd.Stderr = l.out
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			l.out.Write(append(sc.Bytes(), '\n'))
			var rec struct {
				Msg string `json:"msg"`
				PID int    `json:"pid"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "started dynalite, in memory" {
				l.enginePID <- rec.PID
			}
		}
		l.waitErr = l.cmd.Wait()
		close(l.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-l.exited:
		default:
			_ = l.cmd.Process.Kill()
			<-l.exited
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if c, err := net.Dial("tcp", strings.TrimPrefix(l.url, "http://")); err == nil {
			c.Close()
			return l
		}
		select {
		case <-l.exited:
			t.Fatalf("cis-local exited: %v\n%s", l.waitErr, l.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("cis-local never listened")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop interrupts cis-local as Ctrl-C does and waits for it.
func (l *local) stop(t *testing.T) {
	t.Helper()
	if err := l.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.exited:
	case <-time.After(time.Minute):
		t.Fatal("cis-local did not stop on Ctrl-C")
	}
	if l.waitErr != nil {
		t.Fatalf("cis-local exited with %v after Ctrl-C\n%s", l.waitErr, l.out.String())
	}
}

// TestSmokePassesAgainstMakeRunWhichLogsTheRefusalButNoSecret is `make
// smoke` against `make run`, then a refused log-in, whose metric and audit
// lines must be in what cis-local logs (at LOG_LEVEL=ERROR, even), with no
// password in anything it wrote. While it runs, the admin tool reaches its
// engine through the file it wrote, and nothing else.
func TestSmokePassesAgainstMakeRunWhichLogsTheRefusalButNoSecret(t *testing.T) {
	const password, wrong = "Smoke-Pass-9", "Wrong-Pass-77"
	l := startLocal(t, password, "ERROR")

	smoke := exec.Command(build(t, "dev/cmd/cis-smoke"), l.url)
	smoke.Env = append(os.Environ(), "LOCAL_ADMIN_PASSWORD="+password, "CIS_SMOKE_PASSWORD=")
	out, err := smoke.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS: log in, get, log out, refused after") {
		t.Fatalf("cis-smoke %s: %v\n%s", l.url, err, out)
	}

	req, _ := http.NewRequest(http.MethodPost, l.url+"/api/session", nil)
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
	env, err := os.ReadFile(l.envFile)
	if err != nil {
		t.Fatalf("cis-local wrote no %s while running: %v", l.envFile, err)
	}
	admin := exec.Command(build(t, "cmd/cis-admin"), "list-users")
	admin.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for _, line := range strings.Split(string(env), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(k, "#") {
			admin.Env = append(admin.Env, k+"="+v)
		}
	}
	if got, err := admin.CombinedOutput(); err != nil || !strings.Contains(string(got), "administrator@vsphere.local") {
		t.Errorf("cis-admin list-users with %s's settings: %v\n%s", l.envFile, err, got)
	}

	l.stop(t)
	if _, err := os.Stat(l.envFile); !os.IsNotExist(err) {
		t.Errorf("%s still there after cis-local stopped: %v", l.envFile, err)
	}

	logs := l.out.String()
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
	l := startLocal(t, "Local-Pass-2", "INFO")
	var pid int
	select {
	case pid = <-l.enginePID:
	case <-time.After(time.Minute):
		t.Fatal("cis-local did not log the engine it started")
	}
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.exited:
	case <-time.After(time.Minute):
		t.Fatal("cis-local still running after its engine died")
	}
	if l.waitErr == nil || !strings.Contains(l.out.String(), "has died") {
		t.Fatalf("cis-local exit %v, output:\n%s", l.waitErr, l.out.String())
	}
	if _, err := os.Stat(l.envFile); !os.IsNotExist(err) {
		t.Errorf("%s still there after cis-local stopped: %v", l.envFile, err)
	}
}
