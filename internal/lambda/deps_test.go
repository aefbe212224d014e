package lambda_test

import (
	"os/exec"
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
