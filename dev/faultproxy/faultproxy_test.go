package faultproxy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// engine stands in for a DynamoDB engine: it answers every request 200 and
// counts what reached it.
type engine struct {
	*httptest.Server
	hits atomic.Int64
}

func newEngine(t *testing.T) *engine {
	e := &engine{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte(`{"Host":"` + r.Host + `"}`))
	}))
	t.Cleanup(e.Close)
	return e
}

func start(t *testing.T, e *engine) *Proxy {
	t.Helper()
	p, err := Start(e.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func call(ctx context.Context, client *http.Client, p *Proxy) (*http.Response, string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.URL+"/", strings.NewReader(`{"TableName":"t"}`))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.GetItem")
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func TestForwardsUnchangedAndCountsByOperation(t *testing.T) {
	e := newEngine(t)
	p := start(t, e)
	resp, body, err := call(context.Background(), http.DefaultClient, p)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("call = %v, %v", resp, err)
	}
	var got struct{ Host string }
	_ = json.Unmarshal([]byte(body), &got)
	if got.Host != strings.TrimPrefix(p.URL, "http://") {
		t.Errorf("engine saw Host %q, want the proxy's (requests are signed for it)", got.Host)
	}
	if p.Counts()["GetItem"] != 1 || p.Forwarded() != 1 || e.hits.Load() != 1 {
		t.Errorf("counts %v, forwarded %d, engine hits %d", p.Counts(), p.Forwarded(), e.hits.Load())
	}
}

func TestDynamoDBErrorFaults(t *testing.T) {
	cases := []struct {
		kind   Kind
		status int
		typ    string
	}{
		{InternalError, 500, "com.amazonaws.dynamodb.v20120810#InternalServerError"},
		{Throttling, 400, "com.amazonaws.dynamodb.v20120810#ThrottlingException"},
		{ThroughputExceeded, 400, "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"},
	}
	for _, c := range cases {
		t.Run(string(c.kind), func(t *testing.T) {
			e := newEngine(t)
			p := start(t, e)
			if err := p.Inject(Fault{Kind: c.kind}); err != nil {
				t.Fatal(err)
			}
			resp, body, err := call(context.Background(), http.DefaultClient, p)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			if resp.StatusCode != c.status || json.Unmarshal([]byte(body), &got) != nil || got.Type != c.typ || got.Message == "" {
				t.Fatalf("answer %d %s, want %d with __type %s", resp.StatusCode, body, c.status, c.typ)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-json-1.0" {
				t.Errorf("Content-Type %q", ct)
			}
			if e.hits.Load() != 0 || p.Faulted() != 1 {
				t.Errorf("engine hits %d, faulted %d: a faulted request must not reach the engine", e.hits.Load(), p.Faulted())
			}
		})
	}
}

func TestResetResetsTheConnection(t *testing.T) {
	e := newEngine(t)
	p := start(t, e)
	if err := p.Inject(Fault{Kind: Reset}); err != nil {
		t.Fatal(err)
	}
	// A fresh transport: no keep-alive retry can hide the reset.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	_, _, err := call(context.Background(), client, p)
	if !errors.Is(err, syscall.ECONNRESET) && (err == nil || !strings.Contains(err.Error(), "EOF")) {
		t.Fatalf("call through a resetting proxy: %v, want connection reset", err)
	}
	if e.hits.Load() != 0 {
		t.Fatal("a reset request reached the engine")
	}
}

func TestRefuseRefusesUntilCleared(t *testing.T) {
	e := newEngine(t)
	p := start(t, e)
	client := &http.Client{Transport: &http.Transport{}}
	if _, _, err := call(context.Background(), client, p); err != nil {
		t.Fatal(err)
	}
	if err := p.Inject(Fault{Kind: Refuse}); err != nil {
		t.Fatal(err)
	}
	// The connection kept alive from the first call is closed too...
	if _, _, err := call(context.Background(), client, p); err == nil {
		t.Fatal("call on a kept-alive connection succeeded while refusing")
	}
	// ...and no new one is accepted.
	_, _, err := call(context.Background(), &http.Client{Transport: &http.Transport{}}, p)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("call while refusing: %v, want connection refused", err)
	}
	if err := p.Clear(); err != nil {
		t.Fatal(err)
	}
	if resp, _, err := call(context.Background(), client, p); err != nil || resp.StatusCode != 200 {
		t.Fatalf("call after clearing: %v %v", resp, err)
	}
	if e.hits.Load() != 2 || p.Forwarded() != 2 {
		t.Fatalf("engine hits %d, want 2", e.hits.Load())
	}
}

func TestLatencyDropsARequestWhoseClientGaveUp(t *testing.T) {
	e := newEngine(t)
	p := start(t, e)
	if err := p.Inject(Fault{Kind: Latency, Delay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, _, err := call(ctx, http.DefaultClient, p); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call = %v, want the client's deadline", err)
	}
	// The proxy notices the hang-up and drops the request, unforwarded.
	for i := 0; p.Faulted() == 0; i++ {
		if i == 500 {
			t.Fatal("the proxy never noticed the client hang up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if e.hits.Load() != 0 {
		t.Fatal("a dropped request reached the engine")
	}

	if err := p.Inject(Fault{Kind: Latency, Delay: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if resp, _, err := call(context.Background(), http.DefaultClient, p); err != nil || resp.StatusCode != 200 {
		t.Fatalf("call with a short delay: %v %v", resp, err)
	}
	if e.hits.Load() != 1 {
		t.Fatal("a delayed request was not forwarded")
	}
}
