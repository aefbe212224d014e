// Package upstreamtest is the service behind the front door, for tests of
// what reaches it: a handler to serve on loopback that answers every call
// 200 and remembers each one.
//
// It is for tests only; nothing that ships imports it.
package upstreamtest

import (
	"io"
	"net/http"
	"sync"
)

// Call is what the upstream saw of one call.
type Call struct {
	Method, Path, Query, Body string
	Header                    http.Header
}

// Upstream records every call that reaches it and answers 200, JSON, with
// an X-Upstream header of its own, so that a test can tell its answer from
// one the gateway made.
type Upstream struct {
	// Answer is the body of every answer; `{"value":"from upstream"}` if empty.
	Answer string

	mu    sync.Mutex
	calls []Call
}

func (u *Upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.calls = append(u.calls, Call{r.Method, r.URL.Path, r.URL.RawQuery, string(b), r.Header.Clone()})
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Upstream", "vc-1")
	answer := u.Answer
	if answer == "" {
		answer = `{"value":"from upstream"}`
	}
	_, _ = io.WriteString(w, answer)
}

// Taken returns the calls that reached it since it was last asked, and
// forgets them.
func (u *Upstream) Taken() []Call {
	u.mu.Lock()
	defer u.mu.Unlock()
	c := u.calls
	u.calls = nil
	return c
}
