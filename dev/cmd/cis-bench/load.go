package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/cis-session/cis-session/dev/loadgen"
	"github.com/cis-session/cis-session/dev/localdynamo"
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
	port, err := localdynamo.FreePort()
	if err != nil {
		return nil, err
	}
	const password = "bench-only-Passw0rd"
	cmd := exec.Command(bin, "-addr", "127.0.0.1:"+strconv.Itoa(port))
	cmd.Env = append(os.Environ(), "LOCAL_ADMIN_PASSWORD="+password, "LOG_LEVEL=INFO", "AWS_ENDPOINT_URL_DYNAMODB=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(o.out, "cis-local.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	var timing serverTiming
	var found bool
	var mu sync.Mutex
	go func() {
		// Every request logs a line: read them all, keep the timing.
		sc := bufio.NewScanner(io.TeeReader(stdout, logFile))
		for sc.Scan() {
			var line struct {
				Msg, Method string
				serverTiming
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "timing" && line.Method == http.MethodGet {
				mu.Lock()
				timing, found = line.serverTiming, true
				mu.Unlock()
			}
		}
		_ = cmd.Wait()
		close(exited)
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(os.Interrupt) // it stops its dynalite too
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-exited
		}
	}
	defer stop()

	url := "http://127.0.0.1:" + strconv.Itoa(port)
	if err := waitServing(ctx, url, exited); err != nil {
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
	stop()
	mu.Lock()
	defer mu.Unlock()
	if !found {
		return nil, errors.New("the local runner logged no timing line for GET (see build/bench/cis-local.log)")
	}
	r.server = timing
	return r, nil
}

// waitServing waits until the service answers (a get without a session is
// a 401).
func waitServing(ctx context.Context, url string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/session", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("the local runner exited before serving (see build/bench/cis-local.log)")
		case <-ctx.Done():
			return fmt.Errorf("the local runner is not serving on %s: %w", url, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
