package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/localrun"
	"github.com/cis-session/cis-session/dev/proc"
)

// TestMakeRunOnABusyPortSaysToChooseAnotherWithPORT: the commonest reason
// make run cannot start is a port taken, by another make run or anything
// else; it says so, and that PORT is the fix, before starting anything.
func TestMakeRunOnABusyPortSaysToChooseAnotherWithPORT(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, port, _ := net.SplitHostPort(busy.Addr().String())
	bin := filepath.Join(t.TempDir(), "cis-local")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	// An engine that is not there: the port is checked before any is used.
	cmd.Env = append(os.Environ(), "PORT="+port, "AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:9", "LOCAL_OIDC=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "127.0.0.1:"+port+" is already in use") || !strings.Contains(string(out), "PORT=") {
		t.Errorf("on a busy port: %v\n%s\nwant a failure naming the port and PORT", err, out)
	}
}

// makeToken runs `make token` in this checkout with envFile as make run's
// settings file.
func makeToken(t *testing.T, envFile string) (string, error) {
	t.Helper()
	root, err := localdynamo.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", "-s", "--no-print-directory", "-C", root, "token", "CIS_LOCAL_ENV_FILE="+envFile)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LOCAL_OIDC_PORT=") && !strings.HasPrefix(kv, "MAKEFLAGS=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestMakeTokenFindsTheIssuerMakeRunStarted: `make token` asks the issuer
// `LOCAL_OIDC=1 make run` started wherever it listens (make run writes its
// URL into its settings file), and says what to do when none runs.
func TestMakeTokenFindsTheIssuerMakeRunStarted(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	if out, err := makeToken(t, filepath.Join(t.TempDir(), "none.env")); err == nil || !strings.Contains(out, "LOCAL_OIDC=1 make run") {
		t.Errorf("with no make run: %v, %q; want a failure saying to start LOCAL_OIDC=1 make run", err, out)
	}

	port, err := proc.FreePort() // not the default: make token must find it
	if err != nil {
		t.Fatal(err)
	}
	run := localrun.Start(t, io.Discard, "LOCAL_OIDC=1", fmt.Sprintf("LOCAL_OIDC_PORT=%d", port))
	c := newClient(t, run, "127.0.0.1", "curl/8.5.0")
	cisAdmin(t, run, "list-users") // waits for the settings file
	token, err := makeToken(t, run.EnvFile)
	if err != nil || strings.Count(token, ".") != 2 {
		t.Fatalf("make token: %v, %q; want a JWT", err, token)
	}
	if id := c.logIn("api", "", token); id == "" {
		t.Fatal("the token did not log in")
	}
	if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/.well-known/openid-configuration", port)); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the issuer on LOCAL_OIDC_PORT: %v", err)
	}
}
