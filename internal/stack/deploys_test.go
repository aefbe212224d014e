package stack_test

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/cis-session/cis-session/dev/deploydigest"
)

// deployed is the translated template as `make deploy` deploys it with
// these parameter values: each given, and DeployDigest their digest.
func deployed(t *testing.T, params ...string) (versions map[string]string, deployment string) {
	t.Helper()
	s := loadStack(t)
	r, err := deploydigest.Compute(deploydigest.Inputs{Template: filepath.Join(s.root, "template.yaml"), Overrides: params})
	if err != nil {
		t.Fatal(err)
	}
	tpl := translatedWith(t, append(params, deploydigest.Parameter+"="+r.Digest))
	versions = map[string]string{}
	for id, res := range getMap(tpl, "Resources") {
		switch get(res, "Type") {
		case "AWS::Lambda::Version":
			fn, _ := ref(get(res, "Properties", "FunctionName"))
			versions[fn] = id
		case "AWS::ApiGateway::Deployment":
			if deployment != "" {
				t.Fatalf("two deployments: %s and %s", deployment, id)
			}
			deployment = id
		}
	}
	if len(versions) != len(s.resources("AWS::Serverless::Function")) || deployment == "" {
		t.Fatalf("versions %v, deployment %q: want one version per function and a deployment", versions, deployment)
	}
	return versions, deployment
}

// TestEveryChangedSettingPublishesNewVersionsAndRedeploysTheAPI: SAM names
// a function's version and the API's deployment after hashes of the
// template with its parameters unresolved, so without DeployDigest a
// changed setting reaches neither `live` nor the stage. Translated as
// `make deploy` deploys it, each setting the issue names, changed alone,
// gives every function a new version and the API a new deployment; the
// same settings, written again or in another order, give the same ones.
func TestEveryChangedSettingPublishesNewVersionsAndRedeploysTheAPI(t *testing.T) {
	baseVersions, baseDeployment := deployed(t, "LogLevel=INFO", "SessionIdleTimeout=30m")
	sameVersions, sameDeployment := deployed(t, "SessionIdleTimeout=30m", "LogLevel=INFO", "AssertionKeyEpoch=1")
	if !equalMaps(baseVersions, sameVersions) || sameDeployment != baseDeployment {
		t.Errorf("equal settings: versions %v, deployment %s; then %v, %s", baseVersions, baseDeployment, sameVersions, sameDeployment)
	}
	for _, change := range []string{
		"AssertionKeyEpoch=2",            // a key rotation
		"LogLevel=DEBUG",                 // the functions' environment
		"SessionIdleTimeout=1h",          // the functions' environment
		"UpstreamUrl=https://vc.example", // the API's integrations, and vapi's environment
		"AuthorizerCacheTtl=60",          // the authorizer's cache and identity source
		"OidcIssuer=https://idp.example", // the log-in functions' environment
	} {
		t.Run(strings.SplitN(change, "=", 2)[0], func(t *testing.T) {
			versions, deployment := deployed(t, change)
			for fn, id := range versions {
				if id == baseVersions[fn] {
					t.Errorf("%s keeps version %s", fn, id)
				}
			}
			if deployment == baseDeployment {
				t.Errorf("the API keeps deployment %s", deployment)
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

// TestADeployWithoutADigestIsRefused: each version is named after the
// digest alone, so a deploy that leaves DeployDigest at its default would
// never publish a version again, not even of new code: a rule of the
// template refuses it, naming what to do.
func TestADeployWithoutADigestIsRefused(t *testing.T) {
	s := loadStack(t)
	if d := get(s.tpl, "Parameters", deploydigest.Parameter, "Default"); d != "none" {
		t.Fatalf("DeployDigest defaults to %v, want none", d)
	}
	for _, f := range s.resources("AWS::Serverless::Function") {
		p := s.functionProps(f)
		if r, _ := ref(p["AutoPublishCodeSha256"]); r != deploydigest.Parameter {
			t.Errorf("%s: AutoPublishCodeSha256 %v, want !Ref DeployDigest", f, p["AutoPublishCodeSha256"])
		}
		// SAM appends " <digest>" to the description; Lambda takes 256.
		if d, _ := p["Description"].(string); len(d)+1+64 > 256 {
			t.Errorf("%s: a description of %d bytes has no room for the digest", f, len(d))
		}
	}
	assertions, _ := get(s.tpl, "Rules", "DeployDigestIsSet", "Assertions").([]any)
	if len(assertions) != 1 || fmt.Sprint(get(assertions[0], "Assert")) != "map[Fn::Not:[map[Fn::Equals:[map[Ref:DeployDigest] none]]]]" ||
		!strings.Contains(fmt.Sprint(get(assertions[0], "AssertDescription")), "make deploy") {
		t.Errorf("rule DeployDigestIsSet: %v, want one assertion that DeployDigest is not none, saying to use make deploy", assertions)
	}
}
