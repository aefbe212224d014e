package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cis-session/cis-session/dev/loadgen"
	"github.com/cis-session/cis-session/dev/proc"
)

// loadResult is the load run as the client saw it, and the local runner's
// own account of its gets.
type loadResult struct {
	workers  int
	client   loadgen.Result
	server   serverTiming
	warmup   int
	requests int
}

// serverTiming is the local runner's "timing" line for GET.
type serverTiming struct {
	Requests         int64   `json:"requests"`
	ServiceMs        float64 `json:"service_ms"`
	DynamoDBMs       float64 `json:"dynamodb_ms"`
	DynamoDBRequests int64   `json:"dynamodb_requests"`
}

// measureLoad builds and starts the local runner (as `make run` does, with
// its own dynalite) on a free loopback port, runs the bounded load of gets
// against it, stops it, and reads the timing line it logs on the way out.
func measureLoad(ctx context.Context, o options) (*loadResult, error) {
	bin, err := filepath.Abs(filepath.Join(o.out, "cis-local"))
	if err != nil {
		return nil, err
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./dev/cmd/cis-local")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("build cis-local: %w", err)
	}
	port, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	const password = "bench-only-Passw0rd"
	cmd := exec.Command(bin, "-addr", "127.0.0.1:"+strconv.Itoa(port))
	cmd.Env = append(os.Environ(), "LOCAL_ADMIN_PASSWORD="+password, "LOG_LEVEL=INFO", "AWS_ENDPOINT_URL_DYNAMODB=")
	logPath := filepath.Join(o.out, "cis-local.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	// On SIGTERM it stops its dynalite, then logs its timing totals.
	runner, err := proc.Start(cmd, proc.Options{Tee: logFile, Grace: 15 * time.Second})
	if err != nil {
		return nil, err
	}
	defer runner.Stop()

	url := "http://127.0.0.1:" + strconv.Itoa(port)
	if err := waitServing(ctx, url, runner); err != nil {
		return nil, err
	}
	r := &loadResult{workers: o.loadWorkers, warmup: 500, requests: o.loadRequests}
	r.client, err = loadgen.Run(ctx, loadgen.Config{
		URL: url, User: "administrator@vsphere.local", Password: password,
		Requests: o.loadRequests, Warmup: r.warmup, Concurrency: o.loadWorkers, MaxDuration: o.loadDuration,
	})
	if err != nil {
		return nil, err
	}
	if r.client.Failures > 0 {
		return nil, fmt.Errorf("%d gets failed; the first: %s", r.client.Failures, r.client.FirstError)
	}
	if err := runner.Stop(); err != nil {
		return nil, err
	}
	timing, err := getTiming(logPath)
	if err != nil {
		return nil, err
	}
	r.server = timing
	return r, nil
}

// getTiming reads the local runner's log for its timing line for GET.
func getTiming(logPath string) (serverTiming, error) {
	f, err := os.Open(logPath)
	if err != nil {
		return serverTiming{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line struct {
			Msg, Method string
			serverTiming
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "timing" && line.Method == http.MethodGet {
			return line.serverTiming, nil
		}
	}
	if err := sc.Err(); err != nil {
		return serverTiming{}, err
	}
	return serverTiming{}, fmt.Errorf("the local runner logged no timing line for GET (see %s)", logPath)
}

// waitServing waits until the service answers (a get without a session is
// a 401).
func waitServing(ctx context.Context, url string, runner *proc.Process) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err := runner.WaitReady(ctx, 50*time.Millisecond, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/session", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("the local runner is not serving on %s (see build/bench/cis-local.log): %w", url, err)
	}
	return nil
}
