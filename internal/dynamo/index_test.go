package dynamo

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TestAGetWritesNoIndexEntry holds the rule that keeps a get at one write:
// DynamoDB writes an index entry when a write changes an attribute that is a
// key of the index or projected into it, so the get's update may set none.
// Local engines do not report index write units, so the rule is checked on
// the definitions: every index CreateTables makes, against TouchUpdate.
// (template.yaml's index is held to the same rule in package stack.)
func TestAGetWritesNoIndexEntry(t *testing.T) {
	updated := UpdatedAttributes(t, TouchUpdate)
	if !slices.Contains(updated, attrLastAccessed) {
		t.Fatalf("TouchUpdate %q does not set %s: this test reads it wrong", TouchUpdate, attrLastAccessed)
	}
	for _, in := range createTableInputs(Tables{Sessions: "s", Users: "u"}) {
		var tableKeys []string
		for _, k := range in.KeySchema {
			tableKeys = append(tableKeys, aws.ToString(k.AttributeName))
		}
		for _, g := range in.GlobalSecondaryIndexes {
			// An index holds its own keys and the table's keys, and what it projects.
			indexed := slices.Clone(tableKeys)
			for _, k := range g.KeySchema {
				indexed = append(indexed, aws.ToString(k.AttributeName))
			}
			switch g.Projection.ProjectionType {
			case "ALL":
				t.Errorf("table %s index %s projects ALL: every get would write it", aws.ToString(in.TableName), aws.ToString(g.IndexName))
			case "INCLUDE":
				indexed = append(indexed, g.Projection.NonKeyAttributes...)
			}
			for _, a := range updated {
				if slices.Contains(indexed, a) {
					t.Errorf("the get sets %s, which index %s holds (%v): every get would write the index too",
						a, aws.ToString(g.IndexName), indexed)
				}
			}
		}
	}
}

// UpdatedAttributes returns the attributes an update expression changes, in
// every clause (SET, REMOVE, ADD, DELETE). Names must be literal: no #name
// placeholders, which this reading could not resolve.
func UpdatedAttributes(t testing.TB, expr string) []string {
	t.Helper()
	if strings.Contains(expr, "#") {
		t.Fatalf("update %q uses a name placeholder: resolve it before checking", expr)
	}
	// Split at the clause keywords, then each clause into its actions at
	// the commas outside parentheses; an action's first name is what it
	// changes.
	var attrs []string
	clause, depth, action := "", 0, strings.Builder{}
	flush := func() {
		a := strings.TrimSpace(action.String())
		action.Reset()
		if a == "" || clause == "" {
			return
		}
		name := strings.FieldsFunc(a, func(r rune) bool { return r == ' ' || r == '=' })[0]
		attrs = append(attrs, name)
	}
	for _, w := range strings.Fields(strings.NewReplacer(",", " , ", "(", " ( ", ")", " ) ").Replace(expr)) {
		switch up := strings.ToUpper(w); {
		case depth == 0 && (up == "SET" || up == "REMOVE" || up == "ADD" || up == "DELETE"):
			flush()
			clause = up
		case depth == 0 && w == ",":
			flush()
		default:
			depth += strings.Count(w, "(") - strings.Count(w, ")")
			action.WriteString(w + " ")
		}
	}
	flush()
	if clause == "" || len(attrs) == 0 {
		t.Fatalf("update %q: no clause read", expr)
	}
	return attrs
}

func TestUpdatedAttributesReadsEveryClause(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{"SET a = :a, b = if_not_exists(b, :b)", []string{"a", "b"}},
		{"SET a = :a REMOVE c, d", []string{"a", "c", "d"}},
		{"ADD n :one", []string{"n"}},
		{"SET a=:a", []string{"a"}},
	} {
		if got := UpdatedAttributes(t, c.expr); !slices.Equal(got, c.want) {
			t.Errorf("UpdatedAttributes(%q) = %v, want %v", c.expr, got, c.want)
		}
	}
}
