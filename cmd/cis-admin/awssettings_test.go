package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/localdynamo"
)

// Any one AWS setting, in the environment or in the shared files, lets the
// SDK's chain speak for itself; with none, the tool has nowhere to go.
func TestAnyAWSSettingIsEnoughAndNoneIsNothing(t *testing.T) {
	cases := []struct {
		name  string
		env   map[string]string
		files []string // under $HOME
		want  bool
	}{
		{"Nothing", nil, nil, false},
		{"EmptyValuesAreNotSettings", map[string]string{"AWS_REGION": "", "AWS_PROFILE": ""}, nil, false},
		{"AnEmptyDotAWSDirectory", nil, []string{".aws/"}, false},
		{"SomeoneElsesVariables", map[string]string{"HOME_REGION": "eu-west-1", "AWS_PAGER": ""}, nil, false},
		{"DefaultConfigFile", nil, []string{".aws/config"}, true},
		{"DefaultCredentialsFile", nil, []string{".aws/credentials"}, true},
	}
	for _, v := range awsSettingVars {
		cases = append(cases, struct {
			name  string
			env   map[string]string
			files []string
			want  bool
		}{v, map[string]string{v: "x"}, nil, true})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			home := t.TempDir()
			for _, f := range c.files {
				p := filepath.Join(home, f)
				if strings.HasSuffix(f, "/") {
					if err := os.MkdirAll(p, 0o700); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte("[default]\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			lookup := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
			if got := anyAWSSetting(lookup, home); got != c.want {
				t.Errorf("anyAWSSetting = %v, want %v", got, c.want)
			}
		})
	}
}

// `make admin` without `make run` on a machine with no AWS settings: the
// tool, run as a shell runs it with nothing of AWS in its environment and a
// HOME of its own, says in one line what to do, before any request (so no
// SDK error, no wait for the instance metadata service), and fails.
func TestWithNoAWSSettingsTheToolSaysWhatToDo(t *testing.T) {
	root, err := localdynamo.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "cis-admin")
	build := exec.Command("go", "build", "-o", bin, "./cmd/cis-admin")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"list-users"}, {"create-tables"}, {"list-sessions", "alice"}} {
		t.Run(args[0], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
			cmd.Stdin = strings.NewReader("")
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("exit: %v, want a non-zero status\nstderr: %s", err, stderr.String())
			}
			want := "cis-admin: " + errNoAWSSettings.Error() + "\n"
			if stderr.String() != want {
				t.Errorf("stderr:\n%s\nwant exactly one line:\n%s", stderr.String(), want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout: %q, want nothing", stdout.String())
			}
			for _, w := range []string{"make run", "AWS_REGION", "AWS_PROFILE"} {
				if !strings.Contains(want, w) {
					t.Errorf("the line does not name %s", w)
				}
			}
		})
	}
}
