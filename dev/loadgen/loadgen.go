// Package loadgen drives a running session service on this machine with a
// bounded load of gets: each worker logs in once, then the workers share a
// fixed number of GET /api/session requests, stopping early at a deadline.
// dev/cmd/cis-load and `make bench` use it.
//
// It only ever talks to loopback addresses: it is for measuring `make run`,
// not for loading a deployed stack (which would cost money and trip its
// throttles).
package loadgen

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config is one load run.
type Config struct {
	URL            string        // base URL of the service, e.g. http://127.0.0.1:3000
	User, Password string        // credentials each worker logs in with
	Requests       int           // gets to measure, in all
	Warmup         int           // gets before measuring, in all, not counted
	Concurrency    int           // workers, each with its own session and connection
	MaxDuration    time.Duration // stop measuring after this long, whatever the count
}

// Result is what a run measured.
type Result struct {
	Latencies  []time.Duration // of every measured get, sorted
	Failures   int             // gets that did not answer 200
	FirstError string          // the first failure, for the report
	Elapsed    time.Duration   // wall time of the measured part
}

// Percentile returns the latency below which p (0 to 100) per cent of the
// measured gets fell, by the nearest-rank method.
func (r Result) Percentile(p float64) time.Duration { return Percentile(r.Latencies, p) }

// Percentile returns the nearest-rank p-th percentile (0 to 100) of sorted,
// which is in ascending order; the zero value for none.
func Percentile[T any](sorted []T, p float64) T {
	if len(sorted) == 0 {
		var zero T
		return zero
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

// Mean returns the mean latency.
func (r Result) Mean() time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	var sum time.Duration
	for _, l := range r.Latencies {
		sum += l
	}
	return sum / time.Duration(len(r.Latencies))
}

// Throughput returns the measured gets per second.
func (r Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(len(r.Latencies)+r.Failures) / r.Elapsed.Seconds()
}

// Run logs each worker in, warms up, then measures c.Requests gets.
func Run(ctx context.Context, c Config) (Result, error) {
	if err := c.check(); err != nil {
		return Result{}, err
	}
	client := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil, // loopback only; never via a proxy
			MaxIdleConnsPerHost: c.Concurrency,
			DisableCompression:  true,
		},
	}
	defer client.CloseIdleConnections()
	base := strings.TrimRight(c.URL, "/")

	tokens := make([]string, c.Concurrency)
	for i := range tokens {
		tok, err := login(ctx, client, base, c.User, c.Password)
		if err != nil {
			return Result{}, err
		}
		tokens[i] = tok
	}

	if _, err := phase(ctx, client, base, tokens, c.Warmup, time.Now().Add(c.MaxDuration)); err != nil {
		return Result{}, err
	}
	t0 := time.Now()
	res, err := phase(ctx, client, base, tokens, c.Requests, t0.Add(c.MaxDuration))
	res.Elapsed = time.Since(t0)
	slices.Sort(res.Latencies)
	return res, err
}

// phase has one worker per token send gets, taking turns at a shared count
// of n, until the count is reached or the deadline passes.
func phase(ctx context.Context, client *http.Client, base string, tokens []string, n int, deadline time.Time) (Result, error) {
	var next atomic.Int64
	var mu sync.Mutex
	var res Result
	var wg sync.WaitGroup
	for _, tok := range tokens {
		wg.Go(func() {
			var lat []time.Duration
			var failures int
			var firstErr string
			for next.Add(1) <= int64(n) && ctx.Err() == nil && time.Now().Before(deadline) {
				t0 := time.Now()
				err := get(ctx, client, base, tok)
				d := time.Since(t0)
				if err != nil {
					failures++
					if firstErr == "" {
						firstErr = err.Error()
					}
					continue
				}
				lat = append(lat, d)
			}
			mu.Lock()
			defer mu.Unlock()
			res.Latencies = append(res.Latencies, lat...)
			res.Failures += failures
			if res.FirstError == "" {
				res.FirstError = firstErr
			}
		})
	}
	wg.Wait()
	return res, ctx.Err()
}

func (c Config) check() error {
	u, err := url.Parse(c.URL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("loadgen: %q is not an http:// URL", c.URL)
	}
	ip := net.ParseIP(u.Hostname())
	if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("loadgen: %s is not a loopback address; this tool only loads `make run` on this machine", u.Hostname())
	}
	switch {
	case c.Requests < 1 || c.Requests > 10_000_000:
		return errors.New("loadgen: requests must be 1 to 10,000,000")
	case c.Warmup < 0:
		return errors.New("loadgen: warm-up must not be negative")
	case c.Concurrency < 1 || c.Concurrency > 1024:
		return errors.New("loadgen: concurrency must be 1 to 1024")
	case c.MaxDuration <= 0 || c.MaxDuration > time.Hour:
		return errors.New("loadgen: the duration bound must be above 0 and at most an hour")
	}
	return nil
}

func login(ctx context.Context, client *http.Client, base, user, pass string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/session", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("loadgen: log in: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("loadgen: log in: %w", err)
	}
	var tok string
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &tok) != nil || tok == "" {
		return "", fmt.Errorf("loadgen: log in as %s: %s %s", user, resp.Status, body)
	}
	return tok, nil
}

func get(ctx context.Context, client *http.Client, base, tok string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/session", nil)
	if err != nil {
		return err
	}
	req.Header.Set("vmware-api-session-id", tok)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get: %s", resp.Status)
	}
	return nil
}
