// Command cis-smoke walks through the README's session against any base
// URL, as `make smoke URL=…` does: log in, read the session (its body
// whole), make a protected call through the front door, log out, and be
// refused with the same id after, on the session path and on the
// protected one, whose refusal must carry its challenge in the
// WWW-Authenticate header (API Gateway may remap a proxy's headers: only a
// deployed stack can tell). It exits non-zero at the first step that does
// not answer as the contract says.
//
// The user is CIS_SMOKE_USER (default administrator@vsphere.local) and the
// password CIS_SMOKE_PASSWORD, never a flag (it would show in ps). Against
// a URL on this machine's loopback, the password defaults to `make run`'s
// LOCAL_ADMIN_PASSWORD (default Admin!23).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

func main() {
	if len(os.Args) != 2 || strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprintln(os.Stderr, "usage: cis-smoke BASE_URL   (e.g. http://127.0.0.1:3000, or a stack's ApiUrl)")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, os.Args[1], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cis-smoke: FAIL:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, base string, getenv func(string) string, out io.Writer) error {
	u, err := url.Parse(strings.TrimSuffix(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) base URL", base)
	}
	user := or(getenv("CIS_SMOKE_USER"), "administrator@vsphere.local")
	pass := getenv("CIS_SMOKE_PASSWORD")
	if pass == "" {
		if !loopback(u.Hostname()) {
			return errors.New("CIS_SMOKE_PASSWORD is not set (the password of CIS_SMOKE_USER on that stack)")
		}
		pass = or(getenv("LOCAL_ADMIN_PASSWORD"), "Admin!23")
	}
	w := walk{ctx: ctx, url: u.String() + "/api/session", out: out, client: &http.Client{Timeout: 30 * time.Second}}
	protected := walk{ctx: ctx, url: u.String() + ProtectedPath, out: out, client: w.client}

	status, body, _, err := w.do("log in", http.MethodPost, func(r *http.Request) { r.SetBasicAuth(user, pass) })
	if err != nil {
		return err
	}
	var id string
	if status != http.StatusCreated || json.Unmarshal(body, &id) != nil || len(id) != 32 {
		return fmt.Errorf("log in as %s: %d %s, want 201 and the session id as a JSON string", user, status, short(body))
	}
	withID := func(r *http.Request) { r.Header.Set("vmware-api-session-id", id) }

	status, body, _, err = w.do("get", http.MethodGet, withID)
	if err != nil {
		return err
	}
	var info struct {
		User    string `json:"user"`
		Created string `json:"created_time"`
		Last    string `json:"last_accessed_time"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &info) != nil || !strings.EqualFold(info.User, qualified(user)) {
		return fmt.Errorf("get: %d %s, want 200 and the session of %s", status, short(body), user)
	}
	// The whole item came back from the touch (its ALL_NEW, under the
	// role's dynamodb:Attributes condition): every field, in the contract's
	// format.
	for name, v := range map[string]string{"created_time": info.Created, "last_accessed_time": info.Last} {
		if _, err := time.Parse(TimeFormat, v); err != nil || len(v) != len(TimeFormat) {
			return fmt.Errorf("get: %s %q, want a time like %s: the body is not whole", name, v, TimeFormat)
		}
	}
	fmt.Fprintln(out, "get body whole: user, created_time, last_accessed_time")

	// Through the front door: not refused (what answers is the upstream's,
	// or the service's 404 without one).
	if status, body, _, err = protected.do("protected call", http.MethodGet, withID); err != nil {
		return err
	} else if status == http.StatusUnauthorized || status >= 500 {
		return fmt.Errorf("protected call: %d %s, want the front door to let the session through", status, short(body))
	}

	if status, body, _, err = w.do("log out", http.MethodDelete, withID); err != nil {
		return err
	} else if status != http.StatusNoContent {
		return fmt.Errorf("log out: %d %s, want 204", status, short(body))
	}

	status, body, header, err := w.do("get after log-out", http.MethodGet, withID)
	if err != nil {
		return err
	}
	var refused struct {
		ErrorType string `json:"error_type"`
		Challenge string `json:"challenge"`
	}
	if status != http.StatusUnauthorized || json.Unmarshal(body, &refused) != nil || refused.ErrorType != "UNAUTHENTICATED" {
		return fmt.Errorf("get after log-out: %d %s, want 401 UNAUTHENTICATED", status, short(body))
	}
	// A function's own 401 (Lambda proxy): API Gateway may rename its
	// WWW-Authenticate; say which, and that the challenge came in one.
	switch {
	case refused.Challenge != "" && header.Get("WWW-Authenticate") == refused.Challenge:
		fmt.Fprintf(out, "session refusal: WWW-Authenticate: %s\n", refused.Challenge)
	case refused.Challenge != "" && header.Get(RemappedChallenge) == refused.Challenge:
		fmt.Fprintf(out, "session refusal: WWW-Authenticate remapped by the gateway to %s: %s (the body's challenge is whole)\n", RemappedChallenge, refused.Challenge)
	default:
		return fmt.Errorf("get after log-out: WWW-Authenticate %q, body's challenge %q: want the challenge in both", header.Get("WWW-Authenticate"), refused.Challenge)
	}

	status, body, header, err = protected.do("protected after", http.MethodGet, withID)
	if err != nil {
		return err
	}
	refused.ErrorType, refused.Challenge = "", ""
	if status != http.StatusUnauthorized || json.Unmarshal(body, &refused) != nil || refused.ErrorType != "UNAUTHENTICATED" {
		return fmt.Errorf("protected call after log-out: %d %s, want 401 UNAUTHENTICATED", status, short(body))
	}
	challenge := header.Get("WWW-Authenticate")
	if challenge == "" || challenge != refused.Challenge {
		return fmt.Errorf("protected call after log-out: WWW-Authenticate %q, body's challenge %q: want the challenge in both", challenge, refused.Challenge)
	}
	fmt.Fprintf(out, "challenge: WWW-Authenticate: %s\n", challenge)
	fmt.Fprintln(out, "PASS: log in, get, protected call, log out, refused after:", u.String())
	return nil
}

// ProtectedPath is the protected call's path: one no service serves, so
// that it changes nothing on an upstream; the front door guards it.
const ProtectedPath = "/api/cis-smoke/protected"

// RemappedChallenge is where API Gateway puts a Lambda proxy's
// WWW-Authenticate when it remaps it.
const RemappedChallenge = "x-amzn-Remapped-WWW-Authenticate"

// TimeFormat is the contract's time: RFC 3339, UTC, milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z"

type walk struct {
	ctx    context.Context
	url    string
	out    io.Writer
	client *http.Client
}

// do sends one step's request and says how it went; the body it returns is
// never printed whole (a log-in's is a session id).
func (w walk) do(step, method string, set func(*http.Request)) (int, []byte, http.Header, error) {
	req, err := http.NewRequestWithContext(w.ctx, method, w.url, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	set(req)
	start := time.Now()
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%s: %w", step, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%s: %w", step, err)
	}
	fmt.Fprintf(w.out, "%-18s %s %s -> %d (%v)\n", step, method, w.url, resp.StatusCode, time.Since(start).Round(time.Millisecond))
	return resp.StatusCode, body, resp.Header, nil
}

// short is a body as an error may show it: error bodies whole, anything
// else by its length (a session id must not reach a CI log).
func short(b []byte) string {
	if strings.Contains(string(b), "error_type") && len(b) < 1024 {
		return string(b)
	}
	return fmt.Sprintf("(%d bytes)", len(b))
}

// qualified is user with the service's default domain when it has none.
func qualified(user string) string {
	if dom, name, ok := strings.Cut(user, `\`); ok {
		return name + "@" + dom
	}
	if strings.Contains(user, "@") {
		return user
	}
	return user + "@vsphere.local"
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
