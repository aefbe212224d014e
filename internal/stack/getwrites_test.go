package stack_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/stack"
)

// TestTheTemplatesIndexesHoldNothingAGetWrites: DynamoDB writes an index
// entry whenever a write changes an attribute that is a key of the index or
// projected into it; the get's UpdateItem (dynamo.TouchUpdate) must change
// none, in any index template.yaml declares, so that a get writes one item
// and a busy user's gets do not all land on one index partition.
func TestTheTemplatesIndexesHoldNothingAGetWrites(t *testing.T) {
	s := loadStack(t)
	updated := setAttributes(t, dynamo.TouchUpdate)
	if !slices.Equal(updated, []string{"calls", "last_accessed_ms", "expires_at"}) {
		t.Fatalf("the get changes %v: this test reads TouchUpdate wrong, or it changed", updated)
	}
	for _, id := range s.resources("AWS::DynamoDB::Table") {
		p := getMap(s.resource(id), "Properties")
		var tableKeys []string
		for _, k := range p["KeySchema"].([]any) {
			tableKeys = append(tableKeys, fmt.Sprint(get(k, "AttributeName")))
		}
		gsis, _ := p["GlobalSecondaryIndexes"].([]any)
		if id == tableID(stack.Sessions) && len(gsis) == 0 {
			t.Fatalf("%s: no index read: this test reads the template wrong", id)
		}
		for _, g := range gsis {
			indexed := slices.Clone(tableKeys)
			for _, k := range get(g, "KeySchema").([]any) {
				indexed = append(indexed, fmt.Sprint(get(k, "AttributeName")))
			}
			switch get(g, "Projection", "ProjectionType") {
			case "ALL":
				t.Errorf("%s index %v projects ALL: every get would write it", id, get(g, "IndexName"))
			case "INCLUDE":
				indexed = append(indexed, strs(get(g, "Projection", "NonKeyAttributes"))...)
			}
			for _, a := range updated {
				if slices.Contains(indexed, a) {
					t.Errorf("the get sets %s, which %s index %v holds (%v)", a, id, get(g, "IndexName"), indexed)
				}
			}
		}
	}
}

// setAttributes reads the names an update expression of SET and ADD
// clauses (in any order) changes: each action's first name.
func setAttributes(t *testing.T, expr string) []string {
	t.Helper()
	if strings.ContainsAny(expr, "#()") || regexp.MustCompile(`(?i)\b(REMOVE|DELETE)\b`).MatchString(expr) {
		t.Fatalf("update %q is not SET and ADD of literal names: read it with the full parser (internal/dynamo)", expr)
	}
	var names []string
	clauses := regexp.MustCompile(`(?i)\b(SET|ADD)\s`)
	bounds := clauses.FindAllStringIndex(expr, -1)
	if len(bounds) == 0 || bounds[0][0] != 0 {
		t.Fatalf("update %q does not start with a clause", expr)
	}
	for i, b := range bounds {
		end := len(expr)
		if i+1 < len(bounds) {
			end = bounds[i+1][0]
		}
		for _, action := range strings.Split(expr[b[1]:end], ",") {
			f := strings.FieldsFunc(action, func(r rune) bool { return r == ' ' || r == '=' })
			if len(f) < 2 {
				t.Fatalf("update %q: action %q changes nothing", expr, action)
			}
			names = append(names, f[0])
		}
	}
	return names
}
