package stack_test

import (
	"fmt"
	"os"
	"regexp"
	"testing"
)

// paramsDoc is the page whose parameter table lists every template
// parameter.
const paramsDoc = "../../docs/OPERATIONS.md"

// TestTheDocsListEveryParameter: the parameter table of docs/OPERATIONS.md
// names every template parameter, with its default, so that `make deploy`
// holds no surprise; and names none the template does not have.
func TestTheDocsListEveryParameter(t *testing.T) {
	s := loadStack(t)
	doc, err := os.ReadFile(paramsDoc)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // parameter -> its default as the page says
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z][A-Za-z]+)` \\| `([^`]*)` \\|").FindAllStringSubmatch(string(doc), -1) {
		def := m[2]
		if def == `""` { // how the page writes an empty default
			def = ""
		}
		rows[m[1]] = def
	}
	params := getMap(s.tpl, "Parameters")
	for name := range params {
		def, ok := rows[name]
		if !ok {
			t.Errorf("%s: no row for parameter %s", paramsDoc, name)
			continue
		}
		if want := fmt.Sprint(get(params, name, "Default")); def != want {
			t.Errorf("%s: %s defaults to %q, the template to %q", paramsDoc, name, def, want)
		}
	}
	for name := range rows {
		if _, ok := params[name]; !ok && regexp.MustCompile(`^[A-Z][a-z]+[A-Z]`).MatchString(name) {
			t.Errorf("%s lists parameter %s, which the template does not have", paramsDoc, name)
		}
	}
}
