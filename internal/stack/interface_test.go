package stack_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEveryParameterIsInOneConsoleGroup: the console shows the parameters
// in Metadata's AWS::CloudFormation::Interface groups; every parameter is
// in exactly one, each group has a label and names only parameters there
// are; and template.yaml's Parameters read the same way: under a
// "# ---- <label>" header per group, in the groups' order. A new parameter
// fails here until it is put in a group, and in its section.
func TestEveryParameterIsInOneConsoleGroup(t *testing.T) {
	s := loadStack(t)
	params := getMap(s.tpl, "Parameters")
	groups, _ := get(s.tpl, "Metadata", "AWS::CloudFormation::Interface", "ParameterGroups").([]any)
	if len(groups) == 0 {
		t.Fatal("no Metadata AWS::CloudFormation::Interface ParameterGroups: the console lists the parameters in no order")
	}
	groupOf := map[string]string{}
	var labels []string
	for i, g := range groups {
		label, _ := get(g, "Label", "default").(string)
		if label == "" {
			t.Errorf("parameter group %d has no Label.default", i)
		}
		labels = append(labels, label)
		names := strs(get(g, "Parameters"))
		if len(names) == 0 {
			t.Errorf("parameter group %q names no parameter", label)
		}
		for _, n := range names {
			if params[n] == nil {
				t.Errorf("parameter group %q names %s, which is no parameter of the template", label, n)
			}
			if other, dup := groupOf[n]; dup {
				t.Errorf("parameter %s is in two groups: %q and %q", n, other, label)
			}
			groupOf[n] = label
		}
	}
	for n := range params {
		if _, ok := groupOf[n]; !ok {
			t.Errorf("parameter %s is in no group of Metadata AWS::CloudFormation::Interface ParameterGroups: add it to the group it belongs to (%s)", n, strings.Join(labels, ", "))
		}
	}

	// The file: each parameter under the header of its group.
	text, err := os.ReadFile(filepath.Join(s.root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	section := regexp.MustCompile(`(?s)\nParameters:\n(.*?)\n[A-Za-z]`).FindSubmatch(text)
	if section == nil {
		t.Fatal("no Parameters section in template.yaml")
	}
	header, param := regexp.MustCompile(`^  # ---- (.+)$`), regexp.MustCompile(`^  ([A-Za-z0-9]+):`)
	var current string
	var headers []string
	for _, line := range strings.Split(string(section[1]), "\n") {
		if m := header.FindStringSubmatch(line); m != nil {
			current = m[1]
			headers = append(headers, current)
			continue
		}
		if m := param.FindStringSubmatch(line); m != nil {
			if want := groupOf[m[1]]; want != "" && !strings.EqualFold(current, want) {
				t.Errorf("template.yaml: parameter %s is under the header %q, its group is %q", m[1], current, want)
			}
		}
	}
	if !strings.EqualFold(fmt.Sprint(headers), fmt.Sprint(labels)) {
		t.Errorf("template.yaml's parameter headers %q\nare not the groups' labels in order %q", headers, labels)
	}
}
