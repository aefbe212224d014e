// Command cis-openload measures `make run` under open-loop load: gets sent
// at fixed rates whether or not earlier ones have been answered, as many
// independent clients send them, so that queueing delay shows in the
// latencies instead of slowing the sender down (which a closed loop, such as
// cis-load's workers, does). It logs one user in -sessions times, then for
// each rate in -rates sends GET /api/session for -duration, round-robin over
// those sessions, and prints latency percentiles per rate.
//
// vegeta's attacker does the pacing and the measuring: it is the kept
// library for exactly this. The tool is bounded (at most 2000 gets a second
// for at most a minute per rate, at most 550 sessions) and talks only to
// loopback addresses.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Bounds on what one run may send.
const (
	maxRate     = 2000
	maxDuration = time.Minute
	maxSessions = 550 // the default per-user cap
)

type config struct {
	url, user, password string
	rates               []int
	duration            time.Duration
	sessions            int
}

func main() {
	var c config
	var rates string
	flag.StringVar(&c.url, "url", "http://127.0.0.1:3000", "base URL of the service (loopback only)")
	flag.StringVar(&c.user, "user", "administrator@vsphere.local", "user to log in as")
	flag.StringVar(&c.password, "password", envOr("LOCAL_ADMIN_PASSWORD", "Admin!23"), "password (default $LOCAL_ADMIN_PASSWORD or make run's)")
	flag.StringVar(&rates, "rates", "100,200,400", "gets per second, comma-separated; one run at each")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "how long each rate is held")
	flag.IntVar(&c.sessions, "sessions", 4, "sessions the user holds; the gets go round-robin over them")
	flag.Parse()
	var err error
	if c.rates, err = parseRates(rates); err == nil {
		err = c.check()
	}
	if err == nil {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		err = run(ctx, c, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cis-openload:", err)
		os.Exit(1)
	}
}

func parseRates(s string) ([]int, error) {
	var rates []int
	for _, f := range strings.Split(s, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || r < 1 || r > maxRate {
			return nil, fmt.Errorf("-rates: %q is not a rate from 1 to %d", f, maxRate)
		}
		rates = append(rates, r)
	}
	return rates, nil
}

func (c config) check() error {
	u, err := url.Parse(c.url)
	if err != nil || u.Scheme != "http" {
		return fmt.Errorf("-url %q: want http://<loopback>:<port>", c.url)
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-url %s is not a loopback address; this tool only loads `make run` on this machine", u.Hostname())
	}
	if c.duration <= 0 || c.duration > maxDuration {
		return fmt.Errorf("-duration %s: want more than 0, at most %s", c.duration, maxDuration)
	}
	if c.sessions < 1 || c.sessions > maxSessions {
		return fmt.Errorf("-sessions %d: want 1 to %d", c.sessions, maxSessions)
	}
	return nil
}

func run(ctx context.Context, c config, out io.Writer) error {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}}
	start := time.Now()
	tokens, err := loginAll(ctx, client, c)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s holds %d sessions (logged in in %.1f s); each rate held %s, gets round-robin over them\n\n",
		c.user, len(tokens), time.Since(start).Seconds(), c.duration)
	fmt.Fprintln(out, "| rate /s | sent | ok | achieved /s | p50 ms | p90 ms | p99 ms | max ms | mean ms |")
	fmt.Fprintln(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, rate := range c.rates {
		m := attack(ctx, c.url, tokens, rate, c.duration)
		ms := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }
		fmt.Fprintf(out, "| %d | %d | %d | %.0f | %s | %s | %s | %s | %s |\n", rate, m.Requests, int(float64(m.Requests)*m.Success),
			m.Throughput, ms(m.Latencies.P50), ms(m.Latencies.P90), ms(m.Latencies.P99), ms(m.Latencies.Max), ms(m.Latencies.Mean))
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if m.Success < 1 && len(m.Errors) > 0 {
			fmt.Fprintf(out, "\nat %d/s, failures: %s\n", rate, strings.Join(m.Errors, "; "))
		}
	}
	return nil
}

// attack sends gets at rate for d, round-robin over tokens, and returns
// vegeta's metrics of them.
func attack(ctx context.Context, base string, tokens []string, rate int, d time.Duration) vegeta.Metrics {
	var next atomic.Uint64
	target := base + "/api/session"
	targeter := func(t *vegeta.Target) error {
		i := next.Add(1) - 1
		t.Method, t.URL = http.MethodGet, target
		t.Header = http.Header{"Vmware-Api-Session-Id": {tokens[i%uint64(len(tokens))]}}
		return nil
	}
	a := vegeta.NewAttacker(vegeta.Timeout(10*time.Second), vegeta.KeepAlive(true), vegeta.MaxWorkers(512))
	var m vegeta.Metrics
	results := a.Attack(targeter, vegeta.Rate{Freq: rate, Per: time.Second}, d, fmt.Sprintf("%d/s", rate))
	for {
		select {
		case <-ctx.Done():
			a.Stop()
		case r, ok := <-results:
			if !ok {
				m.Close()
				return m
			}
			m.Add(r)
			continue
		}
		for r := range results {
			m.Add(r)
		}
		m.Close()
		return m
	}
}

// loginAll logs the user in c.sessions times, two at a time (each log-in
// hashes a password), and returns the session ids.
func loginAll(ctx context.Context, client *http.Client, c config) ([]string, error) {
	tokens := make([]string, c.sessions)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < c.sessions && errs[w] == nil; i += 2 {
				tokens[i], errs[w] = login(ctx, client, c)
			}
		}()
	}
	wg.Wait()
	return tokens, errors.Join(errs...)
}

func login(ctx context.Context, client *http.Client, c config) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/api/session", nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(c.user, c.password)
	res, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("log in: %w (is `make run` running?)", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("log in: %s: %s", res.Status, body)
	}
	var tok string
	if err := json.Unmarshal(body, &tok); err != nil {
		return "", fmt.Errorf("log in: answer %q: %w", body, err)
	}
	return tok, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
