// Package localrun runs the real cis-local binary as `make run` runs it,
// for the end-to-end tests of `make run` and `make smoke`: built from this
// checkout, on a free loopback port, with its own in-memory dynalite,
// supervised by dev/proc and stopped by pid when the test ends.
//
// It is for tests only; nothing that ships imports it.
package localrun

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/proc"
	"github.com/cis-session/cis-session/internal/awsenv"
	"github.com/cis-session/cis-session/internal/dynamo"
)

// Password is the local administrator's password a run seeds, unless the
// test's env says LOCAL_ADMIN_PASSWORD otherwise.
const Password = "Local-Pass-1"

// Run is one running cis-local.
type Run struct {
	URL string // http://127.0.0.1:<port>
	// EnvFile is where it writes its engine's settings for `make admin`
	// while it runs: a temporary path, never the checkout's build/, which
	// a developer's own `make run` may be using.
	EnvFile string
	p       *proc.Process
	engine  atomic.Int64 // the pid of the dynalite it logged starting
}

// Start builds cis-local and runs it with env added to this process's
// environment (a later KEY=value wins), hands each line it writes (stdout's
// JSON log and stderr's banner) to logs, and waits until it listens.
func Start(t testing.TB, logs io.Writer, env ...string) *Run {
	t.Helper()
	root, err := localdynamo.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "cis-local")
	build := exec.Command("go", "build", "-o", bin, "./dev/cmd/cis-local")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build cis-local: %v\n%s", err, out)
	}
	port, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	r := &Run{URL: fmt.Sprintf("http://127.0.0.1:%d", port), EnvFile: filepath.Join(t.TempDir(), "cis-local.env")}
	cmd := exec.Command(bin)
	cmd.Dir = root
	cmd.Env = append(append(os.Environ(), "PORT="+fmt.Sprint(port), "AWS_ENDPOINT_URL_DYNAMODB=",
		"LOCAL_ADMIN_PASSWORD="+Password, "CIS_LOCAL_ENV_FILE="+r.EnvFile), env...)
	r.p, err = proc.Start(cmd, proc.Options{Tee: &proc.Lines{To: logs, Seen: r.noteEngine}, Grace: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.p.Stop(); err != nil {
			t.Error(err)
		}
		// A failure against the real binary is read with its own log: why
		// it answered what it did (a 503's cause is logged, never sent).
		if t.Failed() {
			t.Logf("the tail of what cis-local wrote:\n%s", r.p.Output())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := r.p.WaitListening(ctx, fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
		t.Fatalf("cis-local never listened: %v\n%s", err, r.p.Output())
	}
	return r
}

// noteEngine remembers the pid of the engine a log line says it started.
func (r *Run) noteEngine(line []byte) {
	var rec struct {
		Msg string `json:"msg"`
		PID int    `json:"pid"`
	}
	if json.Unmarshal(line, &rec) == nil && rec.Msg == "started dynalite, in memory" {
		r.engine.CompareAndSwap(0, int64(rec.PID))
	}
}

// EnginePID is the pid of the dynalite it started (logged before it
// listens, so known once Start returns), or 0 if it logged none.
func (r *Run) EnginePID() int { return int(r.engine.Load()) }

// Done is closed once it has exited and been reaped; Err then says how.
func (r *Run) Done() <-chan struct{} { return r.p.Done() }

// Err waits for it to exit and returns how it did.
func (r *Run) Err() error { return r.p.Err() }

// Output is the tail of everything it wrote.
func (r *Run) Output() string { return r.p.Output() }

// Interrupt stops it as Ctrl-C does (SIGINT to it alone, not its process
// group, so that it must stop what it started itself), waits for it, and
// fails the test unless it exits cleanly within a minute.
func (r *Run) Interrupt(t testing.TB) {
	t.Helper()
	if err := syscall.Kill(r.p.PID(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.p.Done():
	case <-time.After(time.Minute):
		t.Fatal("cis-local did not stop on Ctrl-C")
	}
	if err := r.p.Err(); err != nil {
		t.Fatalf("cis-local exited with %v after Ctrl-C\n%s", err, r.p.Output())
	}
}

// Settings is what the running cis-local wrote into its settings file, the
// one `make admin` and `make token` read (KEY=value lines; comments left
// out). It waits for the file, which is written just after it listens.
func (r *Run) Settings(t testing.TB) map[string]string {
	t.Helper()
	env, err := os.ReadFile(r.EnvFile)
	for deadline := time.Now().Add(30 * time.Second); os.IsNotExist(err) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		env, err = os.ReadFile(r.EnvFile)
	}
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(string(env), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(k, "#") {
			vars[k] = v
		}
	}
	return vars
}

// DB is a client of the engine the run serves from, as its settings name
// it: for writing an item straight into storage, as an attacker with the
// table's keys or an older release would.
func (r *Run) DB(t testing.TB) *dynamo.Client {
	t.Helper()
	vars := r.Settings(t)
	cfg, err := awsenv.Config(func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, "AWS_ENDPOINT_URL_DYNAMODB")
	if err != nil {
		t.Fatal(err)
	}
	return dynamo.NewClientFromConfig(cfg)
}
