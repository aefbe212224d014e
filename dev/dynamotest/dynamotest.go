// Package dynamotest gives tests the DynamoDB-compatible engines they must
// pass on (see localdynamo), started lazily at most once per test binary,
// shared between tests, and stopped by Main when the tests end.
//
// Typical use:
//
//	func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
//			prefix := dynamotest.UniquePrefix(t)
//			// talk to srv.Endpoint, creating tables named prefix+"..."
//		})
//	}
//
// Engines: dynalite always (a test fails, not skips, when it cannot
// start: run `npm ci` at the repo root), and moto when moto_server is on
// PATH; where CI is set (the environment variable CI, as CI services set
// it), moto too is required, so that no half of a test vanishes unseen.
// The environment variable CIS_TEST_ENGINES (comma-separated, e.g.
// "dynalite" or "dynalite,moto") names exactly the engines to use instead,
// each of them required.
package dynamotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/localdynamo"
)

// EnginesEnv names the environment variable that selects the engines.
const EnginesEnv = "CIS_TEST_ENGINES"

// startTimeout bounds the start of one engine.
const startTimeout = 90 * time.Second

type engine struct {
	once sync.Once
	srv  *localdynamo.Server
	err  error
}

var (
	mu      sync.Mutex
	engines = map[localdynamo.Kind]*engine{}
)

// get returns the shared engine of kind, starting it on first use. A failed
// start is remembered and not retried.
func get(kind localdynamo.Kind) (*localdynamo.Server, error) {
	mu.Lock()
	e := engines[kind]
	if e == nil {
		e = &engine{}
		engines[kind] = e
	}
	mu.Unlock()
	e.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		e.srv, e.err = localdynamo.Start(ctx, kind)
	})
	return e.srv, e.err
}

// wanted returns the engines to use, every one of them required to start:
// those named by CIS_TEST_ENGINES if set, else dynalite, plus moto when
// moto_server is on PATH (a moto that is there but does not start fails).
func wanted() ([]localdynamo.Kind, error) {
	if v := strings.TrimSpace(os.Getenv(EnginesEnv)); v != "" {
		var kinds []localdynamo.Kind
		seen := map[localdynamo.Kind]bool{}
		for _, f := range strings.Split(v, ",") {
			k := localdynamo.Kind(strings.TrimSpace(f))
			if k == "" || seen[k] {
				continue
			}
			if k != localdynamo.Dynalite && k != localdynamo.Moto {
				return nil, fmt.Errorf("%s=%q: unknown engine %q (known: %s, %s)",
					EnginesEnv, v, k, localdynamo.Dynalite, localdynamo.Moto)
			}
			seen[k] = true
			kinds = append(kinds, k)
		}
		return kinds, nil
	}
	kinds := []localdynamo.Kind{localdynamo.Dynalite}
	if ok, why := localdynamo.Available(localdynamo.Moto); ok {
		kinds = append(kinds, localdynamo.Moto)
	} else if InCI() {
		return nil, fmt.Errorf("moto is required where CI is set (%s); install it with pip install 'moto[server]'", why)
	}
	return kinds, nil
}

// Engines returns the engines the storage and end-to-end tests must pass
// on: dynalite always (the test FAILS, not skips, if it cannot start, with
// a message saying to run `npm ci`), and moto when moto_server is on PATH
// (left out otherwise, except where CI is set: there the test fails; if it
// is there it must start); or exactly
// those named by CIS_TEST_ENGINES, each required. Each engine is started at most once per test binary
// (lazily, on first use) and reused.
func Engines(t testing.TB) []*localdynamo.Server {
	t.Helper()
	kinds, err := wanted()
	if err != nil {
		t.Fatalf("dynamotest: %v", err)
	}
	// Start the engines not yet running side by side.
	srvs := make([]*localdynamo.Server, len(kinds))
	errs := make([]error, len(kinds))
	var wg sync.WaitGroup
	for i, k := range kinds {
		wg.Go(func() { srvs[i], errs[i] = get(k) })
	}
	wg.Wait()
	var servers []*localdynamo.Server
	for i, k := range kinds {
		srv, err := srvs[i], errs[i]
		if err != nil {
			hint := ""
			if k == localdynamo.Dynalite {
				root, rerr := localdynamo.RepoRoot()
				if rerr != nil {
					root = "the repository root"
				}
				hint = fmt.Sprintf("\n(dynalite is required: run `npm ci` in %s to install it)", root)
			}
			t.Fatalf("dynamotest: engine %s did not start: %v%s", k, err, hint)
		}
		servers = append(servers, srv)
	}
	return servers
}

// ForEach runs f as a subtest per engine, named after the engine kind. An
// engine left out because it is not installed (moto, outside CI) is a
// skipped subtest of its name, so that the run says so.
func ForEach(t *testing.T, f func(t *testing.T, srv *localdynamo.Server)) {
	t.Helper()
	for _, srv := range Engines(t) {
		t.Run(string(srv.Kind), func(t *testing.T) { f(t, srv) })
	}
	if os.Getenv(EnginesEnv) == "" {
		if ok, why := localdynamo.Available(localdynamo.Moto); !ok {
			t.Run(string(localdynamo.Moto), func(t *testing.T) { Unavailable(t, why) })
		}
	}
}

// UniquePrefix returns a unique table-name prefix for one test ("t", 8
// random hex characters, "-"), so tests sharing an engine never see each
// other's tables.
func UniquePrefix(t testing.TB) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("dynamotest: random prefix: %v", err)
	}
	return "t" + hex.EncodeToString(b[:]) + "-"
}

// Main wraps testing.M: it runs the tests, then stops every engine
// started, and returns the exit code. Usage:
//
//	func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	if err := StopAll(); err != nil {
		fmt.Fprintf(os.Stderr, "dynamotest: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// StopAll stops every engine started so far; a later Engines call starts
// them anew. Main calls it; tests rarely need to.
func StopAll() error {
	mu.Lock()
	old := engines
	engines = map[localdynamo.Kind]*engine{}
	mu.Unlock()
	var errs []string
	for k, e := range old {
		e.once.Do(func() {}) // wait for a start in progress; none after
		if e.srv == nil {
			continue
		}
		if err := e.srv.Stop(); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", k, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("stopping engines: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Moto starts moto's server for the AWS services other than DynamoDB that a
// test talks to (moto_server serves every service it knows on one port),
// points each of endpointVars (the SDK's AWS_ENDPOINT_URL_<SERVICE>
// variables) at it, and stops it when the test ends. Where moto_server is
// not installed the test is skipped (these services have no other engine),
// or fails where CI is set.
func Moto(t testing.TB, endpointVars ...string) *localdynamo.Server {
	t.Helper()
	if ok, why := localdynamo.Available(localdynamo.Moto); !ok {
		Unavailable(t, "moto_server: "+why)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := localdynamo.Start(ctx, localdynamo.Moto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	for _, v := range endpointVars {
		t.Setenv(v, srv.Endpoint)
	}
	return srv
}

// InCI reports whether the tests run where CI is set (any non-empty CI, as
// GitHub Actions, GitLab and .ci/run's callers set it): there every engine
// and tool a test needs is required.
func InCI() bool { return os.Getenv("CI") != "" }

// Unavailable ends a test that lacks an engine or tool: skipped, with why,
// on a developer's machine; failed where CI is set, so that a missing tool
// never turns into a quietly smaller run.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if InCI() {
		t.Fatalf("required where CI is set: %s", why)
	}
	t.Skip(why)
}
