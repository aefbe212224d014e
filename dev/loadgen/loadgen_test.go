package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeService answers log-ins with a token and gets with 200, or 401 for
// any other token, counting both.
func fakeService(t *testing.T, logins, gets *atomic.Int64) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/api/session":
			if u, p, ok := r.BasicAuth(); !ok || u != "u@d" || p != "pw" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			logins.Add(1)
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`"0123456789abcdef0123456789abcdef"`))
		case r.Method == http.MethodGet && r.URL.Path == "/api/session":
			gets.Add(1)
			if r.Header.Get("vmware-api-session-id") != "0123456789abcdef0123456789abcdef" {
				w.WriteHeader(http.StatusUnauthorized)
			}
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRunSendsExactlyTheBoundedLoad(t *testing.T) {
	var logins, gets atomic.Int64
	srv := fakeService(t, &logins, &gets)
	r, err := Run(context.Background(), Config{URL: srv.URL, User: "u@d", Password: "pw",
		Requests: 300, Warmup: 20, Concurrency: 3, MaxDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if logins.Load() != 3 {
		t.Errorf("%d log-ins, want one per worker (3)", logins.Load())
	}
	if gets.Load() != 320 {
		t.Errorf("%d gets sent, want warm-up 20 + 300", gets.Load())
	}
	if len(r.Latencies) != 300 || r.Failures != 0 {
		t.Errorf("measured %d gets, %d failures; want 300, 0", len(r.Latencies), r.Failures)
	}
	if r.Percentile(50) > r.Percentile(99) || r.Percentile(99) > r.Percentile(100) || r.Elapsed <= 0 {
		t.Errorf("p50 %v, p99 %v, max %v, elapsed %v", r.Percentile(50), r.Percentile(99), r.Percentile(100), r.Elapsed)
	}
}

func TestRunFailsWithoutALogIn(t *testing.T) {
	var logins, gets atomic.Int64
	srv := fakeService(t, &logins, &gets)
	_, err := Run(context.Background(), Config{URL: srv.URL, User: "u@d", Password: "wrong",
		Requests: 10, Concurrency: 1, MaxDuration: time.Minute})
	if err == nil || gets.Load() != 0 {
		t.Fatalf("err = %v after %d gets; want a log-in error and no gets", err, gets.Load())
	}
}

func TestRunOnlyLoadsLoopback(t *testing.T) {
	for _, url := range []string{"http://192.0.2.1:3000", "http://example.com", "https://127.0.0.1:3000", "127.0.0.1:3000"} {
		_, err := Run(context.Background(), Config{URL: url, Requests: 1, Concurrency: 1, MaxDuration: time.Second})
		if err == nil || !strings.Contains(err.Error(), "loadgen") {
			t.Errorf("Run(%s) = %v, want a refusal before any request", url, err)
		}
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	r := Result{}
	for i := 1; i <= 100; i++ {
		r.Latencies = append(r.Latencies, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 90: 90 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 0.1: time.Millisecond} {
		if got := r.Percentile(p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
}
