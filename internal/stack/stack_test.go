package stack_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/stack"
)

// TestTableIsConsistent: every operation is served by exactly one function
// and has its permissions listed; every route reaches a function; and the
// routes that share a method and path (API Gateway cannot tell them apart)
// reach the same one.
func TestTableIsConsistent(t *testing.T) {
	served := map[httpapi.Operation]string{}
	var writers []string
	for _, f := range stack.Functions {
		if f.WritesAudit {
			writers = append(writers, f.Dir)
		}
		if !f.ServesAPI() {
			// The audit forwarder: no operation, no table, only the trail.
			if !f.WritesAudit || len(f.Permissions()) != 0 || slices.ContainsFunc(stack.APIFunctions(), func(g stack.Function) bool { return g.Dir == f.Dir }) {
				t.Errorf("function %s serves nothing and does not write the audit trail, or may touch a table", f.Dir)
			}
			continue
		}
		if f.WritesAudit {
			t.Errorf("function %s serves the API and writes into the audit log group: one function (auditfwd) does that", f.Dir)
		}
		for _, op := range f.Ops {
			if other, dup := served[op]; dup {
				t.Errorf("operation %s is served by %s and %s", op, other, f.Dir)
			}
			served[op] = f.Dir
		}
		if len(f.Permissions()) == 0 {
			t.Errorf("function %s has no permissions", f.Dir)
		}
	}
	if !slices.Equal(writers, []string{stack.Auditfwd.Dir}) {
		t.Errorf("functions writing the audit log group: %v, want only %s", writers, stack.Auditfwd.Dir)
	}
	if n := len(stack.APIFunctions()); n != len(stack.Functions)-1 {
		t.Errorf("%d of %d functions serve the API, want all but the audit forwarder", n, len(stack.Functions))
	}
	// The front door is a function with no route: API Gateway invokes it
	// as an authorizer.
	if rs := stack.Authorize.Routes(); len(rs) != 0 || !stack.Authorize.IsAuthorizer() {
		t.Errorf("authorize: routes %v, want none (it is an authorizer)", rs)
	}
	if got := stack.Authorize.Permissions(); !slices.Equal(got, []stack.Permission{{Table: stack.Sessions, Action: "dynamodb:UpdateItem"}}) {
		t.Errorf("authorize may %v, want only UpdateItem on the sessions table", got)
	}
	for _, op := range append(slices.Clone(httpapi.AllOperations), httpapi.OpAuthorize) {
		if _, ok := served[op]; !ok {
			t.Errorf("operation %s is served by no function", op)
		}
		ps, ok := stack.OpPermissions[op]
		if !ok {
			t.Errorf("operation %s has no entry in OpPermissions", op)
		}
		for _, p := range ps {
			if !slices.Contains(stack.Tables, p.Table) || !strings.HasPrefix(p.Action, "dynamodb:") || strings.Contains(p.Action, "*") {
				t.Errorf("operation %s: permission %+v", op, p)
			}
		}
	}
	for _, rt := range httpapi.Routes {
		f, ok := stack.ForRoute(rt.Method, rt.Path)
		if !ok {
			t.Errorf("route %s %s reaches no function", rt.Method, rt.Path)
			continue
		}
		if !slices.Contains(f.Ops, rt.Op) {
			t.Errorf("route %s %s (operation %s) reaches function %s, which does not serve %s: API Gateway routes on method and path only",
				rt.Method, rt.Path, rt.Op, f.Dir, rt.Op)
		}
		if !slices.ContainsFunc(f.Routes(), func(r httpapi.Route) bool { return r.Method == rt.Method && r.Path == rt.Path }) {
			t.Errorf("function %s: Routes() lacks %s %s", f.Dir, rt.Method, rt.Path)
		}
	}
}

func TestLogicalIDAndLookups(t *testing.T) {
	if id := (stack.Function{Dir: "get"}).LogicalID(); id != "GetFunction" {
		t.Errorf("LogicalID = %q", id)
	}
	if f, ok := stack.ByDir("create"); !ok || !slices.Contains(f.Ops, httpapi.OpCreate) {
		t.Errorf("ByDir(create) = %+v, %v", f, ok)
	}
	if _, ok := stack.ByDir("nope"); ok {
		t.Error("ByDir(nope) found something")
	}
	get := stack.Get
	if !get.Allows(stack.Sessions, "dynamodb:UpdateItem") || get.Allows(stack.Sessions, "dynamodb:GetItem") || get.Allows(stack.Users, "dynamodb:UpdateItem") {
		t.Errorf("get permissions: %v", get.Permissions())
	}
}

func TestForEvent(t *testing.T) {
	cases := []struct {
		event, dir string
	}{
		{`{"version":"2.0","routeKey":"GET /api/session"}`, "get"},
		{`{"version":"2.0","routeKey":"POST /api/session"}`, "create"},
		{`{"httpMethod":"DELETE","resource":"/api/session","path":"/api/session"}`, "delete"},
		{`{"version":"1.0","httpMethod":"GET","resource":"/api/session"}`, "get"},
		// An authorizer event names the route it guards, which the
		// authorizer serves whatever it is.
		{`{"type":"REQUEST","methodArn":"arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/api/vcenter/vm","httpMethod":"GET","resource":"/api/{proxy+}","path":"/api/vcenter/vm"}`, "authorize"},
	}
	for _, c := range cases {
		f, err := stack.ForEvent([]byte(c.event))
		if err != nil || f.Dir != c.dir {
			t.Errorf("ForEvent(%s) = %s, %v; want %s", c.event, f.Dir, err, c.dir)
		}
	}
	for _, bad := range []string{
		`not json`,
		`{"version":"2.0","routeKey":"$default"}`,
		`{"version":"2.0","routeKey":"PUT /api/session"}`,
		`{"version":"2.0","routeKey":"GET /api/nothing"}`,
		`{"foo":"bar"}`,
		`{"type":"TOKEN","methodArn":"arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/x"}`,
		`{"type":"REQUEST","httpMethod":"GET","path":"/api/vcenter/vm"}`,
	} {
		if f, err := stack.ForEvent([]byte(bad)); err == nil {
			t.Errorf("ForEvent(%s) = %s, want an error", bad, f.Dir)
		}
	}
}
