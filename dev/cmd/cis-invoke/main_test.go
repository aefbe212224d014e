package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cis-session/cis-session/dev/fixtures"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/rie"
)

// isolate gives run a clean environment: no engine, no tables of the caller.
func isolate(t *testing.T) {
	t.Helper()
	for _, k := range []string{"AWS_ENDPOINT_URL_DYNAMODB", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
		"AWS_PROFILE", "AWS_SESSION_TOKEN", "SESSIONS_TABLE", "USERS_TABLE"} {
		t.Setenv(k, "")
	}
	if _, err := rie.Path(); err != nil {
		t.Fatal(err)
	}
}

func eventPath(t *testing.T, name string) string {
	t.Helper()
	dir, err := fixtures.Dir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name+".json")
}

// TestInvoke is `make invoke` on a machine with nothing running: it starts
// its own engine, seeds what each event needs, runs each event's function
// under the emulator, prints the responses and checks them.
func TestInvoke(t *testing.T) {
	isolate(t)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-quiet", eventPath(t, "get-ok"), eventPath(t, "login-wrong-password")}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, `"statusCode": 200`) || !strings.Contains(out, `"statusCode": 401`) {
		t.Errorf("stdout lacks the two responses:\n%s", out)
	}
	if n := strings.Count(stderr.String(), ": as expected ("); n != 2 {
		t.Errorf("stderr reports %d outcomes as expected, want 2:\n%s", n, stderr.String())
	}
}

// TestInvokeLogsInWithABearerTokenOnEachSurface is `make invoke` on the
// bearer log-in events: it serves the fixed test issuer their tokens name,
// gives the functions federation for them (and not for the refused one),
// and checks each new session's user.
func TestInvokeLogsInWithABearerTokenOnEachSurface(t *testing.T) {
	isolate(t)
	var stdout, stderr bytes.Buffer
	names := []string{"login-bearer-ok", "legacy-login-bearer-ok", "jsonrpc-create-oauth-ok", "login-bearer-no-federation"}
	var args []string
	for _, n := range names {
		args = append(args, eventPath(t, n))
	}
	if err := run(context.Background(), append([]string{"-quiet"}, args...), &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	if n := strings.Count(stderr.String(), ": as expected ("); n != len(names) {
		t.Errorf("stderr reports %d outcomes as expected, want %d:\n%s", n, len(names), stderr.String())
	}
	if n := strings.Count(stderr.String(), ", a session of alice@corp.example)"); n != 3 {
		t.Errorf("stderr reports %d sessions of the claim's user, want 3:\n%s", n, stderr.String())
	}
}

func TestInvokeReportsAMismatch(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	ev, err := os.ReadFile(eventPath(t, "delete-ok"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "x.json"), ev, 0o644)
	os.WriteFile(filepath.Join(dir, "x.expected.json"), []byte(`{"given":{"session":"live"},"status":200,"body":{"shape":"empty"}}`), 0o644)
	var stdout, stderr bytes.Buffer
	err = run(context.Background(), []string{"-quiet", filepath.Join(dir, "x.json")}, &stdout, &stderr)
	if !errors.Is(err, errMismatch) || !strings.Contains(stderr.String(), "status 204, want 200") {
		t.Fatalf("run = %v\n%s", err, stderr.String())
	}
}

// A bearer log-in whose outcome names another user than the claim's.
func TestInvokeReportsAnotherSessionUser(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	ev, err := os.ReadFile(eventPath(t, "login-bearer-ok"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "y.json"), ev, 0o644)
	os.WriteFile(filepath.Join(dir, "y.expected.json"), []byte(`{"given":{"federation":"on"},"status":201,"body":{"shape":"session-id","user":"bob@corp.example"}}`), 0o644)
	var stdout, stderr bytes.Buffer
	err = run(context.Background(), []string{"-quiet", filepath.Join(dir, "y.json")}, &stdout, &stderr)
	if !errors.Is(err, errMismatch) || !strings.Contains(stderr.String(), `the new session's user is "alice@corp.example", want "bob@corp.example"`) {
		t.Fatalf("run = %v\n%s", err, stderr.String())
	}
}

func TestInvokeRefusesARemoteEngine(t *testing.T) {
	isolate(t)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", "https://dynamodb.us-east-1.amazonaws.com")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-quiet", eventPath(t, "get-ok")}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "not on this machine") {
		t.Fatalf("run against a remote endpoint = %v", err)
	}
}

func TestInvokeRefusesAnEventNoFunctionServes(t *testing.T) {
	isolate(t)
	p := filepath.Join(t.TempDir(), "e.json")
	os.WriteFile(p, []byte(`{"version":"2.0","routeKey":"GET /nothing"}`), 0o644)
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{p}, &stdout, &stderr); err == nil {
		t.Fatal("run accepted an event that is not API Gateway's")
	}
}

func TestMain(m *testing.M) {
	// The tests find the repository (events, Makefile, dynalite) from here.
	if root, err := localdynamo.RepoRoot(); err == nil {
		os.Setenv(localdynamo.RepoRootEnv, root)
	}
	os.Exit(m.Run())
}
