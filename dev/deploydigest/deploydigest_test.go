package deploydigest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/cis-session/cis-session/dev/deploydigest"
)

func root(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// inputs is the repository's template, a samconfig.toml of the test's, and
// a build directory of the test's.
func inputs(t *testing.T, config string, overrides ...string) deploydigest.Inputs {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "samconfig.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return deploydigest.Inputs{Template: filepath.Join(root(t), "template.yaml"), Config: cfg, BuildDir: filepath.Join(dir, "build"), Overrides: overrides}
}

func digest(t *testing.T, in deploydigest.Inputs) string {
	t.Helper()
	r, err := deploydigest.Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	return r.Digest
}

const noOverrides = "version = 0.1\n"

func TestTheDigestFollowsEveryInputAndNothingElse(t *testing.T) {
	base := inputs(t, noOverrides)
	d := digest(t, base)
	if again := digest(t, inputs(t, noOverrides)); again != d {
		t.Errorf("equal inputs: %s, then %s", d, again)
	}
	if same := digest(t, inputs(t, noOverrides, "LogLevel=INFO")); same != d {
		t.Error("setting a parameter to its default changed the digest")
	}
	if same := digest(t, inputs(t, noOverrides, "DeployDigest=0123")); same != d {
		t.Error("DeployDigest itself was digested")
	}
	for _, o := range []string{"AssertionKeyEpoch=2", "LogLevel=DEBUG", "SessionIdleTimeout=1h", `UpstreamUrl="https://vc.example"`, "AuthorizerCacheTtl=60", "LoginConcurrency="} {
		if digest(t, inputs(t, noOverrides, o)) == d {
			t.Errorf("%s: the digest did not change", o)
		}
	}
	cfg := "version = 0.1\n[default.deploy.parameters]\nparameter_overrides = \"LogLevel=\\\"WARN\\\" MaxSessionsPerUser=\\\"10\\\"\"\n"
	fromConfig := digest(t, inputs(t, cfg))
	if fromConfig != digest(t, inputs(t, noOverrides, `LogLevel="WARN" MaxSessionsPerUser=10`)) {
		t.Error("samconfig.toml's parameter_overrides are not read as the caller's are")
	}
	if digest(t, inputs(t, cfg, "LogLevel=WARN")) != fromConfig || digest(t, inputs(t, cfg, "LogLevel=ERROR")) == fromConfig {
		t.Error("the caller's overrides do not win over samconfig.toml's")
	}
	prod := inputs(t, cfg)
	prod.ConfigEnv = "prod"
	if digest(t, prod) != d {
		t.Error("another config environment's overrides were read")
	}

	// The build: a changed file changes the digest, an equal one does not.
	b := inputs(t, noOverrides)
	write := func(content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(b.BuildDir, "GetFunction"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(b.BuildDir, "GetFunction", "bootstrap"), []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("one")
	one := digest(t, b)
	if one == d {
		t.Error("the build's files were not digested")
	}
	write("two")
	if digest(t, b) == one {
		t.Error("a changed build file did not change the digest")
	}
	write("one")
	if digest(t, b) != one {
		t.Error("an equal build gave another digest")
	}
}

func TestAParameterTheTemplateDoesNotHaveIsRefused(t *testing.T) {
	for _, o := range []string{"AssertionKeyEpok=2", "LogLevel", `LogLevel="INFO`} {
		if _, err := deploydigest.Compute(inputs(t, noOverrides, o)); err == nil {
			t.Errorf("%s: accepted", o)
		}
	}
}

func TestOverridesSetEveryParameterAndReadBack(t *testing.T) {
	r, err := deploydigest.Compute(inputs(t, noOverrides, `OidcRequiredGroup="vSphere \"admins\" group"`))
	if err != nil {
		t.Fatal(err)
	}
	pairs, err := deploydigest.ParseOverrides(r.Overrides())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range pairs {
		got[p[0]] = p[1]
	}
	if got[deploydigest.Parameter] != r.Digest || len(got) != len(r.Values)+1 {
		t.Errorf("overrides %v: want every parameter and DeployDigest=%s", got, r.Digest)
	}
	if got["OidcRequiredGroup"] != `vSphere "admins" group` {
		t.Errorf("a quoted value read back as %q", got["OidcRequiredGroup"])
	}
}

// TestMakeDeployDigestDiffersByKeyEpoch: the make target, as an operator
// runs it, gives another digest for another key epoch, and calls no AWS
// (it runs with no credentials and no network settings).
func TestMakeDeployDigestDiffersByKeyEpoch(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	run := func(params string) string {
		t.Helper()
		cmd := exec.Command("make", "-s", "deploy-digest", "PARAMS="+params)
		cmd.Dir = root(t)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_PROFILE=")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("make deploy-digest PARAMS=%s: %v", params, err)
		}
		return strings.TrimSpace(string(out))
	}
	one, two := run("AssertionKeyEpoch=1"), run("AssertionKeyEpoch=2")
	if len(one) != 64 || len(two) != 64 || one == two {
		t.Errorf("AssertionKeyEpoch=1: %q, =2: %q; want two different SHA-256s", one, two)
	}
}

// TestAnARCHInTheShellDoesNotChangeTheBuild: the functions are built for
// the template's arm64 whatever ARCH the deployer's shell exports; only
// make's command line changes it.
func TestAnARCHInTheShellDoesNotChangeTheBuild(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	build := func(env []string, args ...string) string {
		t.Helper()
		cmd := exec.Command("make", append([]string{"-n", "build-GetFunction", "ARTIFACTS_DIR=/nonexistent"}, args...)...)
		cmd.Dir = root(t)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	if out := build([]string{"ARCH=amd64"}); !strings.Contains(out, "GOARCH=arm64") {
		t.Errorf("ARCH=amd64 in the environment: %s", out)
	}
	if out := build(nil, "ARCH=amd64"); !strings.Contains(out, "GOARCH=amd64") {
		t.Errorf("ARCH=amd64 on the command line: %s", out)
	}
}
