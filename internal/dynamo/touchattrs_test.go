package dynamo

import (
	"regexp"
	"slices"
	"testing"
)

// TestATouchNamesOnlyTouchAttributes: every attribute the touch and its
// re-check name, in key, update or condition, is one of TouchAttributes,
// the list the touching roles' IAM condition allows; the user is not.
func TestATouchNamesOnlyTouchAttributes(t *testing.T) {
	ident := regexp.MustCompile(`(?:^|[^:a-z_])([a-z][a-z_]*)`)
	functions := []string{"attribute_exists"}
	for _, expr := range []string{touchCondition, TouchUpdate, laterAccessUpdate, laterAccessCondition, attrTokenHash} {
		for _, m := range ident.FindAllStringSubmatch(expr, -1) {
			name := m[1]
			if slices.Contains(functions, name) {
				continue
			}
			if !slices.Contains(TouchAttributes, name) {
				t.Errorf("%q names %s, which the touching roles may not", expr, name)
			}
		}
	}
	for _, forbidden := range []string{attrUser, attrUserKey} {
		if slices.Contains(TouchAttributes, forbidden) {
			t.Errorf("TouchAttributes has %s: a touching role could write whose session it is", forbidden)
		}
	}
}
