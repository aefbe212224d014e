package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMakeRunServesTheWalkThroughAndStopsEverything runs the real cis-local
// binary as `make run` does, walks through the README's curl session, then
// interrupts it and checks that the dynalite it started is gone too.
func TestMakeRunServesTheWalkThroughAndStopsEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	// Its log names the engine it started.
	enginePID := make(chan int, 1)
	logs := logLines(func(line []byte) {
		var rec struct {
			Msg string `json:"msg"`
			PID int    `json:"pid"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.Msg == "started dynalite, in memory" {
			select {
			case enginePID <- rec.PID:
			default: // the first engine named is the one to check
			}
		}
	})
	run := startLocal(t, logs)
	base := run.URL + "/api/session"

	req, _ := http.NewRequest("POST", base, nil)
	req.SetBasicAuth("administrator@vsphere.local", "Local-Pass-1")
	status, _, body := call(t, req)
	if status != 201 {
		t.Fatalf("log in as the seeded local user: %d %s", status, body)
	}
	id := strings.Trim(body, "\"\n")
	get, _ := http.NewRequest("GET", base, nil)
	get.Header.Set("vmware-api-session-id", id)
	if status, _, body := call(t, get); status != 200 || !strings.Contains(body, `"user":"administrator@vsphere.local"`) {
		t.Fatalf("get: %d %s", status, body)
	}
	del, _ := http.NewRequest("DELETE", base, nil)
	del.Header.Set("vmware-api-session-id", id)
	if status, _, _ := call(t, del); status != 204 {
		t.Fatalf("delete: %d", status)
	}
	if status, _, body := call(t, get); status != 401 || !strings.Contains(body, `"error_type":"UNAUTHENTICATED"`) {
		t.Fatalf("get after delete: %d %s", status, body)
	}

	var pid int
	select {
	case pid = <-enginePID:
	default:
		t.Fatal("cis-local did not log the engine it started")
	}
	if err := run.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-run.exited:
		if run.waitErr != nil {
			t.Fatalf("cis-local exited with %v after Ctrl-C", run.waitErr)
		}
	case <-time.After(time.Minute):
		t.Fatal("cis-local did not stop on Ctrl-C")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("dynalite (pid %d) still running after cis-local stopped: %v", pid, err)
	}
}

// logLines is a writer that hands each line written to it to f.
type logLines func(line []byte)

func (f logLines) Write(p []byte) (int, error) {
	f(bytes.TrimRight(p, "\n"))
	return len(p), nil
}
