// Package faultproxy is a fault-injecting HTTP proxy on loopback, for tests
// that put it between the service's DynamoDB client and a local engine
// (see localdynamo). Until a fault is injected it forwards every request
// unchanged; with one, it answers the way a failing backend does: late, by
// resetting or refusing the connection, with HTTP 500, or with DynamoDB's
// throttling errors. It counts the requests it sees, by DynamoDB operation.
//
// It is a real TCP server: the client under test goes through its own
// dialling, connection reuse, timeouts and retries, as against DynamoDB.
//
// Like localdynamo, it must never import the AWS SDK: what it sends is
// written here, byte for byte, so that it cannot share a bug with the
// client it tests.
package faultproxy

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is a kind of fault.
type Kind string

// The faults. A faulted request never reaches the engine.
const (
	// None forwards every request.
	None Kind = "none"
	// Latency holds each request for Fault.Delay before forwarding it; a
	// request whose client gives up meanwhile is dropped, unforwarded.
	Latency Kind = "latency"
	// Reset resets the TCP connection (RST) as soon as a request arrives.
	Reset Kind = "reset"
	// Refuse closes the listening socket and every open connection: new
	// connections are refused until the fault clears.
	Refuse Kind = "refuse"
	// InternalError answers HTTP 500 with DynamoDB's InternalServerError.
	InternalError Kind = "http-500"
	// Throttling answers DynamoDB's ThrottlingException (HTTP 400).
	Throttling Kind = "throttling"
	// ThroughputExceeded answers DynamoDB's
	// ProvisionedThroughputExceededException (HTTP 400).
	ThroughputExceeded Kind = "throughput-exceeded"
)

// Fault is what the proxy does to requests until it is cleared.
type Fault struct {
	Kind  Kind
	Delay time.Duration // for Latency
}

// Proxy is a running fault proxy in front of one engine.
type Proxy struct {
	// URL is the proxy's base URL, e.g. "http://127.0.0.1:41234": point
	// the client under test here instead of at the engine.
	URL  string
	addr string

	target *url.URL
	fwd    *httputil.ReverseProxy
	srv    *http.Server

	mu       sync.Mutex
	fault    Fault
	ln       net.Listener // nil while refusing
	conns    map[net.Conn]struct{}
	served   sync.WaitGroup
	closed   bool
	counts   map[string]int64 // forwarded requests by operation
	forwards atomic.Int64
	faulted  atomic.Int64
	inFlight atomic.Int64
}

// Start starts a proxy on a free loopback port in front of the engine at
// target (a base URL such as localdynamo's Server.Endpoint).
func Start(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("faultproxy: bad target %q", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p := &Proxy{
		URL:    "http://" + ln.Addr().String(),
		addr:   ln.Addr().String(),
		target: u,
		fault:  Fault{Kind: None},
		conns:  map[net.Conn]struct{}{},
		counts: map[string]int64{},
	}
	p.fwd = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(p.target)
			pr.Out.Host = pr.In.Host // the request is signed for the host it was sent to
		},
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// The engine itself failed: say so as DynamoDB would.
			writeAWSError(w, http.StatusInternalServerError, "InternalServerError", "faultproxy: engine unreachable")
		},
	}
	p.srv = &http.Server{
		Handler:           http.HandlerFunc(p.serve),
		ReadHeaderTimeout: 10 * time.Second,
		ConnState:         p.track,
	}
	p.listen(ln)
	return p, nil
}

func (p *Proxy) listen(ln net.Listener) {
	p.ln = ln
	p.served.Add(1)
	go func() {
		defer p.served.Done()
		_ = p.srv.Serve(ln)
	}()
}

func (p *Proxy) track(c net.Conn, s http.ConnState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch s {
	case http.StateNew:
		p.conns[c] = struct{}{}
	case http.StateHijacked, http.StateClosed:
		delete(p.conns, c)
	}
}

