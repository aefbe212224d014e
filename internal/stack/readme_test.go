package stack_test

import (
	"fmt"
	"os"
	"regexp"
	"testing"
)

// TestTheReadmeListsEveryParameter: the README's parameter table names every
// template parameter, with its default, so that `make deploy` holds no
// surprise; and names none the template does not have.
func TestTheReadmeListsEveryParameter(t *testing.T) {
	s := loadStack(t)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // parameter -> its default as the README says
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z][A-Za-z]+)` \\| `([^`]*)` \\|").FindAllStringSubmatch(string(readme), -1) {
		def := m[2]
		if def == `""` { // how the README writes an empty default
			def = ""
		}
		rows[m[1]] = def
	}
	params := getMap(s.tpl, "Parameters")
	for name := range params {
		def, ok := rows[name]
		if !ok {
			t.Errorf("README: no row for parameter %s", name)
			continue
		}
		if want := fmt.Sprint(get(params, name, "Default")); def != want {
			t.Errorf("README: %s defaults to %q, the template to %q", name, def, want)
		}
	}
	for name := range rows {
		if _, ok := params[name]; !ok && regexp.MustCompile(`^[A-Z][a-z]+[A-Z]`).MatchString(name) {
			t.Errorf("README lists parameter %s, which the template does not have", name)
		}
	}
}
