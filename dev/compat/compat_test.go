package compat_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/local"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/logscan"
	"github.com/cis-session/cis-session/internal/config"
)

// Every log line of these tests is scanned, when they end, for the
// passwords and session ids their traffic carried.
func TestMain(m *testing.M) { os.Exit(logscan.Main(m, dynamotest.Main)) }

const (
	userName = "Administrator@vsphere.local"
	password = "VMware1!-compat"
)

// serve starts the service as `make run` serves it, over a fresh pair of
// tables on srv, with the given idle timeout, on an HTTPS loopback listener
// that the test closes when it ends.
func serve(t *testing.T, srv *localdynamo.Server, idle time.Duration) *httptest.Server {
	t.Helper()
	f := dynamotest.Setup(t, srv)
	cfg := f.Config(t, map[string]string{config.EnvIdleTimeout: idle.String()})
	f.AddUser(t, userName, password)
	log := slog.New(slog.NewJSONHandler(io.MultiWriter(t.Output(), logscan.Writer()), nil))
	ts := httptest.NewUnstartedServer(logscan.Recording(local.Handler(cfg, f.DB, log)))
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts
}

// do sends one request with the test server's client (which trusts its
// certificate) and returns the status, headers and body.
func do(t *testing.T, c *http.Client, method, url string, header http.Header) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, strings.TrimSpace(string(body))
}

func basicAuth(user, pass string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pass)
	return r.Header.Get("Authorization")
}
