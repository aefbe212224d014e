// Package regionsrun runs the real cis-regions binary as `make run-regions`
// runs it, for the end-to-end tests of two regions: built from this
// checkout, region a on a free loopback port and b on the next, its
// build/regions.env written to a temporary file and read back, supervised
// by dev/proc and stopped by pid when the test ends.
//
// It is for tests only; nothing that ships imports it.
package regionsrun

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/localrun"
	"github.com/cis-session/cis-session/dev/proc"
	"github.com/cis-session/cis-session/dev/replicator"
)

// Password is the seeded administrator's password in both regions.
const Password = localrun.Password

// Run is one running cis-regions: what its regions.env says.
type Run struct {
	Env map[string]string // REGION_A_URL, REGION_B_ENGINE_PID, REPLICATOR_URL, ...
	// EnvFiles are each region's settings for the admin tool, by region.
	EnvFiles map[string]string
	Lag      time.Duration
	p        *proc.Process
}

// URL is region's base URL ("a" or "b").
func (r *Run) URL(region string) string { return r.Env["REGION_"+strings.ToUpper(region)+"_URL"] }

// EnginePID is the pid of region's dynalite.
func (r *Run) EnginePID(region string) int {
	n, _ := strconv.Atoi(r.Env["REGION_"+strings.ToUpper(region)+"_ENGINE_PID"])
	return n
}

// Start builds cis-regions and runs it with lag and env added to this
// process's environment, handing its output to logs, and waits until it
// has written where its regions are.
func Start(t testing.TB, logs io.Writer, lag time.Duration, env ...string) *Run {
	t.Helper()
	root, err := localdynamo.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "cis-regions")
	build := exec.Command("go", "build", "-o", bin, "./dev/cmd/cis-regions")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build cis-regions: %v\n%s", err, out)
	}
	port, err := twoFreePorts()
	if err != nil {
		t.Fatal(err)
	}
	envFile := filepath.Join(dir, "regions.env")
	r := &Run{Lag: lag, EnvFiles: map[string]string{}}
	cmd := exec.Command(bin)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port), "REPLICATION_LAG="+lag.String(),
		"LOCAL_ADMIN_PASSWORD="+Password, "REGIONS_ENV_FILE="+envFile, "CIS_LOCAL_ENV_DIR="+dir)
	cmd.Env = append(cmd.Env, env...)
	r.p, err = proc.Start(cmd, proc.Options{Tee: logs, Grace: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.p.Stop(); err != nil {
			t.Error(err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err = r.p.WaitReady(ctx, 50*time.Millisecond, func(context.Context) error {
		f, err := os.Open(envFile)
		if err != nil {
			return err
		}
		defer f.Close()
		r.Env = map[string]string{}
		for sc := bufio.NewScanner(f); sc.Scan(); {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
				r.Env[k] = v
			}
		}
		if r.Env["REPLICATOR_URL"] == "" {
			return fmt.Errorf("%s is not whole yet", envFile)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("cis-regions never wrote %s: %v\n%s", envFile, err, r.p.Output())
	}
	for i, name := range []string{"a", "b"} {
		r.EnvFiles[name] = filepath.Join(dir, fmt.Sprintf("cis-local-%d.env", port+i))
	}
	return r
}

// twoFreePorts returns a free loopback port whose successor is free too.
func twoFreePorts() (int, error) {
	for range 50 {
		p, err := proc.FreePort()
		if err != nil {
			return 0, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1))
		if err == nil {
			ln.Close()
			return p, nil
		}
	}
	return 0, fmt.Errorf("no two free consecutive loopback ports")
}

// Status is the replicator's GET /status.
func (r *Run) Status(t testing.TB) replicator.Status {
	t.Helper()
	resp, err := http.Get(r.Env["REPLICATOR_URL"] + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s replicator.Status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// Control posts to the replicator's control: "pause" or "resume".
func (r *Run) Control(t testing.TB, what string) {
	t.Helper()
	resp, err := http.Post(r.Env["REPLICATOR_URL"]+"/"+what, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /%s: %d", what, resp.StatusCode)
	}
}

// Settle waits until the replicator has nothing queued, at most the lag
// and 10 s.
func (r *Run) Settle(t testing.TB) replicator.Status {
	t.Helper()
	for end := time.Now().Add(r.Lag + 10*time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if s := r.Status(t); s.Pending == 0 {
			return s
		}
	}
	t.Fatalf("replication never settled: %+v", r.Status(t))
	return replicator.Status{}
}

// Output is the tail of everything it wrote.
func (r *Run) Output() string { return r.p.Output() }
