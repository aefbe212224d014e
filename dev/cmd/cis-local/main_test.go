package main

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/cis-session/cis-session/dev/localrun"
)

// TestMakeRunServesTheWalkThroughAndStopsEverything runs the real cis-local
// binary as `make run` does, walks through the README's curl session, then
// interrupts it and checks that the dynalite it started is gone too.
func TestMakeRunServesTheWalkThroughAndStopsEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	run := localrun.Start(t, io.Discard)
	base := run.URL + "/api/session"

	req, _ := http.NewRequest("POST", base, nil)
	req.SetBasicAuth("administrator@vsphere.local", localrun.Password)
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

	pid := run.EnginePID()
	if pid == 0 {
		t.Fatal("cis-local did not log the engine it started")
	}
	run.Interrupt(t)
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("dynalite (pid %d) still running after cis-local stopped: %v", pid, err)
	}
}
