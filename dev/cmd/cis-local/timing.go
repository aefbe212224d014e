package main

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/httpapi"
)

// timing measures, per HTTP method, how long the service takes to answer
// and how much of that it spends waiting for DynamoDB: what `make bench`
// reports as the engine's share. It logs each request's split at DEBUG and
// the totals when the runner stops.
type timing struct {
	byMethod map[string]*methodTiming // fixed at start, so read without a lock
}

type methodTiming struct {
	requests, service, engine, engineCalls atomic.Int64 // durations in ns
}

// requestTiming is one request's time in the engine, carried by its context
// down to the SDK's HTTP client.
type requestTiming struct{ engine, calls, retries atomic.Int64 }

type requestTimingKey struct{}

func newTiming() *timing {
	t := &timing{byMethod: map[string]*methodTiming{}}
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete, "other"} {
		t.byMethod[m] = &methodTiming{}
	}
	return t
}

// handler times next, a request at a time.
func (t *timing) handler(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt := &requestTiming{}
		start := time.Now()
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestTimingKey{}, rt)))
		service := time.Since(start)
		m := t.byMethod[r.Method]
		if m == nil {
			m = t.byMethod["other"]
		}
		m.requests.Add(1)
		m.service.Add(int64(service))
		m.engine.Add(rt.engine.Load())
		m.engineCalls.Add(rt.calls.Load())
		log.DebugContext(r.Context(), "timing", "request_id", httpapi.RequestID(r.Context()),
			"service_ms", ms(service), "dynamodb_ms", ms(time.Duration(rt.engine.Load())), "dynamodb_requests", rt.calls.Load(), "dynamodb_retries", rt.retries.Load())
	})
}

// engineClient times every request the SDK sends to the engine, up to its
// response's headers, against the request whose context it carries.
func (t *timing) engineClient(next dynamo.HTTPClient) dynamo.HTTPClient {
	return doFunc(func(r *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := next.Do(r)
		if rt, ok := r.Context().Value(requestTimingKey{}).(*requestTiming); ok {
			rt.engine.Add(int64(time.Since(start)))
			rt.calls.Add(1)
			// The SDK numbers each attempt of a call (amz-sdk-request:
			// attempt=N; max=M): a retry is not a request of the service's.
			if !strings.HasPrefix(r.Header.Get("amz-sdk-request"), "attempt=1;") {
				rt.retries.Add(1)
			}
		}
		return resp, err
	})
}

// log writes the totals, one line per method that was used.
func (t *timing) log(log *slog.Logger) {
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodDelete, "other"} {
		m := t.byMethod[method]
		n := m.requests.Load()
		if n == 0 {
			continue
		}
		log.Info("timing", "method", method, "requests", n,
			"service_ms", ms(time.Duration(m.service.Load())), "dynamodb_ms", ms(time.Duration(m.engine.Load())),
			"dynamodb_requests", m.engineCalls.Load())
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

type doFunc func(*http.Request) (*http.Response, error)

func (f doFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }
