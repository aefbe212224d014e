package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/proc"
)

// localRun is the real cis-local binary, run as `make run` runs it, on a
// free port with its own dynalite.
type localRun struct {
	URL    string // http://127.0.0.1:<port>
	cmd    *exec.Cmd
	exited chan struct{} // closed once it has exited; then waitErr is set
	// waitErr is how it exited.
	waitErr error
}

// startLocal builds and runs cis-local with env added to this process's
// environment, its stdout (the JSON log) copied to logs line by line, and
// waits until it listens. Its local env file goes to a temporary path, never
// the checkout's build/, which a developer's own `make run` may be using.
// Whatever is left of it is interrupted (then killed) when the test ends.
func startLocal(t *testing.T, logs io.Writer, env ...string) *localRun {
	t.Helper()
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
	cmd.Env = append(append(os.Environ(), "PORT="+fmt.Sprint(port), "AWS_ENDPOINT_URL_DYNAMODB=", "LOCAL_ADMIN_PASSWORD=Local-Pass-1",
		"CIS_LOCAL_ENV_FILE="+filepath.Join(t.TempDir(), "local.env")), env...)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &localRun{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			_, _ = logs.Write(append(sc.Bytes(), '\n'))
		}
		r.waitErr = cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-r.exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			select {
			case <-r.exited:
			case <-time.After(30 * time.Second):
				t.Error("cis-local did not exit after SIGKILL")
			}
		}
	})
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
	return r
}

// call sends req and returns the answer's status, headers and body.
func call(t *testing.T, req *http.Request) (int, http.Header, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}
