package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/proc"
)

// ctrlC runs `make run PORT=<port>` on a pseudo-terminal, as a developer's
// shell does, waits for its banner, types Ctrl-C, and prints make's exit
// status ("EXIT n", negative for a signal) and what it wrote after. Python's
// pty module makes the terminal: the standard library has none.
const ctrlC = `
import os, pty, select, sys, time
root, port = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.chdir(root)
    os.execvp("make", ["make", "--no-print-directory", "run", "PORT=" + port])
seen, deadline = b"", time.time() + 240
while b"Ctrl-C stops it" not in seen and time.time() < deadline:
    if select.select([fd], [], [], 1)[0]:
        try:
            seen += os.read(fd, 4096)
        except OSError:
            break
if b"Ctrl-C stops it" not in seen:
    print("NO BANNER", seen.decode(errors="replace")[-2000:])
os.write(fd, b"\x03")
after = b""
while select.select([fd], [], [], 60)[0]:
    try:
        d = os.read(fd, 4096)
    except OSError:
        break
    if not d:
        break
    after += d
print("EXIT", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
print(after.decode(errors="replace"))
`

// TestCtrlCStopsMakeRunWithStatus0: Ctrl-C in the terminal of `make run`
// stops it, and make itself ends with status 0, not "Interrupt".
func TestCtrlCStopsMakeRunWithStatus0(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs make run")
	}
	for _, tool := range []string{"make", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " is not installed")
		}
	}
	root, err := localdynamo.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	port, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", "-c", ctrlC, root, strconv.Itoa(port))
	cmd.Env = append(os.Environ(), "CIS_LOCAL_ENV_FILE="+filepath.Join(t.TempDir(), "cis-local.env"), "LOCAL_OIDC=", "MAKEFLAGS=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(string(out), "EXIT 0\n") || !strings.Contains(string(out), "cis-local: stopped") || strings.Contains(string(out), "Interrupt") {
		t.Errorf("Ctrl-C in make run's terminal:\n%s\nwant cis-local stopped and make's status 0", out)
	}
}
