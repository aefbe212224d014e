package rie_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/fixtures"
	"github.com/cis-session/cis-session/dev/oidcissuer"
	"github.com/cis-session/cis-session/dev/rie"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/session"
	"github.com/cis-session/cis-session/internal/stack"
)

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }

// TestEventsThroughEmulator is `sam local invoke` for every event, without
// Docker: each function's real bootstrap, built by the target `sam build`
// runs (for this machine's architecture), runs under the Lambda Runtime
// Interface Emulator and gets each of its events over the Lambda Runtime
// API, against a local engine seeded as the event's outcome asks.
func TestEventsThroughEmulator(t *testing.T) {
	emulator, err := rie.Path()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := fixtures.Dir()
	if err != nil {
		t.Fatal(err)
	}
	evs, err := fixtures.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	// One engine suffices here: the engines are compared in-process
	// (dev/fixtures); this test is about the binary and the protocol.
	srv := dynamotest.Engines(t)[0]
	f := dynamotest.Setup(t, srv)
	ctx := context.Background()

	if fixtures.NeedsIssuer(evs...) {
		iss, err := oidcissuer.ServeFixed(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = iss.Close() })
	}

	// The functions API Gateway invokes; the audit forwarder takes
	// CloudWatch Logs events (internal/auditlog's tests). A function runs
	// once without federation and, if any of its events asks for it, once
	// more trusting the fixed test issuer, as a stack configured so would.
	for _, fn := range stack.APIFunctions() {
		t.Run(fn.Dir, func(t *testing.T) {
			bootstrap, err := rie.Build(ctx, fn, filepath.Join(t.TempDir(), fn.Dir))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, mode := range []string{fixtures.FederationOff, fixtures.FederationOn} {
				var mine []fixtures.Event
				for _, ev := range evs {
					if ev.Function.Dir == fn.Dir && ev.Expected.Given.Federation == mode {
						mine = append(mine, ev)
					}
				}
				if len(mine) == 0 {
					continue
				}
				n += len(mine)
				env := rie.FunctionEnv(fn, srv.Endpoint, rie.Tables{Sessions: f.Tables.Sessions, Users: f.Tables.Users}, f.Config(t, nil).ReadOnFailedCondition, "INFO")
				runEvents(t, emulator, bootstrap, append(env, mine[0].Expected.Given.Env(fn)...), fn, mine, srv.Endpoint, f)
			}
			if n == 0 {
				t.Errorf("no event for function %s", fn.Dir)
			}
		})
	}
}

// runEvents sends evs to one emulator running bootstrap with env.
func runEvents(t *testing.T, emulator, bootstrap string, env []string, fn stack.Function, evs []fixtures.Event, endpoint string, f dynamotest.Fixture) {
	ctx := context.Background()
	em, err := rie.Start(ctx, rie.Options{RIE: emulator, Bootstrap: bootstrap, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("emulator and function output:\n%s", em.Output())
		}
	}()
	sessions := &dynamo.Sessions{DB: f.DB, Table: f.Tables.Sessions}
	for _, ev := range evs {
		t.Run(ev.Name, func(t *testing.T) {
			if err := fixtures.Seed(ctx, endpoint, f.DB, f.Tables, session.DefaultLifetime, ev.Expected.Given, time.Now()); err != nil {
				t.Fatal(err)
			}
			out, err := em.Invoke(ctx, ev.Payload)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := fixtures.ParseFunctionResponse(ev.Function, out)
			if err != nil {
				t.Fatal(err)
			}
			if err := ev.Expected.Check(resp); err != nil {
				t.Errorf("%s: %v\nresponse: %s", ev.Path, err, out)
			}
			if err := ev.Expected.CheckSessionUser(ctx, sessions, resp); err != nil {
				t.Errorf("%s: %v", ev.Path, err)
			}
		})
	}
	// The function really ran under the emulator and logged its
	// requests (JSON lines on stdout, as CloudWatch gets them).
	logLine := `"msg":"request"`
	if fn.IsAuthorizer() {
		logLine = `"msg":"authorize"`
	}
	// The emulator copies the function's output after it answers: a run
	// of one event may be checked before its lines arrive, so they are
	// waited for (a bound on the wait, not on the function's speed).
	logged := func(out string) bool {
		return strings.Contains(out, "START RequestId:") && strings.Contains(out, logLine)
	}
	out := em.Output()
	for deadline := time.Now().Add(5 * time.Second); !logged(out) && time.Now().Before(deadline); out = em.Output() {
		time.Sleep(20 * time.Millisecond)
	}
	if !logged(out) {
		t.Errorf("no emulator or function log lines in the output:\n%s", out)
	}
	if len(running(bootstrap)) == 0 {
		t.Errorf("no process runs %s under the emulator", bootstrap)
	}
	if err := em.Stop(); err != nil {
		t.Fatal(err)
	}
	if pids := running(bootstrap); len(pids) > 0 {
		t.Errorf("bootstrap still running after Stop: pids %v", pids)
	}
}

// TestFunctionEnvIsComplete checks that a function run locally gets every
// variable the configuration reads that has no safe default.
func TestFunctionEnvIsComplete(t *testing.T) {
	env := strings.Join(rie.FunctionEnv(stack.Functions[0], "http://127.0.0.1:1", rie.Tables{Sessions: "s-table", Users: "u-table"}, false, ""), "\n")
	for _, want := range []string{
		config.EnvSessionsTable + "=s-table", config.EnvUsersTable + "=u-table", config.EnvLogLevel + "=INFO",
		"AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:1", "AWS_REGION=", "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=",
	} {
		if !strings.Contains(env, want) {
			t.Errorf("FunctionEnv lacks %s:\n%s", want, env)
		}
	}
	if strings.Contains(env, "AWS_PROFILE") {
		t.Error("FunctionEnv passes AWS_PROFILE on")
	}
}

// running returns the ids of processes executing path.
func running(path string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && exe == path {
			pids = append(pids, e.Name())
		}
	}
	return pids
}
