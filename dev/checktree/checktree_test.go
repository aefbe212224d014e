// Package checktree_test specifies dev/checktree/check-tree.sh, the check
// `make check-tree` (and so `make test`) runs: a repository in which a
// tracked file is 1 MB or more, or is an executable binary, fails it.
package checktree_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func script(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("check-tree.sh")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckTreeFailsOnLargeFilesAndExecutableBinaries(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	pad := func(head []byte, n int) []byte { return append(head, bytes.Repeat([]byte{0}, n-len(head))...) }
	for _, tc := range []struct {
		name     string
		content  []byte
		fails    bool
		complain string
	}{
		{"a source file passes", []byte("package main\n"), false, ""},
		{"a file just under 1 MB passes", bytes.Repeat([]byte("a"), 999_999), false, ""},
		{"a file of 1 MB fails", bytes.Repeat([]byte("a"), 1_000_000), true, "1000000 bytes"},
		{"an ELF binary fails", pad([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1}, 4096), true, "ELF"},
		{"a 64-bit Mach-O binary fails", pad([]byte{0xcf, 0xfa, 0xed, 0xfe}, 4096), true, "Mach-O"},
		{"a universal Mach-O binary fails", pad([]byte{0xca, 0xfe, 0xba, 0xbe}, 4096), true, "Mach-O"},
		{"a PE binary fails", pad([]byte{'M', 'Z', 0x90, 0}, 4096), true, "PE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			git(t, dir, "init", "-q")
			if err := os.WriteFile(filepath.Join(dir, "README"), []byte("hello\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "thing"), tc.content, 0o755); err != nil {
				t.Fatal(err)
			}
			// Staged is enough: the check sees what would be committed.
			git(t, dir, "add", "README", "thing")
			out, err := exec.Command(script(t), dir).CombinedOutput()
			if tc.fails {
				if err == nil {
					t.Fatalf("check-tree passed, want it to fail:\n%s", out)
				}
				if !strings.Contains(string(out), "thing") || !strings.Contains(string(out), tc.complain) {
					t.Errorf("check-tree output does not name the file and %q:\n%s", tc.complain, out)
				}
				if strings.Contains(string(out), "README") {
					t.Errorf("check-tree names a file that is fine:\n%s", out)
				}
				return
			}
			if err != nil {
				t.Fatalf("check-tree failed, want it to pass: %v\n%s", err, out)
			}
		})
	}
}

// Every command's `go build` output at the root, and env.json, is ignored,
// so that `git add .` after a build commits none of them.
func TestBuildOutputsAreIgnored(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, ".git")); err != nil {
		t.Skip("not a git checkout")
	}
	var paths []string
	for _, pattern := range []string{"cmd/*/main.go", "dev/cmd/*/main.go", "functions/*/main.go"} {
		mains, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		if len(mains) == 0 {
			t.Fatalf("no %s: the test looks in the wrong place", pattern)
		}
		for _, m := range mains {
			paths = append(paths, filepath.Base(filepath.Dir(m)))
		}
	}
	paths = append(paths, "bootstrap", "env.json", "build/get/bootstrap", ".aws-sam/build/template.yaml", ".tools/bin/gotestsum")
	for _, p := range paths {
		cmd := exec.Command("git", "check-ignore", "-q", "--no-index", p)
		cmd.Dir = root
		if err := cmd.Run(); err != nil {
			t.Errorf("%s at the repository root is not ignored by .gitignore", p)
		}
	}
	// and the sources themselves are not
	for _, p := range []string{"cmd/cis-admin/main.go", "functions/get/main.go", "dev/cmd/cis-local/main.go"} {
		cmd := exec.Command("git", "check-ignore", "-q", "--no-index", p)
		cmd.Dir = root
		if err := cmd.Run(); err == nil {
			t.Errorf("%s is ignored by .gitignore, and must not be", p)
		}
	}
}
