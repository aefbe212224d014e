package stack_test

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/internal/auditlog"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/stack"
)

// templ is template.yaml, parsed.
type templ struct {
	t    *testing.T
	root string
	tpl  map[string]any
}

func loadStack(t *testing.T) *templ {
	t.Helper()
	root, err := localdynamo.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := readTemplate(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return &templ{t: t, root: root, tpl: tpl}
}

// resources returns the logical ids of the resources of type typ, sorted.
func (s *templ) resources(typ string) []string {
	var ids []string
	for id, r := range getMap(s.tpl, "Resources") {
		if get(r, "Type") == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

func (s *templ) resource(id string) map[string]any { return getMap(s.tpl, "Resources", id) }

// functionProps returns a function's properties with Globals.Function
// under them, as SAM merges them (maps merged one level deep for
// Environment.Variables).
func (s *templ) functionProps(id string) map[string]any {
	props := maps.Clone(getMap(s.tpl, "Globals", "Function"))
	if props == nil {
		props = map[string]any{}
	}
	own := getMap(s.resource(id), "Properties")
	for k, v := range own {
		props[k] = v
	}
	vars := maps.Clone(getMap(s.tpl, "Globals", "Function", "Environment", "Variables"))
	if vars == nil {
		vars = map[string]any{}
	}
	maps.Copy(vars, getMap(own, "Environment", "Variables"))
	props["Environment"] = map[string]any{"Variables": vars}
	return props
}

// tableID is the logical id of a table of the stack.
func tableID(t stack.Table) string {
	return strings.ToUpper(string(t[:1])) + string(t[1:]) + "Table"
}

// TestEveryFunctionDirectoryHasAResourceAndBack: functions/<dir>,
// stack.Functions and the template's function resources name the same
// functions, each built by the Makefile target sam build runs, with the
// runtime, architecture, handler, memory and timeout the issue sets.
func TestEveryFunctionDirectoryHasAResourceAndBack(t *testing.T) {
	s := loadStack(t)
	mains, err := filepath.Glob(filepath.Join(s.root, "functions", "*", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs, tableDirs, want []string
	for _, m := range mains {
		dirs = append(dirs, filepath.Base(filepath.Dir(m)))
	}
	for _, f := range stack.Functions {
		tableDirs = append(tableDirs, f.Dir)
		want = append(want, f.LogicalID())
	}
	sort.Strings(dirs)
	sort.Strings(tableDirs)
	sort.Strings(want)
	if !slices.Equal(dirs, tableDirs) {
		t.Errorf("functions/ has %v, stack.Functions %v", dirs, tableDirs)
	}
	if got := s.resources("AWS::Serverless::Function"); !slices.Equal(got, want) {
		t.Errorf("template.yaml has functions %v, want %v (one per stack.Functions entry)", got, want)
	}
	if got := s.resources("AWS::Lambda::Function"); len(got) > 0 {
		t.Errorf("plain AWS::Lambda::Function resources %v: every function is an AWS::Serverless::Function", got)
	}

	for _, f := range stack.Functions {
		id := f.LogicalID()
		t.Run(f.Dir, func(t *testing.T) {
			if !regexpLower(f.Dir) {
				t.Errorf("directory %q: want lower-case letters only (the Makefile derives it from the logical id)", f.Dir)
			}
			main, err := os.ReadFile(filepath.Join(s.root, "functions", f.Dir, "main.go"))
			if err != nil {
				t.Fatal(err)
			}
			serves := fmt.Sprintf("stack.%s.Ops...", strings.TrimSuffix(id, "Function"))
			if f.IsAuthorizer() {
				serves = "lambda.StartAuthorizer("
			}
			if f.WritesAudit {
				serves = "auditlog.NewForwarder("
			}
			if !strings.Contains(string(main), serves) {
				t.Errorf("functions/%s/main.go does not serve %s", f.Dir, serves)
			}
			if s.resource(id) == nil {
				return // reported above
			}
			if bm := get(s.resource(id), "Metadata", "BuildMethod"); bm != "makefile" {
				t.Errorf("%s: Metadata.BuildMethod = %v, want makefile", id, bm)
			}
			p := s.functionProps(id)
			for k, want := range map[string]any{"Runtime": "provided.al2023", "Handler": "bootstrap", "CodeUri": "."} {
				if p[k] != want {
					t.Errorf("%s: %s = %v, want %v", id, k, p[k], want)
				}
			}
			if a := strs(p["Architectures"]); !slices.Equal(a, []string{"arm64"}) {
				t.Errorf("%s: Architectures = %v, want [arm64]", id, a)
			}
			if m, ok := p["MemorySize"].(int); !ok || m != f.MemoryMB || m < 128 || m > stack.FullVCPUMemoryMB {
				t.Errorf("%s: MemorySize = %v, want stack.%s.MemoryMB, %d MB (128 to %d)", id, p["MemorySize"],
					strings.TrimSuffix(id, "Function"), f.MemoryMB, stack.FullVCPUMemoryMB)
			}
			// A few seconds; a function that forwards to the upstream, as
			// long as API Gateway waits for an integration (29 s) less the
			// cold start's init, which API Gateway counts and the
			// function's timeout does not (4 s kept for it).
			maxTimeout := 10
			if f.ForwardsUpstream() {
				maxTimeout = 29 - 4
			}
			if to, ok := p["Timeout"].(int); !ok || to < 1 || to > maxTimeout {
				t.Errorf("%s: Timeout = %v, want 1 to %d seconds", id, p["Timeout"], maxTimeout)
			}

			// What `sam build` runs for it (a dry run).
			out, err := exec.Command("make", "--no-print-directory", "-C", s.root, "-n", "build-"+id, "ARTIFACTS_DIR=/artifacts").CombinedOutput()
			if err != nil {
				t.Fatalf("make -n build-%s: %v\n%s", id, err, out)
			}
			cmd := string(out)
			for _, want := range []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64", "-tags lambda.norpc", "-trimpath", "-s -w", "-o /artifacts/bootstrap", "./functions/" + f.Dir + "\n"} {
				if !strings.Contains(cmd, want) {
					t.Errorf("make build-%s does not contain %q:\n%s", id, want, cmd)
				}
			}
		})
	}
}

func regexpLower(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return true
}

type route struct{ Method, Path string }

// TestEveryRouteIsRouted: the Api events of the template are exactly the
// routes of httpapi.Routes, each to the function stack.ForRoute names, on
// the one REST API; the authorizer has no event.
func TestEveryRouteIsRouted(t *testing.T) {
	s := loadStack(t)
	want := map[route]string{}
	for _, rt := range httpapi.Routes {
		f, ok := stack.ForRoute(rt.Method, rt.Path)
		if !ok {
			t.Errorf("no function serves %s %s (operation %s)", rt.Method, rt.Path, rt.Op)
			continue
		}
		want[route{rt.Method, rt.Path}] = f.LogicalID()
	}
	got := map[route]string{}
	apis := s.resources("AWS::Serverless::Api")
	if len(apis) != 1 || len(s.resources("AWS::Serverless::HttpApi")) != 0 {
		t.Fatalf("Api resources %v (and HttpApi %v), want one REST API", apis, s.resources("AWS::Serverless::HttpApi"))
	}
	if events := getMap(s.resource(stack.Authorize.LogicalID()), "Properties", "Events"); len(events) != 0 {
		t.Errorf("%s has events %v: the authorizer serves no route", stack.Authorize.LogicalID(), slices.Collect(maps.Keys(events)))
	}
	for _, f := range stack.APIFunctions() {
		id := f.LogicalID()
		for name, ev := range getMap(s.resource(id), "Properties", "Events") {
			if typ := get(ev, "Type"); typ != "Api" {
				t.Errorf("%s event %s: type %v; routes are Api events of the REST API", id, name, typ)
				continue
			}
			if api, _ := ref(get(ev, "Properties", "RestApiId")); api != apis[0] {
				t.Errorf("%s event %s: RestApiId is not !Ref %s", id, name, apis[0])
			}
			if get(ev, "Properties", "Auth") != nil {
				t.Errorf("%s event %s: the session routes authenticate themselves; no Auth", id, name)
			}
			rt := route{fmt.Sprint(get(ev, "Properties", "Method")), fmt.Sprint(get(ev, "Properties", "Path"))}
			if other, dup := got[rt]; dup {
				t.Errorf("%s %s is routed twice (%s and %s)", rt.Method, rt.Path, other, id)
			}
			got[rt] = id
		}
	}
	for rt, id := range want {
		if got[rt] != id {
			t.Errorf("%s %s is served by %s but routed to %q", rt.Method, rt.Path, id, got[rt])
		}
	}
	for rt, id := range got {
		if _, ok := want[rt]; !ok {
			t.Errorf("%s routes %s %s, which no handler serves (httpapi.Routes)", id, rt.Method, rt.Path)
		}
	}
}

// TestEveryVariableTheCodeReadsIsSet: every function gets every variable of
// config.Vars, the tables by reference, the rest from parameters whose
// defaults the configuration accepts; and no endpoint override.
func TestEveryVariableTheCodeReadsIsSet(t *testing.T) {
	s := loadStack(t)
	params := getMap(s.tpl, "Parameters")
	for _, f := range stack.Functions {
		id := f.LogicalID()
		vars := maps.Clone(getMap(s.functionProps(id), "Environment", "Variables"))
		// The audit forwarder's one variable: where the trail goes.
		group, sets := vars[auditlog.EnvGroup]
		if r, _ := ref(group); sets != f.WritesAudit || f.WritesAudit && r != "AuditLogGroup" {
			t.Errorf("%s: %s = %v; want !Ref AuditLogGroup on the audit forwarder only", id, auditlog.EnvGroup, group)
		}
		delete(vars, auditlog.EnvGroup)
		for _, v := range config.Vars {
			if _, ok := vars[v]; !ok {
				t.Errorf("%s: %s is not set", id, v)
			}
		}
		// The function serving JSON-RPC forwards calls for other services
		// itself: it alone gets the upstream.
		forwards := false
		for _, fn := range stack.Functions {
			forwards = forwards || fn.LogicalID() == id && fn.ForwardsUpstream()
		}
		for _, v := range config.ForwardVars {
			if _, ok := vars[v]; ok != forwards {
				t.Errorf("%s: %s set = %v, want %v (only the function serving %s forwards)", id, v, ok, forwards, httpapi.OpJSONRPC)
			}
		}
		if forwards {
			if r, _ := ref(vars[config.EnvUpstreamURL]); r != "UpstreamUrl" {
				t.Errorf("%s: %s = %v, want !Ref UpstreamUrl", id, config.EnvUpstreamURL, vars[config.EnvUpstreamURL])
			}
		}
		// The functions that log in, and only they, may ask the identity
		// provider: each setting from its parameter.
		for _, v := range config.OIDCVars {
			r, ok := ref(vars[v])
			if _, set := vars[v]; set != f.LogsIn() || set && (!ok || params[r] == nil) {
				t.Errorf("%s: %s = %v; want a !Ref to a parameter on the functions that log in only", id, v, vars[v])
			}
		}
		// The authorizer and the JSON-RPC function sign assertions: they
		// alone get the audience and the cache TTL. They and the functions
		// that log in (which seal sessions) get the key secret.
		signs := f.IsAuthorizer() || f.ForwardsUpstream()
		for _, v := range config.AssertionVars {
			// The epoch too: an emergency rotation replaces the seal's key,
			// and every instance that seals must read it anew.
			want := signs || (v == config.EnvAssertionKeySecret || v == config.EnvAssertionKeyEpoch) && f.ReadsKeySecret()
			if _, ok := vars[v]; ok != want {
				t.Errorf("%s: %s set = %v, want %v (only the functions signing assertions, and for the key secret those sealing sessions)", id, v, ok, want)
			}
		}
		if f.ReadsKeySecret() {
			if r, _ := ref(keySecret(t, vars[config.EnvAssertionKeySecret])); r != "AssertionKeySecret" {
				t.Errorf("%s: %s = %v, want !Ref AssertionKeySecret (its ARN, never a seed)", id, config.EnvAssertionKeySecret, vars[config.EnvAssertionKeySecret])
			}
			delete(vars, config.EnvAssertionKeySecret)
		}
		if signs {
			if got := fmt.Sprint(vars[config.EnvUpstreamAudience]); got != "map[Fn::If:[HasUpstreamAudience map[Ref:UpstreamAudience] map[Ref:UpstreamUrl]]]" {
				t.Errorf("%s: %s = %v, want UpstreamAudience, else UpstreamUrl", id, config.EnvUpstreamAudience, got)
			}
			delete(vars, config.EnvUpstreamAudience)
			// The assertion's iss: the custom domain's URL, else none
			// (the execute-api URL API Gateway names): never a client's Host.
			if got := fmt.Sprint(vars[config.EnvAPIBaseURL]); got != "map[Fn::If:[HasDomain map[Fn::Sub:https://${DomainName}] ]]" {
				t.Errorf("%s: %s = %v, want https://DomainName, else empty", id, config.EnvAPIBaseURL, got)
			}
			delete(vars, config.EnvAPIBaseURL)
		}
		// Several regions: this region's name and its peers, not set in one
		// region (TestSeveralRegionsGiveTheFunctionsTheirRegionAndPeers).
		for _, v := range config.RegionVars {
			if fmt.Sprint(vars[v]) != fmt.Sprint(regionVars[v]) {
				t.Errorf("%s: %s = %v, want %v", id, v, vars[v], regionVars[v])
			}
			delete(vars, v)
		}
		for k := range vars {
			if !slices.Contains(config.Vars, k) && !slices.Contains(config.ForwardVars, k) && !slices.Contains(config.OIDCVars, k) && !slices.Contains(config.AssertionVars, k) {
				t.Errorf("%s: sets %s, which the code does not read (config.Vars)", id, k)
			}
		}
		if _, ok := vars["AWS_ENDPOINT_URL_DYNAMODB"]; ok {
			t.Errorf("%s: sets AWS_ENDPOINT_URL_DYNAMODB: a deployed function talks to DynamoDB itself", id)
		}
		for env, table := range map[string]stack.Table{config.EnvSessionsTable: stack.Sessions, config.EnvUsersTable: stack.Users} {
			if r, _ := ref(tableRef(t, table, vars[env])); r != tableID(table) {
				t.Errorf("%s: %s = %v, want !Ref %s", id, env, vars[env], tableID(table))
			}
		}
		// Every other variable comes from a parameter; with the defaults,
		// the configuration must load.
		defaults := map[string]string{}
		for k, v := range vars {
			if k == config.EnvSessionsTable || k == config.EnvUsersTable {
				defaults[k] = "cis-table"
				continue
			}
			// Not an operator's choice: DynamoDB returns the item with a
			// failed condition, so a deployed function never reads again.
			if k == config.EnvReadOnFailedCondition {
				if v != "false" {
					t.Errorf("%s: %s = %v, want \"false\" on DynamoDB", id, k, v)
				}
				defaults[k] = "false"
				continue
			}
			p, ok := ref(v)
			if !ok || params[p] == nil {
				t.Errorf("%s: %s = %v, want !Ref to a parameter", id, k, v)
				continue
			}
			defaults[k] = fmt.Sprint(get(params, p, "Default"))
			for _, allowed := range strs(get(params, p, "AllowedValues")) {
				if _, err := config.Parse(func(name string) (string, bool) { return allowed, name == k }); err != nil {
					t.Errorf("parameter %s allows %q, which the code refuses: %v", p, allowed, err)
				}
			}
		}
		if _, err := config.Parse(func(k string) (string, bool) { v, ok := defaults[k]; return v, ok }); err != nil {
			t.Errorf("%s: the parameters' defaults are refused by the code: %v", id, err)
		}
	}
}

// TestTablesKeepUserData: the tables have the keys the code uses, on-demand
// billing, TTL on the expiry attribute, point-in-time recovery and
// encryption, and no stack operation deletes them.
func TestTablesKeepUserData(t *testing.T) {
	s := loadStack(t)
	keys := map[stack.Table]string{stack.Sessions: dynamo.SessionsKey, stack.Users: dynamo.UsersKey}
	var want []string
	for table := range keys {
		want = append(want, tableID(table))
	}
	sort.Strings(want)
	if got := s.resources("AWS::DynamoDB::Table"); !slices.Equal(got, want) {
		t.Fatalf("tables %v, want %v", got, want)
	}
	for table, key := range keys {
		id := tableID(table)
		r := s.resource(id)
		for _, policy := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
			if r[policy] != "Retain" {
				t.Errorf("%s: %s = %v, want Retain: it holds user data", id, policy, r[policy])
			}
		}
		p := getMap(r, "Properties")
		if p["BillingMode"] != "PAY_PER_REQUEST" {
			t.Errorf("%s: BillingMode %v, want PAY_PER_REQUEST", id, p["BillingMode"])
		}
		if p["TableName"] != nil {
			t.Errorf("%s: a fixed TableName stops a replacement and a second stack; let CloudFormation name it", id)
		}
		ks, _ := p["KeySchema"].([]any)
		if len(ks) != 1 || get(ks[0], "AttributeName") != key || get(ks[0], "KeyType") != "HASH" {
			t.Errorf("%s: KeySchema %v, want the hash key %s", id, ks, key)
		}
		wantAttrs := []string{key}
		if table == stack.Sessions {
			wantAttrs = append(wantAttrs, dynamo.SessionsByUserKey, dynamo.SessionsBySubjectKey, dynamo.SessionsBySIDKey)
			checkSessionsIndexes(t, id, p)
		} else if p["GlobalSecondaryIndexes"] != nil {
			t.Errorf("%s: an index the code does not use", id)
		}
		ads, _ := p["AttributeDefinitions"].([]any)
		var gotAttrs []string
		for _, ad := range ads {
			if get(ad, "AttributeType") != "S" {
				t.Errorf("%s: attribute %v, want type S", id, ad)
			}
			gotAttrs = append(gotAttrs, fmt.Sprint(get(ad, "AttributeName")))
		}
		if !slices.Equal(gotAttrs, wantAttrs) {
			t.Errorf("%s: AttributeDefinitions %v, want %v", id, gotAttrs, wantAttrs)
		}
		if get(p, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") != true {
			t.Errorf("%s: point-in-time recovery is off", id)
		}
		if get(p, "SSESpecification", "SSEEnabled") != true {
			t.Errorf("%s: SSESpecification.SSEEnabled is not true", id)
		}
		if table == stack.Sessions {
			if get(p, "TimeToLiveSpecification", "AttributeName") != dynamo.AttrExpires || get(p, "TimeToLiveSpecification", "Enabled") != true {
				t.Errorf("%s: TTL %v, want enabled on %s", id, p["TimeToLiveSpecification"], dynamo.AttrExpires)
			}
		}
	}
}

// TestRolesAreLeastPrivilege: each function has a role of its own granting
// exactly its stack.Permissions on the table ARNs, logging to its own log
// group, sending traces (xray:PutTraceSegments and xray:PutTelemetryRecords,
// which X-Ray grants on "*" only) and, for the audit forwarder only, writing
// into the audit log group; nothing else on "*", no "*" in an action, no
// managed policies.
func TestRolesAreLeastPrivilege(t *testing.T) {
	s := loadStack(t)
	for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::User", "AWS::IAM::Group"} {
		if ids := s.resources(typ); len(ids) > 0 {
			t.Errorf("%s resources %v: grant through the functions' roles only", typ, ids)
		}
	}
	tableOf := map[string]stack.Table{}
	for _, table := range []stack.Table{stack.Sessions, stack.Users} {
		tableOf[tableID(table)] = table
	}
	tableOf[tableID(stack.Sessions)+"/index/"+dynamo.SessionsByUser] = stack.SessionsByUser
	tableOf[tableID(stack.Sessions)+"/index/"+dynamo.SessionsBySubject] = stack.SessionsBySubject
	tableOf[tableID(stack.Sessions)+"/index/"+dynamo.SessionsBySID] = stack.SessionsBySID
	roleOwner := map[string]string{}
	for _, f := range stack.Functions {
		id := f.LogicalID()
		t.Run(f.Dir, func(t *testing.T) {
			p := s.functionProps(id)
			if p["Policies"] != nil {
				t.Errorf("%s: SAM Policies beside its own role", id)
			}
			roleID, attr, ok := getAtt(p["Role"])
			if !ok || attr != "Arn" || get(s.resource(roleID), "Type") != "AWS::IAM::Role" {
				t.Fatalf("%s: Role = %v, want !GetAtt <its role>.Arn", id, p["Role"])
			}
			if other, dup := roleOwner[roleID]; dup {
				t.Errorf("%s shares role %s with %s", id, roleID, other)
			}
			roleOwner[roleID] = id
			logGroup, _ := ref(get(p, "LoggingConfig", "LogGroup"))
			if get(s.resource(logGroup), "Type") != "AWS::Logs::LogGroup" {
				t.Errorf("%s: LoggingConfig.LogGroup = %v, want !Ref its own log group", id, get(p, "LoggingConfig", "LogGroup"))
			}

			role := getMap(s.resource(roleID), "Properties")
			if role["ManagedPolicyArns"] != nil {
				t.Errorf("%s: managed policies %v", roleID, role["ManagedPolicyArns"])
			}
			trust := fmt.Sprint(role["AssumeRolePolicyDocument"])
			if !strings.Contains(trust, "lambda.amazonaws.com") || !strings.Contains(trust, "sts:AssumeRole") {
				t.Errorf("%s: trust policy %s, want lambda.amazonaws.com", roleID, trust)
			}
			var got []stack.Permission
			logActions, auditActions, traceActions, failureActions := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
			readsSecret := false // the assertion's key seeds
			policies, _ := role["Policies"].([]any)
			for _, pol := range policies {
				stmts, _ := get(pol, "PolicyDocument", "Statement").([]any)
				for _, st := range stmts {
					// Several regions: the home region's writes, held by
					// TestSeveralRegionsLetTheFunctionsWriteAtASessionsHome.
					if peer, ok := peerStatement(st); ok {
						checkPeerStatement(t, f, roleID, peer)
						continue
					}
					if get(st, "Effect") != "Allow" || get(st, "NotAction") != nil || get(st, "NotResource") != nil {
						t.Errorf("%s: statement %v: want Effect Allow with Action and Resource", roleID, st)
					}
					actions := strs(get(st, "Action"))
					resources := get(st, "Resource")
					resList, isList := resources.([]any)
					if !isList {
						resList = []any{resources}
					}
					for _, a := range actions {
						if strings.Contains(a, "*") {
							t.Errorf("%s: action %q", roleID, a)
						}
					}
					for _, r := range resList {
						if r == "*" {
							for _, a := range actions {
								if !slices.Contains(tracingActions, a) {
									t.Errorf("%s: %s on \"*\": only %v may be granted on \"*\"", roleID, a, tracingActions)
								}
								traceActions[a] = true
							}
							continue
						}
						if c := strs(get(r, "Fn::If")); len(c) == 3 && c[0] == "JoinsGlobalTables" {
							r = keySecret(t, r)
						}
						if sec, isRef := ref(r); isRef && sec == "AssertionKeySecret" {
							if !slices.Equal(actions, []string{"secretsmanager:GetSecretValue"}) || !f.ReadsKeySecret() {
								t.Errorf("%s: %v on the assertion key secret: want secretsmanager:GetSecretValue, for the functions that sign or seal only", roleID, actions)
							}
							readsSecret = true
							continue
						}
						r = tableArn(t, r)
						res, rattr, ok := getAtt(r)
						if idx, isIndex := indexArn(r); isIndex {
							res, rattr, ok = idx, "Arn", true
						}
						if !ok || rattr != "Arn" {
							t.Errorf("%s: resource %v: want !GetAtt <resource>.Arn, never \"*\" or a pattern", roleID, r)
							continue
						}
						switch {
						case res == logGroup:
							for _, a := range actions {
								if a != "logs:CreateLogStream" && a != "logs:PutLogEvents" {
									t.Errorf("%s: %s on its log group: want only logs:CreateLogStream and logs:PutLogEvents", roleID, a)
								}
								logActions[a] = true
							}
						case res == "AuditLogGroup" && f.WritesAudit:
							for _, a := range actions {
								if a != "logs:CreateLogStream" && a != "logs:PutLogEvents" {
									t.Errorf("%s: %s on the audit log group: want only logs:CreateLogStream and logs:PutLogEvents", roleID, a)
								}
								auditActions[a] = true
							}
						case res == "AuditFailureQueue" && f.WritesAudit:
							for _, a := range actions {
								if a != "sqs:SendMessage" {
									t.Errorf("%s: %s on the audit failure queue: want only sqs:SendMessage", roleID, a)
								}
								failureActions[a] = true
							}
						case tableOf[res] != "":
							for _, a := range actions {
								got = append(got, stack.Permission{Table: tableOf[res], Action: a})
							}
						default:
							t.Errorf("%s: grants %v on %s, which is neither a table nor its log group", roleID, actions, res)
						}
					}
				}
			}
			if !logActions["logs:CreateLogStream"] || !logActions["logs:PutLogEvents"] {
				t.Errorf("%s: cannot write its logs to %s", roleID, logGroup)
			}
			if want := f.ReadsKeySecret(); readsSecret != want {
				t.Errorf("%s: reads the assertion key secret: %v, want %v (the functions that sign assertions or seal sessions)", roleID, readsSecret, want)
			}
			if len(traceActions) != len(tracingActions) {
				t.Errorf("%s: traces need %v on \"*\", it grants %v", roleID, tracingActions, slices.Sorted(maps.Keys(traceActions)))
			}
			if f.WritesAudit != (auditActions["logs:CreateLogStream"] && auditActions["logs:PutLogEvents"]) {
				t.Errorf("%s: may write the audit log group: %v; want that for the audit forwarder only", roleID, auditActions)
			}
			if f.WritesAudit != failureActions["sqs:SendMessage"] {
				t.Errorf("%s: may send to the audit failure queue: %v; want that for the audit forwarder only (Lambda sends its failed deliveries with its role)", roleID, failureActions)
			}
			slices.SortFunc(got, stack.ComparePermissions)
			got = slices.Compact(got)
			if want := f.Permissions(); !slices.Equal(got, want) {
				t.Errorf("%s grants %v on the tables; function %s needs exactly %v (stack.OpPermissions)", roleID, got, f.Dir, want)
			}
		})
	}
}

// tracingActions are what Tracing: Active needs of a function's role: X-Ray
// takes segments and telemetry, and grants them on "*" only (SAM adds them
// as AWSXRayDaemonWriteAccess only to a role it makes itself).
var tracingActions = []string{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}

// TestLogsParametersAndOutputs: every log group but the audit trail's is
// kept LogRetentionInDays,
// the parameters the issue names exist, and the outputs name the API and the
// tables.
func TestLogsParametersAndOutputs(t *testing.T) {
	s := loadStack(t)
	for _, p := range []string{"SessionIdleTimeout", "SessionMaxLifetime", "DefaultDomain", "LogLevel", "LogRetentionInDays"} {
		if get(s.tpl, "Parameters", p) == nil {
			t.Errorf("no parameter %s", p)
		}
	}
	groups := s.resources("AWS::Logs::LogGroup")
	if len(groups) < len(stack.Functions) {
		t.Errorf("log groups %v: want one per function at least", groups)
	}
	for _, id := range groups {
		if id == "AuditLogGroup" {
			continue // TestTheAuditTrailIsKept
		}
		if r, _ := ref(get(s.resource(id), "Properties", "RetentionInDays")); r != "LogRetentionInDays" {
			t.Errorf("%s: RetentionInDays is not !Ref LogRetentionInDays", id)
		}
	}
	if get(s.tpl, "Outputs", "ApiUrl", "Value") == nil {
		t.Error("no output ApiUrl")
	}
	for out, table := range map[string]stack.Table{"SessionsTableName": stack.Sessions, "UsersTableName": stack.Users} {
		if r, _ := ref(tableRef(t, table, get(s.tpl, "Outputs", out, "Value"))); r != tableID(table) {
			t.Errorf("output %s is not !Ref %s", out, tableID(table))
		}
	}
}

// indexArn reads `!Sub ${<Table>.Arn}/index/<name>`, the one form a grant on
// an index may take, as "<Table>/index/<name>".
func indexArn(v any) (string, bool) {
	sub, ok := get(v, "Fn::Sub").(string)
	if !ok {
		return "", false
	}
	m := indexArnRE.FindStringSubmatch(sub)
	if m == nil {
		return "", false
	}
	return m[1] + "/index/" + m[2], true
}

var indexArnRE = regexp.MustCompile(`^\$\{([A-Za-z0-9]+)\.Arn\}/index/([A-Za-z0-9_.-]+)$`)

// checkSessionsIndexes holds the sessions table's indexes to those
// dynamo.CreateTables makes: the log-in's session count queries the one by
// user, a back-channel logout the one by subject, or by sid alone.
func checkSessionsIndexes(t *testing.T, id string, p map[string]any) {
	t.Helper()
	want := []struct {
		name, key string
		include   []string
	}{
		{dynamo.SessionsByUser, dynamo.SessionsByUserKey, dynamo.SessionsByUserProjection()},
		{dynamo.SessionsBySubject, dynamo.SessionsBySubjectKey, dynamo.SessionsBySubjectProjection()},
		{dynamo.SessionsBySID, dynamo.SessionsBySIDKey, dynamo.SessionsBySIDProjection()},
	}
	gsis, _ := p["GlobalSecondaryIndexes"].([]any)
	if len(gsis) != len(want) {
		t.Errorf("%s: GlobalSecondaryIndexes %v, want exactly %v", id, gsis, want)
		return
	}
	for i, w := range want {
		g := gsis[i]
		if get(g, "IndexName") != w.name {
			t.Errorf("%s: index %d is %v, want %s", id, i, get(g, "IndexName"), w.name)
		}
		ks, _ := get(g, "KeySchema").([]any)
		if len(ks) != 1 || get(ks[0], "AttributeName") != w.key || get(ks[0], "KeyType") != "HASH" {
			t.Errorf("%s: index %s key %v, want the hash key %s", id, w.name, ks, w.key)
		}
		if get(g, "Projection", "ProjectionType") != "INCLUDE" || !slices.Equal(strs(get(g, "Projection", "NonKeyAttributes")), w.include) {
			t.Errorf("%s: index %s projection %v, want INCLUDE %v", id, w.name, get(g, "Projection"), w.include)
		}
	}
}
