// Command cis-regions runs the service as two regions on this machine, as
// `make run-regions` does: region a on PORT (default 3000) and b on PORT+1,
// each a whole `make run` (the cis-local binary) with its own in-memory
// dynalite, the same seeded user and the same assertion keys, and between
// the two engines a replicator that behaves as a DynamoDB global table in
// its default mode (dev/replicator): changes reach the other region no
// sooner than REPLICATION_LAG (default 1s) after they were made, the last
// writer by its own clock wins.
//
// The replicator's control listens on loopback (REPLICATOR_PORT, default a
// free port): POST /pause, POST /resume, GET /status. Where everything is
// goes to build/regions.env (REGIONS_ENV_FILE names another file), and each
// region's settings for `make admin REGION=a|b` to build/cis-local-PORT.env
// (CIS_LOCAL_ENV_DIR names another directory), removed when it stops. Stopping one region's engine (kill REGION_B_ENGINE_PID)
// leaves the other serving; Ctrl-C stops everything.
package main

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/proc"
	"github.com/cis-session/cis-session/dev/replicator"
)

// RegionsEnvFile is where a running cis-regions says where its regions are,
// relative to the repository root.
const RegionsEnvFile = "build/regions.env"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "cis-regions:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	port, err := strconv.Atoi(cmp.Or(os.Getenv("PORT"), "3000"))
	if err != nil || port <= 0 || port >= 65535 {
		return fmt.Errorf("PORT=%q: want a port number below 65535 (b serves on PORT+1)", os.Getenv("PORT"))
	}
	lag, err := time.ParseDuration(cmp.Or(os.Getenv("REPLICATION_LAG"), replicator.DefaultLag.String()))
	if err != nil || lag < 0 {
		return fmt.Errorf("REPLICATION_LAG=%q: want a duration such as 1s or 250ms", os.Getenv("REPLICATION_LAG"))
	}
	root, err := localdynamo.RepoRoot()
	if err != nil {
		return err
	}

	// Both regions run the same cis-local, built once.
	tmp, err := os.MkdirTemp("", "cis-regions-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "cis-local")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./dev/cmd/cis-local")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build cis-local: %w", err)
	}

	names := []string{"a", "b"}
	var regions []*replicator.Region
	var engines []*localdynamo.Server
	defer func() {
		for _, e := range engines {
			_ = e.Stop()
		}
	}()
	for _, name := range names {
		eng, err := localdynamo.Start(ctx, localdynamo.Dynalite)
		if err != nil {
			return fmt.Errorf("start region %s's dynalite (run `npm ci` first, or `make run-regions`): %w", name, err)
		}
		engines = append(engines, eng)
		regions = append(regions, &replicator.Region{Name: name, Engine: eng.Endpoint})
	}
	rep := replicator.New(lag, regions...)
	if err := rep.Start(); err != nil {
		return err
	}
	defer rep.Stop()
	control, err := net.Listen("tcp", "127.0.0.1:"+cmp.Or(os.Getenv("REPLICATOR_PORT"), "0"))
	if err != nil {
		return fmt.Errorf("replicator control: %w", err)
	}
	controlSrv := &http.Server{Handler: rep.Control(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = controlSrv.Serve(control) }()
	defer controlSrv.Close()

	// One after the other: a creates the assertion key file both sign with.
	var stacks []*proc.Process
	defer func() {
		for _, p := range stacks {
			_ = p.Stop()
		}
	}()
	urls := make([]string, len(names))
	for i, name := range names {
		urls[i] = fmt.Sprintf("http://127.0.0.1:%d", port+i)
		cmd := exec.Command(bin)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port+i),
			"AWS_ENDPOINT_URL_DYNAMODB="+regions[i].URL,
			// dynalite does not return the item with a failed condition.
			"DYNAMODB_READ_ON_FAILED_CONDITION=true",
			"REGION_NAME="+name, "PEER_REGIONS="+peersOf(regions, i))
		if dir := os.Getenv("CIS_LOCAL_ENV_DIR"); dir != "" {
			// The tests': each region's settings file in a directory of
			// theirs, never the checkout's build/.
			cmd.Env = append(cmd.Env, fmt.Sprintf("CIS_LOCAL_ENV_FILE=%s/cis-local-%d.env", dir, port+i))
		}
		p, err := proc.Start(cmd, proc.Options{Tee: &proc.Lines{To: os.Stdout, Prefix: "[" + name + "] "}, Grace: 10 * time.Second})
		if err != nil {
			return fmt.Errorf("start region %s: %w", name, err)
		}
		stacks = append(stacks, p)
		wait, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err = p.WaitListening(wait, fmt.Sprintf("127.0.0.1:%d", port+i))
		cancel()
		if err != nil {
			return fmt.Errorf("region %s never listened on %s: %w\n%s", name, urls[i], err, p.Output())
		}
	}
	// Ready only once the replicator has delivered what the starts wrote:
	// each region may have seeded the user before the other's seed reached
	// it (a region's tables exist only once its stack has started), and the
	// later of two seeds, which differ in salt and revision, replaces the
	// other everywhere, under any log-in then in flight.
	if err := drained(ctx, rep); err != nil {
		return err
	}

	envFile := cmp.Or(os.Getenv("REGIONS_ENV_FILE"), filepath.Join(root, RegionsEnvFile))
	body := "# Written by cis-regions (make run-regions) while it runs; removed when it stops.\n"
	for i, name := range names {
		up := strings.ToUpper(name)
		body += fmt.Sprintf("REGION_%s_URL=%s\nREGION_%s_ENGINE=%s\nREGION_%s_ENGINE_PID=%d\n",
			up, urls[i], up, regions[i].URL, up, engines[i].PID())
	}
	body += "REPLICATOR_URL=http://" + control.Addr().String() + "\n"
	if err := os.MkdirAll(filepath.Dir(envFile), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(envFile, []byte(body), 0o600); err != nil {
		return err
	}
	defer os.Remove(envFile)

	fmt.Fprintf(os.Stderr, "\nTwo regions, replicated as a DynamoDB global table (MREC) with a lag of %v:\n"+
		"  a: %s (DynamoDB at %s)\n  b: %s (DynamoDB at %s)\n"+
		"  replicator: curl -X POST http://%s/pause | /resume, curl http://%s/status\n"+
		"  make admin REGION=a|b ARGS=...; where everything is: %s\nCtrl-C stops it.\n\n",
		lag, urls[0], regions[0].URL, urls[1], regions[1].URL, control.Addr(), control.Addr(), envFile)

	// A region's stack ending ends the run; its engine dying does not: that
	// is a region lost, which the other survives.
	ended := make(chan string, len(stacks))
	for i, p := range stacks {
		go func() { <-p.Done(); ended <- names[i] }()
	}
	for i, e := range engines {
		go func() {
			<-e.Done()
			if ctx.Err() != nil {
				return // stopping: no region lost
			}
			fmt.Fprintf(os.Stderr, "cis-regions: region %s's engine (pid %d) has stopped; region %s answers 503, the other serves on\n", names[i], e.PID(), names[i])
		}()
	}
	select {
	case name := <-ended:
		for i, n := range names {
			if n == name {
				return fmt.Errorf("region %s's service stopped: %v\n%s", name, stacks[i].Err(), stacks[i].Output())
			}
		}
	case <-ctx.Done():
	}
	fmt.Fprintln(os.Stderr, "cis-regions: stopping")
	return nil
}

// peersOf is PEER_REGIONS for region i: every other region's name and the
// endpoint its service reaches its engine at.
func peersOf(regions []*replicator.Region, i int) string {
	var p []string
	for j, g := range regions {
		if j != i {
			p = append(p, g.Name+"="+g.URL)
		}
	}
	return strings.Join(p, ",")
}

// drained waits until the replicator has delivered every change it holds.
func drained(ctx context.Context, rep *replicator.Replicator) error {
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for rep.Status().Pending > 0 {
		select {
		case <-wait.Done():
			return fmt.Errorf("the replicator did not deliver what the regions wrote as they started: %w", wait.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}