// Inject makes the proxy apply f to every request from now on, until Clear
// or another Inject.
func (p *Proxy) Inject(f Fault) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("faultproxy: closed")
	}
	if err := p.setListening(f.Kind != Refuse); err != nil {
		return err
	}
	p.fault = f
	return nil
}

// Clear ends the fault: the proxy forwards every request again.
func (p *Proxy) Clear() error { return p.Inject(Fault{Kind: None}) }

// setListening opens or closes the listening socket; closing it also closes
// every open connection, so that a client's next request must dial anew.
func (p *Proxy) setListening(on bool) error {
	switch {
	case on && p.ln == nil:
		// Take the same port again. Nothing else on this machine asks for
		// it by number, but the kernel may still be letting go of it.
		var ln net.Listener
		var err error
		for range 50 {
			if ln, err = net.Listen("tcp", p.addr); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("faultproxy: listen again on %s: %w", p.addr, err)
		}
		p.listen(ln)
	case !on && p.ln != nil:
		_ = p.ln.Close()
		p.ln = nil
		for c := range p.conns {
			_ = c.Close()
		}
	}
	return nil
}

// Forwarded returns how many requests reached the engine.
func (p *Proxy) Forwarded() int64 { return p.forwards.Load() }

// Faulted returns how many requests a fault answered (or dropped).
func (p *Proxy) Faulted() int64 { return p.faulted.Load() }

// InFlight returns how many requests the proxy holds or forwards now. A
// request whose client gave up is counted (in Faulted) only once the proxy
// has noticed: wait for InFlight to drop to 0 before reading the counts.
func (p *Proxy) InFlight() int64 { return p.inFlight.Load() }

// Counts returns how many requests of each DynamoDB operation ("GetItem",
// "UpdateItem", ...) reached the engine.
func (p *Proxy) Counts() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int64, len(p.counts))
	for k, v := range p.counts {
		out[k] = v
	}
	return out
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	err := p.srv.Close()
	p.served.Wait()
	p.fwd.Transport.(*http.Transport).CloseIdleConnections()
	return err
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.inFlight.Add(1)
	defer p.inFlight.Add(-1)
	// Read the whole request first: only then does net/http watch the
	// connection, and cancel r's context when the client hangs up.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	p.mu.Lock()
	f := p.fault
	p.mu.Unlock()
	switch f.Kind {
	case None:
	case Latency:
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			p.faulted.Add(1)
			return
		}
	case Reset, Refuse:
		// A request on a connection opened before Refuse closed it, or
		// racing it: reset it too.
		p.faulted.Add(1)
		reset(w)
		return
	case InternalError:
		p.faulted.Add(1)
		writeAWSError(w, http.StatusInternalServerError, "InternalServerError", "Internal server error")
		return
	case Throttling:
		p.faulted.Add(1)
		writeAWSError(w, http.StatusBadRequest, "ThrottlingException", "Rate of requests exceeds the allowed throughput.")
		return
	case ThroughputExceeded:
		p.faulted.Add(1)
		writeAWSError(w, http.StatusBadRequest, "ProvisionedThroughputExceededException",
			"The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.")
		return
	default:
		panic("faultproxy: unknown fault " + string(f.Kind))
	}
	op := r.Header.Get("X-Amz-Target")
	if i := strings.LastIndexByte(op, '.'); i >= 0 {
		op = op[i+1:]
	}
	p.mu.Lock()
	p.counts[op]++
	p.mu.Unlock()
	p.forwards.Add(1)
	p.fwd.ServeHTTP(w, r)
}

// reset closes the request's connection with a TCP RST instead of a FIN.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("faultproxy: connection cannot be hijacked")
	}
	c, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// writeAWSError answers as DynamoDB's JSON protocol does, checksum
// included.
func writeAWSError(w http.ResponseWriter, status int, code, message string) {
	body := fmt.Sprintf(`{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":%q}`, code, message)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Requestid", "FAULTPROXY0000000000000000000000000000000000000000000")
	w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}
