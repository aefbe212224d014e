package stack_test

import (
	"fmt"
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

// setAttributes reads the names a SET-only update expression assigns.
func setAttributes(t *testing.T, expr string) []string {
	t.Helper()
	rest, ok := strings.CutPrefix(expr, "SET ")
	if !ok || strings.ContainsAny(rest, "#()") || strings.Contains(strings.ToUpper(rest), "REMOVE") {
		t.Fatalf("update %q is not a plain SET of literal names: read it with the full parser (internal/dynamo)", expr)
	}
	var names []string
	for _, action := range strings.Split(rest, ",") {
		name, _, ok := strings.Cut(action, "=")
		if !ok {
			t.Fatalf("update %q: action %q assigns nothing", expr, action)
		}
		names = append(names, strings.TrimSpace(name))
	}
	return names
}
