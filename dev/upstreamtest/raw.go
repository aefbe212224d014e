package upstreamtest

import (
	"bufio"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// RawCall is one call as it crossed the wire: its request line and header
// lines exactly as sent (names neither canonicalised nor merged), and its
// body.
type RawCall struct {
	RequestLine string
	Lines       []string // "Name: value", as sent
	Body        string
}

// Values returns the values of the header lines whose name is exactly
// name, byte for byte.
func (c RawCall) Values(name string) []string {
	var vs []string
	for _, l := range c.Lines {
		if n, v, ok := strings.Cut(l, ":"); ok && n == name {
			vs = append(vs, strings.TrimSpace(v))
		}
	}
	return vs
}

// Raw is an upstream on a bare TCP listener that records each request's
// header lines as sent: Go's HTTP server canonicalises names, and what an
// upstream that reads names another way (CGI's HTTP_VMWARE_CIS_USER) sees
// is in the raw lines. It answers every call 200 with Answer, one call per
// connection.
type Raw struct {
	URL    string
	Answer string

	ln    net.Listener
	mu    sync.Mutex
	calls []RawCall
}

// NewRaw starts a Raw upstream on loopback, stopped when t ends.
func NewRaw(t testing.TB) *Raw {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &Raw{URL: "http://" + ln.Addr().String(), Answer: `{"value":"from upstream"}`, ln: ln}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go u.serve(c)
		}
	}()
	return u
}

func (u *Raw) serve(c net.Conn) {
	defer c.Close()
	tp := textproto.NewReader(bufio.NewReader(c))
	line, err := tp.ReadLine()
	if err != nil {
		return
	}
	call := RawCall{RequestLine: line}
	length := 0
	for {
		l, err := tp.ReadLine()
		if err != nil {
			return
		}
		if l == "" {
			break
		}
		call.Lines = append(call.Lines, l)
		if n, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(n, "Content-Length") {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(tp.R, body); err != nil {
		return
	}
	call.Body = string(body)
	u.mu.Lock()
	u.calls = append(u.calls, call)
	u.mu.Unlock()
	_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Upstream: vc-1\r\nConnection: close\r\n"+
		"Content-Length: "+strconv.Itoa(len(u.Answer))+"\r\n\r\n"+u.Answer)
}

// Taken returns the calls since it was last asked, and forgets them.
func (u *Raw) Taken() []RawCall {
	u.mu.Lock()
	defer u.mu.Unlock()
	c := u.calls
	u.calls = nil
	return c
}
