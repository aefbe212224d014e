package stack_test

import (
	"slices"
	"testing"

	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/stack"
)

// TestTouchingRolesCannotMakeASession: the roles that may only touch
// sessions (get, the authorizer) may UpdateItem the sessions table only
// naming the touch's attributes (dynamodb:Attributes, ForAllValues, and
// never none): an UpdateItem on an absent key creates an item, and one
// these roles could make has no user, so it authorizes nothing (see
// internal/lambda's TestAnItemATouchingRoleCouldWriteAuthorizesNothing).
func TestTouchingRolesCannotMakeASession(t *testing.T) {
	s := loadStack(t)
	var touching []string
	for _, f := range stack.Functions {
		if !slices.Equal(f.Permissions(), []stack.Permission{{Table: stack.Sessions, Action: "dynamodb:UpdateItem"}}) {
			continue
		}
		touching = append(touching, f.Dir)
		roleID, _, _ := getAtt(s.functionProps(f.LogicalID())["Role"])
		found := 0
		policies, _ := get(s.resource(roleID), "Properties", "Policies").([]any)
		for _, pol := range policies {
			stmts, _ := get(pol, "PolicyDocument", "Statement").([]any)
			for _, st := range stmts {
				if !slices.Contains(strs(get(st, "Action")), "dynamodb:UpdateItem") {
					continue
				}
				found++
				attrs := strs(get(st, "Condition", "ForAllValues:StringEquals", "dynamodb:Attributes"))
				slices.Sort(attrs)
				want := slices.Sorted(slices.Values(dynamo.TouchAttributes))
				if !slices.Equal(attrs, want) {
					t.Errorf("%s: UpdateItem may name %v, want exactly the touch's %v", roleID, attrs, want)
				}
				if get(st, "Condition", "Null", "dynamodb:Attributes") != "false" {
					t.Errorf("%s: UpdateItem without Null dynamodb:Attributes false: a request naming no attribute would pass ForAllValues", roleID)
				}
				if n := len(getMap(st, "Condition")); n != 2 {
					t.Errorf("%s: %d condition operators, want the two", roleID, n)
				}
			}
		}
		if found != 1 {
			t.Errorf("%s: %d UpdateItem statements, want 1", roleID, found)
		}
	}
	if !slices.Equal(touching, []string{stack.Get.Dir, stack.Authorize.Dir}) {
		t.Errorf("touching-only functions %v, want get and authorize", touching)
	}
}
