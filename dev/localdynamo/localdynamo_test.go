package localdynamo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeEnv makes the test binary act as a fake engine (see runFake).
const fakeEnv = "LOCALDYNAMO_FAKE_ENGINE"

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeEnv); mode != "" {
		runFake(mode, os.Args[len(os.Args)-1])
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runFake is a stand-in engine: it answers every request with 200, or exits
// at once in mode "fail". (How engines are stopped is dev/proc's to test.)
func runFake(mode, port string) {
	if mode == "fail" {
		fmt.Fprintln(os.Stderr, "fake engine: cannot bind port", port)
		os.Exit(3)
	}
	_ = http.ListenAndServe("127.0.0.1:"+port, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "{}")
	}))
	os.Exit(5)
}

func fakeCmd(mode string) func(port int) *exec.Cmd {
	return func(port int) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$", strconv.Itoa(port))
		cmd.Env = append(os.Environ(), fakeEnv+"="+mode)
		return cmd
	}
}

// call sends a raw DynamoDB request and returns the status and decoded body.
func call(t *testing.T, endpoint, op string, body any) (int, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := NewRequest(ctx, endpoint, op, b)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: HTTP %d, undecodable body %q: %v", op, resp.StatusCode, raw, err)
	}
	return resp.StatusCode, out
}

// processGone reports whether pid is gone: no such process, or only a
// zombie (an orphan awaiting reaping by init, which is not ours to reap).
func processGone(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return os.IsNotExist(err)
	}
	// pid (comm) STATE ...; comm may contain spaces or parentheses.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
	return strings.HasPrefix(strings.TrimSpace(rest), "Z")
}

func portRefuses(port int) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return true
}

func TestEngines(t *testing.T) {
	for _, kind := range Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			if ok, reason := Available(kind); !ok {
				// Where CI is set every engine is required (dynamotest.InCI).
				if kind == Dynalite || os.Getenv("CI") != "" {
					t.Fatalf("%s is required: %s", kind, reason)
				}
				t.Skip(reason)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			began := time.Now()
			srv, err := Start(ctx, kind)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s answering at %s after %v", kind, srv.Endpoint, time.Since(began).Round(time.Millisecond))
			defer srv.Stop()
			if srv.Kind != kind || srv.Endpoint != "http://127.0.0.1:"+strconv.Itoa(srv.Port) {
				t.Fatalf("bad server fields: %+v", srv)
			}

			if code, body := call(t, srv.Endpoint, "ListTables", map[string]any{}); code != 200 {
				t.Fatalf("ListTables: HTTP %d %v", code, body)
			}
			code, body := call(t, srv.Endpoint, "CreateTable", map[string]any{
				"TableName":            "sessions",
				"AttributeDefinitions": []any{map[string]any{"AttributeName": "pk", "AttributeType": "S"}},
				"KeySchema":            []any{map[string]any{"AttributeName": "pk", "KeyType": "HASH"}},
				"BillingMode":          "PAY_PER_REQUEST",
			})
			if code != 200 {
				t.Fatalf("CreateTable: HTTP %d %v", code, body)
			}
			code, body = call(t, srv.Endpoint, "ListTables", map[string]any{})
			if code != 200 || fmt.Sprint(body["TableNames"]) != "[sessions]" {
				t.Fatalf("ListTables after create: HTTP %d %v", code, body)
			}

			pid, port := srv.PID(), srv.Port
			if err := srv.Stop(); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if err := srv.Stop(); err != nil {
				t.Fatalf("second Stop: %v", err)
			}
			if !processGone(pid) {
				t.Errorf("pid %d still exists after Stop", pid)
			}
			if !portRefuses(port) {
				t.Errorf("port %d still accepts connections after Stop", port)
			}
		})
	}
}

func TestStartFailureRetriesAndReportsOutput(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tries := 0
	mk := fakeCmd("fail")
	srv, err := start(ctx, "fake", func(port int) *exec.Cmd { tries++; return mk(port) })
	if err == nil {
		srv.Stop()
		t.Fatal("start of a failing engine succeeded")
	}
	if tries != startAttempts {
		t.Errorf("tried %d times, want %d", tries, startAttempts)
	}
	if !strings.Contains(err.Error(), "fake engine: cannot bind port") {
		t.Errorf("error lacks the engine's output: %v", err)
	}
}

func TestStartHonoursContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// `sleep` never answers HTTP.
	srv, err := start(ctx, "fake", func(int) *exec.Cmd { return exec.Command("sleep", "300") })
	if err == nil {
		srv.Stop()
		t.Fatal("start of a silent engine succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v is not DeadlineExceeded", err)
	}
}

func TestAvailableUnknown(t *testing.T) {
	if ok, reason := Available("nosuch"); ok || !strings.Contains(reason, "unknown") {
		t.Errorf("Available(nosuch) = %v, %q", ok, reason)
	}
	if _, err := Start(context.Background(), "nosuch"); err == nil {
		t.Error("Start(nosuch) succeeded")
	}
}

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("RepoRoot %s has no go.mod: %v", root, err)
	}
	dir := t.TempDir()
	t.Setenv(RepoRootEnv, dir)
	if got, err := RepoRoot(); err != nil || got != dir {
		t.Fatalf("with %s=%s: RepoRoot = %q, %v", RepoRootEnv, dir, got, err)
	}
	if ok, reason := Available(Dynalite); ok || !strings.Contains(reason, "npm ci") {
		t.Errorf("Available(dynalite) under an empty root = %v, %q", ok, reason)
	}
}
