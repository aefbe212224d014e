package stack_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cis-session/cis-session/internal/cloudwatch"
	"github.com/cis-session/cis-session/internal/stack"
)

// dashboardMetric is one metric a widget draws: its namespace, name, the
// dimension values (resources as "${LogicalID}") and statistic.
type dashboardMetric struct {
	widget, namespace, name, stat string
	dims                          map[string]string
}

// dashboard reads the translated template's one CloudWatch dashboard: its
// widgets' metrics and search expressions. Every ${...} of its body must
// name a resource, a parameter or a pseudo parameter.
func dashboard(t *testing.T) ([]dashboardMetric, []string) {
	t.Helper()
	tpl := translated(t)
	var ids []string
	for id, r := range getMap(tpl, "Resources") {
		if get(r, "Type") == "AWS::CloudWatch::Dashboard" {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("dashboards %v, want exactly one", ids)
	}
	// A !Sub of the body and its variables: the tables' names, which are
	// the stack's own or the global tables' (several regions).
	sub, _ := get(tpl, "Resources", ids[0], "Properties", "DashboardBody", "Fn::Sub").([]any)
	if len(sub) != 2 {
		t.Fatalf("DashboardBody %v, want a !Sub of a body and its variables", get(tpl, "Resources", ids[0], "Properties", "DashboardBody"))
	}
	body, ok := sub[0].(string)
	vars, _ := sub[1].(map[string]any)
	if !ok {
		t.Fatalf("DashboardBody's body %v, want a string", sub[0])
	}
	// Each variable XName is the stack's own table X in one region, the
	// global table's name in several.
	for name, v := range vars {
		own := strings.TrimSuffix(name, "Name")
		if cond, _ := get(v, "Fn::If").([]any); len(cond) != 3 || cond[0] != "RegionalTables" || get(cond[1], "Ref") != own {
			t.Errorf("the dashboard's ${%s} is %v, want the table %s in one region", name, v, own)
		}
	}
	for _, m := range regexp.MustCompile(`\$\{([^}]+)\}`).FindAllStringSubmatch(body, -1) {
		name := m[1]
		if _, isVar := vars[name]; !isVar && get(tpl, "Resources", name) == nil && get(tpl, "Parameters", name) == nil && !strings.HasPrefix(name, "AWS::") {
			t.Errorf("the dashboard names ${%s}, which is no resource or parameter", name)
		}
	}
	var doc struct {
		Widgets []struct {
			Properties struct {
				Title   string
				Stat    string
				Metrics [][]any
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("DashboardBody is not JSON: %v", err)
	}
	var metrics []dashboardMetric
	var searches []string
	for _, w := range doc.Widgets {
		for _, row := range w.Properties.Metrics {
			if len(row) == 1 {
				if e, ok := get(row[0], "expression").(string); ok {
					searches = append(searches, e)
				}
				continue
			}
			m := dashboardMetric{widget: w.Properties.Title, stat: w.Properties.Stat, dims: map[string]string{}}
			m.namespace, m.name = fmt.Sprint(row[0]), fmt.Sprint(row[1])
			rest := row[2:]
			if opts, ok := rest[len(rest)-1].(map[string]any); ok {
				if s, ok := opts["stat"].(string); ok {
					m.stat = s
				}
				rest = rest[:len(rest)-1]
			}
			for i := 0; i+1 < len(rest); i += 2 {
				m.dims[fmt.Sprint(rest[i])] = fmt.Sprint(rest[i+1])
			}
			metrics = append(metrics, m)
		}
	}
	return metrics, searches
}

// TestTheDashboardShowsWhatAnOperatorAsks: the translated template holds a
// dashboard with log-ins by outcome (and refusals by cause), lockouts,
// back-channel logouts, protected calls, every function's p50 and p99
// duration, both tables' throttles, and sessions taken over from an
// unreachable home region.
func TestTheDashboardShowsWhatAnOperatorAsks(t *testing.T) {
	metrics, searches := dashboard(t)
	has := func(namespace, name, stat string, dims map[string]string) bool {
		return slices.ContainsFunc(metrics, func(m dashboardMetric) bool {
			if m.namespace != namespace || m.name != name || m.stat != stat {
				return false
			}
			for k, v := range dims {
				if m.dims[k] != v {
					return false
				}
			}
			return true
		})
	}
	fn := func(f stack.Function) map[string]string {
		return map[string]string{"FunctionName": "${" + f.LogicalID() + "}"}
	}
	for _, f := range []stack.Function{stack.Create, stack.Vapi} { // the log-in functions
		for _, name := range []string{cloudwatch.MetricLogin, cloudwatch.MetricLoginRefused, cloudwatch.MetricSessionCap, cloudwatch.MetricLockout} {
			if !has(cloudwatch.Namespace, name, "Sum", fn(f)) {
				t.Errorf("no %s of %s", name, f.Dir)
			}
		}
	}
	logout, _ := stack.ForOp("backchannel-logout")
	for _, name := range []string{cloudwatch.MetricProviderLogout, cloudwatch.MetricProviderLogoutRefused} {
		if !has(cloudwatch.Namespace, name, "Sum", fn(logout)) {
			t.Errorf("no %s of %s, the function serving back-channel logouts", name, logout.Dir)
		}
	}
	if !slices.ContainsFunc(searches, func(e string) bool {
		return strings.Contains(e, "{"+cloudwatch.Namespace+","+cloudwatch.DimensionCause+","+cloudwatch.DimensionFunction+"}") &&
			strings.Contains(e, `MetricName="`+cloudwatch.MetricLoginRefused+`"`)
	}) {
		t.Errorf("no search of refused log-ins by cause among %q", searches)
	}
	if !has("AWS/Lambda", "Invocations", "Sum", fn(stack.Authorize)) {
		t.Error("no protected calls: the front door's invocations")
	}
	for _, f := range stack.Functions {
		for _, stat := range []string{"p50", "p99"} {
			if !has("AWS/Lambda", "Duration", stat, fn(f)) {
				t.Errorf("no %s duration of %s", stat, f.Dir)
			}
		}
	}
	// Every function that may take a session over from its home region
	// (docs/REGIONS.md) counts it.
	for _, f := range stack.Functions {
		if len(f.HomePermissions()) > 0 && !has(cloudwatch.Namespace, cloudwatch.MetricTakeOver, "Sum", fn(f)) {
			t.Errorf("no %s of %s, which may take a session over", cloudwatch.MetricTakeOver, f.Dir)
		}
	}
	for _, table := range []stack.Table{stack.Sessions, stack.Users} {
		for _, name := range []string{"ReadThrottleEvents", "WriteThrottleEvents"} {
			if !has("AWS/DynamoDB", name, "Sum", map[string]string{"TableName": "${" + tableID(table) + "Name}"}) {
				t.Errorf("no %s of the %s table", name, table)
			}
		}
	}
}
