package stack_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cis-session/cis-session/internal/auditlog"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/stack"
)

// TestSettingsListEveryVariableAndParameter holds docs/SETTINGS.md, the one
// reference of every setting, to the code and the template: every variable
// the configuration reads, every variable a function is given, every
// variable make run's own code reads, and every template parameter appear
// on it; a variable a parameter sets names that parameter in its row; and
// it lists no variable nothing reads.
func TestSettingsListEveryVariableAndParameter(t *testing.T) {
	s := loadStack(t)
	b, err := os.ReadFile(filepath.Join(s.root, "docs", "SETTINGS.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	rows := map[string]string{} // variable -> its row
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z][A-Z0-9_]+)` \\|(.*)$").FindAllStringSubmatch(doc, -1) {
		rows[m[1]] = m[2]
	}

	// What the code reads: the configuration, and make run's own.
	read := slices.Concat(config.Vars, config.ForwardVars, config.OIDCVars, config.AssertionVars,
		[]string{config.EnvAssertionKeyFile, config.EnvRegionName, config.EnvPeerRegions, auditlog.EnvGroup, "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SECRETS_MANAGER"})
	for _, file := range []string{"dev/cmd/cis-local/main.go", "dev/local/local.go"} {
		src, err := os.ReadFile(filepath.Join(s.root, file))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`os\.Getenv\("([A-Z][A-Z0-9_]+)"\)`).FindAllStringSubmatch(string(src), -1) {
			if m[1] != "AWS_REGION" && !slices.Contains(read, m[1]) { // AWS_REGION: the SDK's, which make run only defaults
				read = append(read, m[1])
			}
		}
	}
	for _, v := range read {
		if _, ok := rows[v]; !ok {
			t.Errorf("docs/SETTINGS.md has no row for %s, which the code reads", v)
		}
	}
	for v := range rows {
		if !slices.Contains(read, v) {
			t.Errorf("docs/SETTINGS.md lists %s, which no code it knows of reads", v)
		}
	}

	// What the template sets: each function's variables, and the parameter
	// each one comes from.
	for _, f := range stack.Functions {
		for v, val := range getMap(s.functionProps(f.LogicalID()), "Environment", "Variables") {
			row, ok := rows[v]
			if !ok {
				t.Errorf("docs/SETTINGS.md has no row for %s, which %s is given", v, f.LogicalID())
				continue
			}
			if p, isRef := ref(val); isRef && get(s.tpl, "Parameters", p) != nil && !strings.Contains(row, "`"+p+"`") {
				t.Errorf("docs/SETTINGS.md: the row of %s does not name the parameter %s that sets it", v, p)
			}
		}
	}
	for p := range getMap(s.tpl, "Parameters") {
		if !strings.Contains(doc, "`"+p+"`") {
			t.Errorf("docs/SETTINGS.md does not name the parameter %s", p)
		}
	}
}
