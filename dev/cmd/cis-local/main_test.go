package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/proc"
)

// TestMakeRunServesTheWalkThroughAndStopsEverything runs the real cis-local
// binary as `make run` does, walks through the README's curl session, then
// interrupts it and checks that the dynalite it started is gone too.
func TestMakeRunServesTheWalkThroughAndStopsEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	root, err := localdynamo.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "cis-local")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	port, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "PORT="+fmt.Sprint(port), "AWS_ENDPOINT_URL_DYNAMODB=", "LOCAL_ADMIN_PASSWORD=Local-Pass-1", "CIS_LOCAL_ENV_FILE="+filepath.Join(t.TempDir(), "local.env"))
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				t.Error("cis-local did not exit after SIGKILL")
			}
		}
	})
	enginePID := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var rec struct {
				Msg string `json:"msg"`
				PID int    `json:"pid"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "started dynalite, in memory" {
				enginePID <- rec.PID
			}
		}
		waitErr = cmd.Wait()
		close(exited)
	}()

	base := fmt.Sprintf("http://127.0.0.1:%d/api/session", port)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("cis-local never listened")
		}
		time.Sleep(50 * time.Millisecond)
	}

	req, _ := http.NewRequest("POST", base, nil)
	req.SetBasicAuth("administrator@vsphere.local", "Local-Pass-1")
	status, body := do(t, req)
	if status != 201 {
		t.Fatalf("log in as the seeded local user: %d %s", status, body)
	}
	id := strings.Trim(body, "\"\n")
	get, _ := http.NewRequest("GET", base, nil)
	get.Header.Set("vmware-api-session-id", id)
	if status, body := do(t, get); status != 200 || !strings.Contains(body, `"user":"administrator@vsphere.local"`) {
		t.Fatalf("get: %d %s", status, body)
	}
	del, _ := http.NewRequest("DELETE", base, nil)
	del.Header.Set("vmware-api-session-id", id)
	if status, _ := do(t, del); status != 204 {
		t.Fatalf("delete: %d", status)
	}
	if status, body := do(t, get); status != 401 || !strings.Contains(body, `"error_type":"UNAUTHENTICATED"`) {
		t.Fatalf("get after delete: %d %s", status, body)
	}

	var pid int
	select {
	case pid = <-enginePID:
	default:
		t.Fatal("cis-local did not log the engine it started")
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("cis-local exited with %v after Ctrl-C", waitErr)
		}
	case <-time.After(time.Minute):
		t.Fatal("cis-local did not stop on Ctrl-C")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("dynalite (pid %d) still running after cis-local stopped: %v", pid, err)
	}
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
