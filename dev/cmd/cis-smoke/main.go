// Command cis-smoke walks through the README's session against any base
// URL, as `make smoke URL=…` does: log in, read the session, log out, and
// be refused with the same id after. It exits non-zero at the first step
// that does not answer as the contract says.
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

	status, body, err := w.do("log in", http.MethodPost, func(r *http.Request) { r.SetBasicAuth(user, pass) })
	if err != nil {
		return err
	}
	var id string
	if status != http.StatusCreated || json.Unmarshal(body, &id) != nil || len(id) != 32 {
		return fmt.Errorf("log in as %s: %d %s, want 201 and the session id as a JSON string", user, status, short(body))
	}
	withID := func(r *http.Request) { r.Header.Set("vmware-api-session-id", id) }

	status, body, err = w.do("get", http.MethodGet, withID)
	if err != nil {
		return err
	}
	var info struct {
		User    string `json:"user"`
		Created string `json:"created_time"`
		Last    string `json:"last_accessed_time"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &info) != nil || !strings.EqualFold(info.User, qualified(user)) || info.Created == "" || info.Last == "" {
		return fmt.Errorf("get: %d %s, want 200 and the session of %s", status, short(body), user)
	}

	if status, body, err = w.do("log out", http.MethodDelete, withID); err != nil {
		return err
	} else if status != http.StatusNoContent {
		return fmt.Errorf("log out: %d %s, want 204", status, short(body))
	}

	status, body, err = w.do("get after log-out", http.MethodGet, withID)
	if err != nil {
		return err
	}
	var refused struct {
		ErrorType string `json:"error_type"`
	}
	if status != http.StatusUnauthorized || json.Unmarshal(body, &refused) != nil || refused.ErrorType != "UNAUTHENTICATED" {
		return fmt.Errorf("get after log-out: %d %s, want 401 UNAUTHENTICATED", status, short(body))
	}
	fmt.Fprintln(out, "PASS: log in, get, log out, refused after:", u.String())
	return nil
}

type walk struct {
	ctx    context.Context
	url    string
	out    io.Writer
	client *http.Client
}

// do sends one step's request and says how it went; the body it returns is
// never printed whole (a log-in's is a session id).
func (w walk) do(step, method string, set func(*http.Request)) (int, []byte, error) {
	req, err := http.NewRequestWithContext(w.ctx, method, w.url, nil)
	if err != nil {
		return 0, nil, err
	}
	set(req)
	start := time.Now()
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", step, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", step, err)
	}
	fmt.Fprintf(w.out, "%-18s %s %s -> %d (%v)\n", step, method, w.url, resp.StatusCode, time.Since(start).Round(time.Millisecond))
	return resp.StatusCode, body, nil
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
