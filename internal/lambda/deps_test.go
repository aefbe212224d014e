package lambda_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestFunctionsLinkNoConfigurationChain: a function takes its AWS settings
// from its environment (dynamo.NewClient). The SDK's configuration chain —
// shared files, SSO, STS, the instance metadata service — would cost every
// cold start its package initialisers, and could look for credentials on the
// network; it must not even be linked.
func TestFunctionsLinkNoConfigurationChain(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../../functions/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	banned := []string{
		"github.com/aws/aws-sdk-go-v2/config",
		"github.com/aws/aws-sdk-go-v2/feature/ec2/imds",
		"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds",
		"github.com/aws/aws-sdk-go-v2/service/sso",
		"github.com/aws/aws-sdk-go-v2/service/ssooidc",
		"github.com/aws/aws-sdk-go-v2/service/sts",
		// Only the admin tool replays the audit forwarder's failures.
		"github.com/aws/aws-sdk-go-v2/service/sqs",
		// internal/secrets makes its one call with the signer DynamoDB's
		// client links; the client's initialisers cost every start.
		"github.com/aws/aws-sdk-go-v2/service/secretsmanager",
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, b := range banned {
			if pkg == b {
				t.Errorf("the functions link %s", pkg)
			}
		}
	}
}

// TestFunctionsThatHoldNoKeyLinkNoSecretsClient: get and delete hold no
// key (docs/UPSTREAM.md, "The get and delete functions do not hold the
// key"), so neither the Secrets Manager client, whose package initialisers
// run at every cold start, nor the signing code and go-jose may be in
// their binaries.
func TestFunctionsThatHoldNoKeyLinkNoSecretsClient(t *testing.T) {
	for _, fn := range []string{"get", "delete"} {
		out, err := exec.Command("go", "list", "-deps", "../../functions/"+fn).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		for _, pkg := range strings.Fields(string(out)) {
			if strings.HasPrefix(pkg, "github.com/aws/aws-sdk-go-v2/service/secretsmanager") || strings.HasPrefix(pkg, "github.com/go-jose/") ||
				pkg == "github.com/cis-session/cis-session/internal/secrets" || pkg == "github.com/cis-session/cis-session/internal/assertion" {
				t.Errorf("functions/%s links %s", fn, pkg)
			}
		}
	}
}

// module is this module's path: its own packages are the only ones the get
// may link beyond its floor's.
const module = "github.com/cis-session/cis-session/"

// TestTheGetLinksNoPackageItsFloorDoesNot: the get's cold start is held to
// its floor's (dev/bench/floor, a bare aws-lambda-go function making the
// same UpdateItem; docs/BENCHMARKS.md). What it may add is its own code
// (configuration, log, the HTTP surface), never another library or
// standard package, whose initialisers and pages every start would pay.
// Built as it ships (lambda.norpc), as is the floor.
func TestTheGetLinksNoPackageItsFloorDoesNot(t *testing.T) {
	deps := func(pkg string) []string {
		out, err := exec.Command("go", "list", "-tags", "lambda.norpc", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		return strings.Fields(string(out))
	}
	floor := map[string]bool{}
	for _, pkg := range deps("../../dev/bench/floor") {
		floor[pkg] = true
	}
	for _, fn := range []string{"get", "delete"} {
		for _, pkg := range deps("../../functions/" + fn) {
			if !floor[pkg] && !strings.HasPrefix(pkg, module) {
				t.Errorf("functions/%s links %s, which its floor does not", fn, pkg)
			}
		}
	}
}

// initLine is a GODEBUG=inittrace=1 line: a package's initialisers, their
// clock time, bytes and allocations.
var initLine = regexp.MustCompile(`^init (\S+) @[0-9.]+ ms, [0-9.]+ ms clock, ([0-9]+) bytes, ([0-9]+) allocs$`)

// TestTheGetsOwnPackagesDoNoWorkAtInit: what the get links of this module
// runs no work before main at every cold start — no regexp, template or
// big table built by a package-level initialiser (a regexp as simple as
// `^\d+$` is 28 allocations). It starts the get as built for Lambda, with
// GODEBUG=inittrace=1 and a table name that cannot be one, so that it
// stops at its configuration, after every initialiser ran and before any
// network, and reads each package's allocations.
func TestTheGetsOwnPackagesDoNoWorkAtInit(t *testing.T) {
	const maxAllocs, maxBytes = 16, 4096 // each package's; today at most 8 and 888
	boot := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", boot, "../../functions/get")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	run := exec.Command(boot)
	run.Env = []string{"GODEBUG=inittrace=1", "SESSIONS_TABLE=x"}
	out, err := run.CombinedOutput()
	if err == nil {
		t.Fatalf("the get started with SESSIONS_TABLE=x; it must refuse it:\n%s", out)
	}
	own := 0
	for _, line := range strings.Split(string(out), "\n") {
		m := initLine.FindStringSubmatch(line)
		if m == nil || !strings.HasPrefix(m[1], module) {
			continue
		}
		own++
		bytes, _ := strconv.Atoi(m[2])
		allocs, _ := strconv.Atoi(m[3])
		if allocs > maxAllocs || bytes > maxBytes {
			t.Errorf("%s: its initialisers allocate %d bytes in %d allocations at every cold start (at most %d in %d)", m[1], bytes, allocs, maxBytes, maxAllocs)
		}
	}
	if own == 0 {
		t.Fatalf("no initialiser of this module in the get's trace:\n%s", out)
	}
}

// TestTheAuthorizerLinksNoPackageItsFloorDoesNot: the authorizer's cold
// start is held to its floor's (dev/bench/authorizer-floor, a bare REQUEST
// authorizer making the same UpdateItem; docs/BENCHMARKS.md). Beyond the
// floor's packages it may link its own code only: not go-jose, nor pbkdf2
// (go-jose's PBES2), nor the SDK's Secrets Manager client, whose
// initialisers every start paid for the signing that internal/assertion
// and the key read that internal/secrets now make with what the floor
// links. Built as it ships (lambda.norpc), as is the floor.
func TestTheAuthorizerLinksNoPackageItsFloorDoesNot(t *testing.T) {
	deps := func(pkg string) []string {
		out, err := exec.Command("go", "list", "-tags", "lambda.norpc", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		return strings.Fields(string(out))
	}
	floor := map[string]bool{}
	for _, pkg := range deps("../../dev/bench/authorizer-floor") {
		floor[pkg] = true
	}
	signs, reads := false, false
	for _, pkg := range deps("../../functions/authorize") {
		switch {
		case floor[pkg]:
		case strings.HasPrefix(pkg, module):
			signs = signs || pkg == module+"internal/assertion"
			reads = reads || pkg == module+"internal/secrets"
		default:
			t.Errorf("functions/authorize links %s, which its floor does not", pkg)
		}
	}
	if !signs || !reads {
		t.Errorf("functions/authorize links internal/assertion %v, internal/secrets %v: this test no longer looks at the authorizer that signs with keys it reads", signs, reads)
	}
}
