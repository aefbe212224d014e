package stack_test

import (
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/stack"
)

// Several regions (docs/REGIONS.md, Deploying several regions): every
// reference to a table is !If [RegionalTables, <the stack's own table>,
// <the global table named in GlobalTableNames>], and to the key secret
// !If [JoinsGlobalTables, !Ref AssertionKeySecretArn, !Ref AssertionKeySecret].
// The helpers below check the second form and hand the first to the
// one-region tests; the tests here check the translated template with
// the parameters of each kind of stack.

// globalName is how the template names table's global table.
func globalName(table stack.Table) string {
	i := 0
	if table == stack.Users {
		i = 1
	}
	return fmt.Sprintf(`map[Fn::Select:[%d map[Fn::Split:[, map[Ref:GlobalTableNames]]]]]`, i)
}

// oneRegion returns the one-region branch of an !If [RegionalTables, ...].
func oneRegion(v any) any {
	if c := strs(get(v, "Fn::If")); len(c) == 3 && c[0] == "RegionalTables" {
		return get(v, "Fn::If").([]any)[1]
	}
	return v
}

// tableRef checks a table's name: !Ref <Table> in one region, its global
// table's name in several; it returns the first.
func tableRef(t *testing.T, table stack.Table, v any) any {
	t.Helper()
	c, _ := get(v, "Fn::If").([]any)
	if len(c) != 3 || c[0] != "RegionalTables" || fmt.Sprint(c[2]) != globalName(table) {
		t.Errorf("%s's name: %v, want !If [RegionalTables, !Ref %s, <its name in GlobalTableNames>]", table, v, tableID(table))
		return v
	}
	return c[1]
}

// tableArn checks a table or index ARN granted: in several regions, the
// ARN of the global table's replica in this region (the same table or
// index as in one region); it returns the one-region form.
func tableArn(t *testing.T, v any) any {
	t.Helper()
	c, _ := get(v, "Fn::If").([]any)
	if len(c) != 3 || c[0] != "RegionalTables" {
		return v
	}
	one, several := c[1], c[2]
	table, suffix := "", ""
	if res, attr, ok := getAtt(one); ok && attr == "Arn" {
		table = res
	} else if idx, ok := indexArn(one); ok {
		table, suffix, _ = strings.Cut(idx, "/")
		suffix = "/" + suffix
	}
	sub, _ := get(several, "Fn::Sub").([]any)
	want := "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${Name}" + suffix
	if table == "" || len(sub) != 2 || sub[0] != want || fmt.Sprint(get(sub[1], "Name")) != globalName(stack.Table(strings.ToLower(strings.TrimSuffix(table, "Table")))) {
		t.Errorf("ARN %v: want the same table or index of the global table in this region (%s)", v, want)
	}
	return one
}

// keySecret checks the key secret's ARN: the member's replica, else the
// stack's own; it returns the second.
func keySecret(t *testing.T, v any) any {
	t.Helper()
	c, _ := get(v, "Fn::If").([]any)
	if len(c) != 3 || c[0] != "JoinsGlobalTables" || fmt.Sprint(c[1]) != "map[Ref:AssertionKeySecretArn]" {
		t.Errorf("key secret %v, want !If [JoinsGlobalTables, !Ref AssertionKeySecretArn, !Ref AssertionKeySecret]", v)
		return v
	}
	return c[2]
}

// peerStatement returns the statement of an !If [MultiRegion, <statement>,
// !Ref AWS::NoValue]: the writes at a session's home region.
func peerStatement(st any) (any, bool) {
	c, _ := get(st, "Fn::If").([]any)
	if len(c) != 3 || c[0] != "MultiRegion" || fmt.Sprint(c[2]) != "map[Ref:AWS::NoValue]" {
		return nil, false
	}
	return c[1], true
}

// checkPeerStatement: a grant at the home region is an Allow of some of
// f's HomePermissions on the sessions global table's name in any region,
// limited to the peer regions; nothing else may hide behind MultiRegion.
func checkPeerStatement(t *testing.T, f stack.Function, roleID string, st any) {
	t.Helper()
	sub, _ := get(st, "Resource", "Fn::Sub").([]any)
	if len(sub) != 2 || sub[0] != "arn:${AWS::Partition}:dynamodb:*:${AWS::AccountId}:table/${Name}" || fmt.Sprint(get(sub[1], "Name")) != globalName(stack.Sessions) {
		t.Errorf("%s: a grant at the home region on %v, want the sessions global table's name in the peer regions", roleID, get(st, "Resource"))
	}
	if fmt.Sprint(get(st, "Condition", "StringEquals", "aws:RequestedRegion")) != `map[Fn::Split:[, map[Ref:PeerRegions]]]` {
		t.Errorf("%s: a grant at the home region limited by %v, want aws:RequestedRegion in PeerRegions", roleID, get(st, "Condition"))
	}
	if get(st, "Effect") != "Allow" || get(st, "NotAction") != nil || get(st, "NotResource") != nil {
		t.Errorf("%s: %v, want Effect Allow with Action and Resource", roleID, st)
	}
	for _, a := range strs(get(st, "Action")) {
		if !slices.Contains(f.HomePermissions(), stack.Permission{Table: stack.Sessions, Action: a}) {
			t.Errorf("%s: %s at the home region, which %s does not make there (stack.OpHomePermissions)", roleID, a, f.Dir)
		}
	}
}

// regionVars is what the functions get: this region's name and its peers
// with several regions; nothing with one.
var regionVars = map[string]any{
	config.EnvRegionName:  map[string]any{"Fn::If": []any{"MultiRegion", map[string]any{"Ref": "AWS::Region"}, map[string]any{"Ref": "AWS::NoValue"}}},
	config.EnvPeerRegions: map[string]any{"Fn::If": []any{"MultiRegion", map[string]any{"Ref": "PeerRegions"}, map[string]any{"Ref": "AWS::NoValue"}}},
}

var replicationAlarms = []string{"ReplicationLatencyAlarm1", "ReplicationLatencyAlarm2", "ReplicationLatencyAlarm3"}

// checkReplicationAlarm: the larger ReplicationLatency (Maximum) of the two
// tables towards one peer, over ReplicationLatencyThreshold.
func checkReplicationAlarm(t *testing.T, p map[string]any) {
	ms, _ := p["Metrics"].([]any)
	var tables []string
	var receiving []string
	for _, m := range ms {
		if e := get(m, "Expression"); e != nil {
			if e != "MAX([sessions, users])" || get(m, "ReturnData") != true {
				t.Errorf("expression %v, want MAX([sessions, users]) returned", m)
			}
			continue
		}
		mm := getMap(m, "MetricStat", "Metric")
		if mm["Namespace"] != "AWS/DynamoDB" || mm["MetricName"] != "ReplicationLatency" || get(m, "MetricStat", "Stat") != "Maximum" {
			t.Errorf("metric %v, want AWS/DynamoDB ReplicationLatency, Maximum", m)
		}
		for _, d := range mm["Dimensions"].([]any) {
			switch get(d, "Name") {
			case "TableName":
				tables = append(tables, fmt.Sprint(get(d, "Value")))
			case "ReceivingRegion":
				receiving = append(receiving, fmt.Sprint(get(d, "Value")))
			}
		}
	}
	if !slices.Equal(tables, []string{globalName(stack.Sessions), globalName(stack.Users)}) || len(receiving) != 2 || receiving[0] != receiving[1] {
		t.Errorf("tables %v towards %v: want both global tables towards one peer", tables, receiving)
	}
	if r, _ := ref(p["Threshold"]); r != "ReplicationLatencyThreshold" || p["ComparisonOperator"] != "GreaterThanThreshold" {
		t.Errorf("Threshold %v %v, want GreaterThanThreshold !Ref ReplicationLatencyThreshold", p["ComparisonOperator"], p["Threshold"])
	}
}

// ---- the translated template, its conditions and intrinsics resolved as
// CloudFormation would with the given parameters in us-east-1 (enough of
// them for this template: Ref, Fn::If, Equals, Not, And, Or, Condition,
// Select, Split, Sub; a GetAtt or a Ref to a resource is left as is).

type resolver struct {
	params map[string]string
	conds  map[string]any
	memo   map[string]bool
}

const region, account = "us-east-1", "123456789012"

var noValue = &struct{}{}

func deployedIn(t *testing.T, params ...string) map[string]any {
	t.Helper()
	res, _ := deployedWithOutputs(t, params...)
	return res
}

// deployedWithOutputs is deployedIn, and the outputs.
func deployedWithOutputs(t *testing.T, params ...string) (resources, outputs map[string]any) {
	t.Helper()
	tpl := translatedWith(t, append(params, "DeployDigest="+strings.Repeat("0", 64)))
	r := &resolver{params: map[string]string{}, conds: getMap(tpl, "Conditions"), memo: map[string]bool{}}
	for name := range getMap(tpl, "Parameters") {
		r.params[name] = fmt.Sprint(get(tpl, "Parameters", name, "Default"))
	}
	for _, p := range params {
		k, v, _ := strings.Cut(p, "=")
		r.params[k] = v
	}
	resources, outputs = map[string]any{}, map[string]any{}
	for in, out := range map[string]map[string]any{"Resources": resources, "Outputs": outputs} {
		for id, v := range getMap(tpl, in) {
			if c, ok := get(v, "Condition").(string); ok && !r.cond(c) {
				continue
			}
			out[id] = r.resolve(v)
		}
	}
	return resources, outputs
}

func (r *resolver) cond(name string) bool {
	if v, ok := r.memo[name]; ok {
		return v
	}
	v := r.boolean(r.conds[name])
	r.memo[name] = v
	return v
}

func (r *resolver) boolean(v any) bool {
	m, _ := v.(map[string]any)
	for k, a := range m {
		args, _ := a.([]any)
		switch k {
		case "Condition":
			return r.cond(a.(string))
		case "Fn::Equals":
			return fmt.Sprint(r.resolve(args[0])) == fmt.Sprint(r.resolve(args[1]))
		case "Fn::Not":
			return !r.boolean(args[0])
		case "Fn::And", "Fn::Or":
			all, any_ := true, false
			for _, x := range args {
				b := r.boolean(x)
				all, any_ = all && b, any_ || b
			}
			return k == "Fn::And" && all || k == "Fn::Or" && any_
		}
	}
	panic(fmt.Sprintf("condition %v", v))
}

var subVar = regexp.MustCompile(`\$\{([A-Za-z0-9:]+)\}`)

func (r *resolver) pseudo(name string) (string, bool) {
	switch name {
	case "AWS::Region":
		return region, true
	case "AWS::AccountId":
		return account, true
	case "AWS::Partition":
		return "aws", true
	}
	v, ok := r.params[name]
	return v, ok
}

func (r *resolver) resolve(v any) any {
	switch v := v.(type) {
	case []any:
		var out []any
		for _, x := range v {
			if x := r.resolve(x); x != noValue {
				out = append(out, x)
			}
		}
		return out
	case map[string]any:
		if len(v) == 1 {
			for k, a := range v {
				args, _ := a.([]any)
				switch k {
				case "Ref":
					if a == "AWS::NoValue" {
						return noValue
					}
					if p, ok := r.pseudo(a.(string)); ok {
						return p
					}
				case "Fn::If":
					if r.cond(args[0].(string)) {
						return r.resolve(args[1])
					}
					return r.resolve(args[2])
				case "Fn::Split":
					s, ok := r.resolve(args[1]).(string)
					if ok {
						var out []any
						for _, p := range strings.Split(s, args[0].(string)) {
							out = append(out, p)
						}
						return out
					}
				case "Fn::Select":
					list, ok := r.resolve(args[1]).([]any)
					i, _ := strconv.Atoi(fmt.Sprint(args[0]))
					if ok && i < len(list) {
						return list[i]
					}
				case "Fn::Sub":
					str, vars := a, map[string]any{}
					if len(args) == 2 {
						str, vars = args[0], r.resolve(args[1]).(map[string]any)
					}
					if s, ok := str.(string); ok {
						return subVar.ReplaceAllStringFunc(s, func(m string) string {
							name := m[2 : len(m)-1]
							if x, ok := vars[name].(string); ok {
								return x
							}
							if p, ok := r.pseudo(name); ok {
								return p
							}
							return m
						})
					}
				}
			}
		}
		out := map[string]any{}
		for k, x := range v {
			if x := r.resolve(x); x != noValue {
				out[k] = x
			}
		}
		return out
	}
	return v
}

func ofType(res map[string]any, typ string) []string {
	var ids []string
	for id, r := range res {
		if get(r, "Type") == typ {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// The parameters of each kind of stack: the owner of the global tables in
// us-east-1 with two peers, and a member in us-west-2's place.
var (
	ownerParams  = []string{"GlobalTableNames=cis-sessions,cis-users", "PeerRegions=us-west-2,eu-west-1"}
	memberParams = []string{"GlobalTableNames=cis-sessions,cis-users", "PeerRegions=us-west-2,eu-west-1",
		"AssertionKeySecretArn=arn:aws:secretsmanager:us-east-1:123456789012:secret:cis-keys-AbCdEf"}
)

// TestByDefaultTheStackIsOneRegion: with the defaults, the translated
// template is today's: the stack's own tables and secret, no global
// table, no replica, no region variables, no grant in another region, no
// replication alarm, no health check.
func TestByDefaultTheStackIsOneRegion(t *testing.T) {
	res := deployedIn(t)
	if got := ofType(res, "AWS::DynamoDB::Table"); !slices.Equal(got, []string{"SessionsTable", "UsersTable"}) {
		t.Errorf("tables %v, want the stack's own two", got)
	}
	for _, typ := range []string{"AWS::DynamoDB::GlobalTable", "AWS::Route53::HealthCheck"} {
		if got := ofType(res, typ); len(got) > 0 {
			t.Errorf("%s %v in one region", typ, got)
		}
	}
	for _, id := range replicationAlarms {
		if res[id] != nil {
			t.Errorf("%s in one region", id)
		}
	}
	if get(res, "AssertionKeySecret", "Properties", "ReplicaRegions") != nil || res["AssertionKeySecret"] == nil {
		t.Errorf("AssertionKeySecret %v, want the stack's own, not replicated", res["AssertionKeySecret"])
	}
	for _, id := range ofType(res, "AWS::Lambda::Function") {
		vars := getMap(res[id], "Properties", "Environment", "Variables")
		for _, v := range config.RegionVars {
			if _, set := vars[v]; set {
				t.Errorf("%s: %s set in one region", id, v)
			}
		}
		if fmt.Sprint(vars[config.EnvSessionsTable]) != "map[Ref:SessionsTable]" || fmt.Sprint(vars[config.EnvUsersTable]) != "map[Ref:UsersTable]" {
			t.Errorf("%s: tables %v %v, want the stack's own", id, vars[config.EnvSessionsTable], vars[config.EnvUsersTable])
		}
		if secret, set := vars[config.EnvAssertionKeySecret]; set && fmt.Sprint(secret) != "map[Ref:AssertionKeySecret]" {
			t.Errorf("%s: key secret %v, want the stack's own", id, secret)
		}
	}
	for _, id := range ofType(res, "AWS::IAM::Role") {
		if s := fmt.Sprint(res[id]); strings.Contains(s, "dynamodb:*") || strings.Contains(s, "aws:RequestedRegion") {
			t.Errorf("%s grants in another region: %s", id, s)
		}
	}
}

// TestTheOwnerRegionHoldsTheGlobalTablesAndReplicatesTheSecret: with
// GlobalTableNames and PeerRegions, the stack makes no table of its own:
// the sessions and users tables are global tables of those names, kept on
// deletion and replacement, with streams of new and old images (global
// tables need them), TTL, the index, a replica in this region and each
// peer, each recoverable and protected; the key secret has a replica in
// each peer region; the functions use the global tables.
func TestTheOwnerRegionHoldsTheGlobalTablesAndReplicatesTheSecret(t *testing.T) {
	res := deployedIn(t, ownerParams...)
	if got := ofType(res, "AWS::DynamoDB::Table"); len(got) > 0 {
		t.Errorf("regional tables %v beside the global ones", got)
	}
	if got := ofType(res, "AWS::DynamoDB::GlobalTable"); !slices.Equal(got, []string{"SessionsGlobalTable", "UsersGlobalTable"}) {
		t.Fatalf("global tables %v", got)
	}
	for id, name := range map[string]string{"SessionsGlobalTable": "cis-sessions", "UsersGlobalTable": "cis-users"} {
		r := res[id].(map[string]any)
		for _, policy := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
			if r[policy] != "Retain" {
				t.Errorf("%s: %s %v, want Retain", id, policy, r[policy])
			}
		}
		p := getMap(r, "Properties")
		if p["TableName"] != name || p["BillingMode"] != "PAY_PER_REQUEST" || get(p, "StreamSpecification", "StreamViewType") != "NEW_AND_OLD_IMAGES" ||
			get(p, "SSESpecification", "SSEEnabled") != true {
			t.Errorf("%s: %v, want %s, on demand, NEW_AND_OLD_IMAGES streams, encrypted", id, p, name)
		}
		// The keys and the index of the regional table it replaces (and
		// imports): the same item shapes in every region.
		regional := getMap(loadStack(t).resource(strings.Replace(id, "Global", "", 1)), "Properties")
		for _, k := range []string{"KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes", "TimeToLiveSpecification"} {
			if fmt.Sprint(p[k]) != fmt.Sprint(regional[k]) {
				t.Errorf("%s: %s %v, want the regional table's %v", id, k, p[k], regional[k])
			}
		}
		var regions []string
		for _, rep := range p["Replicas"].([]any) {
			regions = append(regions, fmt.Sprint(get(rep, "Region")))
			if get(rep, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") != true || get(rep, "DeletionProtectionEnabled") != true {
				t.Errorf("%s: replica %v, want point-in-time recovery and deletion protection", id, rep)
			}
		}
		if !slices.Equal(regions, []string{region, "us-west-2", "eu-west-1"}) {
			t.Errorf("%s: replicas in %v, want this region and each peer", id, regions)
		}
	}
	if got := fmt.Sprint(get(res, "AssertionKeySecret", "Properties", "ReplicaRegions")); got != "[map[Region:us-west-2] map[Region:eu-west-1]]" {
		t.Errorf("AssertionKeySecret: ReplicaRegions %s, want each peer", got)
	}
	checkRegionFunctions(t, res, "map[Ref:AssertionKeySecret]")
}

// TestAMemberRegionUsesTheOwnersTablesAndTheSecretsReplica: with
// AssertionKeySecretArn too, the stack makes neither tables nor a secret:
// its functions use the global tables' replicas and the secret's here.
func TestAMemberRegionUsesTheOwnersTablesAndTheSecretsReplica(t *testing.T) {
	res := deployedIn(t, memberParams...)
	for _, typ := range []string{"AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable", "AWS::SecretsManager::Secret"} {
		if got := ofType(res, typ); len(got) > 0 {
			t.Errorf("%s %v in a member region", typ, got)
		}
	}
	checkRegionFunctions(t, res, "arn:aws:secretsmanager:us-east-1:123456789012:secret:cis-keys-AbCdEf")
}

// checkRegionFunctions: every function knows its region and peers and uses
// the global tables by name; those that read the key secret read secret.
func checkRegionFunctions(t *testing.T, res map[string]any, secret string) {
	t.Helper()
	for _, f := range stack.Functions {
		vars := getMap(res[f.LogicalID()], "Properties", "Environment", "Variables")
		if vars == nil {
			t.Fatalf("%s: no environment", f.LogicalID())
		}
		if vars[config.EnvRegionName] != region || vars[config.EnvPeerRegions] != "us-west-2,eu-west-1" {
			t.Errorf("%s: %s=%v %s=%v, want %s and the peers", f.LogicalID(), config.EnvRegionName, vars[config.EnvRegionName], config.EnvPeerRegions, vars[config.EnvPeerRegions], region)
		}
		// The code reads them as the deployed form: bare region names.
		c, err := config.Parse(func(k string) (string, bool) { v, ok := vars[k].(string); return v, ok })
		if err != nil {
			t.Errorf("%s: the configuration is refused: %v", f.LogicalID(), err)
		} else if want := map[string]string{"us-west-2": "", "eu-west-1": ""}; !maps.Equal(c.Peers(), want) {
			t.Errorf("%s: peers %v, want %v (each at its region's DynamoDB endpoint)", f.LogicalID(), c.Peers(), want)
		}
		if vars[config.EnvSessionsTable] != "cis-sessions" || vars[config.EnvUsersTable] != "cis-users" {
			t.Errorf("%s: tables %v %v, want the global tables", f.LogicalID(), vars[config.EnvSessionsTable], vars[config.EnvUsersTable])
		}
		if f.ReadsKeySecret() && fmt.Sprint(vars[config.EnvAssertionKeySecret]) != secret {
			t.Errorf("%s: key secret %v, want %s", f.LogicalID(), vars[config.EnvAssertionKeySecret], secret)
		}
	}
	for _, id := range replicationAlarms[:2] {
		if res[id] == nil {
			t.Errorf("no %s (one per peer)", id)
		}
	}
	if res[replicationAlarms[2]] != nil {
		t.Errorf("%s with two peers", replicationAlarms[2])
	}
}

// TestSeveralRegionsLetTheFunctionsWriteAtASessionsHome: a function that
// touches or ends sessions may do the same at a session's home region, the
// global table's replica there: the same actions on the same table name in
// the peer regions only (aws:RequestedRegion), the touch limited to the
// touch's attributes as here. This is the one grant not on a !GetAtt of
// this stack: the peers' replicas are no resource of it, and a list of
// ARNs cannot be built from PeerRegions without a macro. Functions that do
// neither get nothing there.
func TestSeveralRegionsLetTheFunctionsWriteAtASessionsHome(t *testing.T) {
	res := deployedIn(t, ownerParams...)
	arn := "arn:aws:dynamodb:*:" + account + ":table/cis-sessions"
	for _, f := range stack.Functions {
		t.Run(f.Dir, func(t *testing.T) {
			var want []string
			for _, p := range f.HomePermissions() {
				want = append(want, p.Action)
			}
			var got []string
			role, _, _ := getAtt(get(res[f.LogicalID()], "Properties", "Role"))
			for _, pol := range get(res, role, "Properties", "Policies").([]any) {
				for _, st := range get(pol, "PolicyDocument", "Statement").([]any) {
					if fmt.Sprint(get(st, "Resource")) != arn {
						if strings.Contains(fmt.Sprint(get(st, "Resource")), "dynamodb:*") {
							t.Errorf("grant %v in any region", st)
						}
						continue
					}
					if fmt.Sprint(get(st, "Condition", "StringEquals", "aws:RequestedRegion")) != "[us-west-2 eu-west-1]" {
						t.Errorf("%v: want it limited to the peer regions", st)
					}
					if limited := get(st, "Condition", "ForAllValues:StringEquals", "dynamodb:Attributes"); servesOnlyTouch(f) != (limited != nil) {
						t.Errorf("%v: the touch's attributes limit it: %v, want %v (as its grant here)", st, limited != nil, servesOnlyTouch(f))
					}
					got = append(got, strs(get(st, "Action"))...)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("at the home region: %v, want %v", got, want)
			}
		})
	}
}

// servesOnlyTouch: its role may touch sessions and nothing else (get, the
// authorizer), so its grants name the touch's attributes.
func servesOnlyTouch(f stack.Function) bool {
	return !f.LogsIn() && !f.Allows(stack.Sessions, "dynamodb:DeleteItem") && f.Allows(stack.Sessions, "dynamodb:UpdateItem")
}

// TestSeveralRegionsRouteByLatencyOrFailoverWithHealthChecks: with a
// domain and a zone, DomainRouting latency gives each region a latency
// record and failover a PRIMARY or SECONDARY one, each answered while the
// region's health check passes: its API answers the keys over HTTPS and
// its Api5xxAlarm is not firing; simple keeps today's one record.
func TestSeveralRegionsRouteByLatencyOrFailoverWithHealthChecks(t *testing.T) {
	domain := []string{"DomainName=api.example.com", "CertificateArn=arn:aws:acm:us-east-1:123456789012:certificate/abc", "HostedZoneId=Z123"}
	for _, tc := range []struct{ routing, region, failover string }{
		{"latency", region, ""}, {"failover-primary", "", "PRIMARY"}, {"failover-secondary", "", "SECONDARY"},
	} {
		t.Run(tc.routing, func(t *testing.T) {
			res := deployedIn(t, slices.Concat(ownerParams, domain, []string{"DomainRouting=" + tc.routing})...)
			if res["ApiDomainRecord"] != nil {
				t.Error("the simple record beside the region's")
			}
			rec := getMap(res["ApiDomainRegionRecord"], "Properties")
			if rec == nil {
				t.Fatal("no ApiDomainRegionRecord")
			}
			if fmt.Sprint(rec["Region"]) != fmt.Sprint(nilIfEmpty(tc.region)) || fmt.Sprint(rec["Failover"]) != fmt.Sprint(nilIfEmpty(tc.failover)) ||
				rec["SetIdentifier"] != region || fmt.Sprint(rec["HealthCheckId"]) != "map[Ref:RegionHealthCheck]" {
				t.Errorf("record %v: want Region %q Failover %q, this region's identifier and health check", rec, tc.region, tc.failover)
			}
			calc := getMap(res["RegionHealthCheck"], "Properties", "HealthCheckConfig")
			if calc["Type"] != "CALCULATED" || fmt.Sprint(calc["HealthThreshold"]) != "2" ||
				fmt.Sprint(calc["ChildHealthChecks"]) != "[map[Ref:ApiHealthCheck] map[Ref:ApiErrorsHealthCheck]]" {
				t.Errorf("RegionHealthCheck %v: want both children healthy", calc)
			}
			api := getMap(res["ApiHealthCheck"], "Properties", "HealthCheckConfig")
			if api["Type"] != "HTTPS" || api["ResourcePath"] != "/v1/.well-known/jwks.json" || api["EnableSNI"] != true {
				t.Errorf("ApiHealthCheck %v: want HTTPS on the stage's keys", api)
			}
			if fmt.Sprint(get(res, "ApiErrorsHealthCheck", "Properties", "HealthCheckConfig", "AlarmIdentifier")) != "map[Name:map[Ref:Api5xxAlarm] Region:"+region+"]" {
				t.Errorf("ApiErrorsHealthCheck %v: want Api5xxAlarm", res["ApiErrorsHealthCheck"])
			}
		})
	}
	res := deployedIn(t, slices.Concat(ownerParams, domain)...)
	if res["ApiDomainRecord"] == nil || res["ApiDomainRegionRecord"] != nil || len(ofType(res, "AWS::Route53::HealthCheck")) > 0 {
		t.Error("DomainRouting simple: want today's one record, no health check")
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// TestAStackMadeBeforeBecomesTheOwnerByImportingItsTables holds the walk
// of docs/REGIONS.md ("A stack deployed before"), AWS's way of making a
// table global under CloudFormation (retain it, remove it from the stack,
// add replicas, import it as an AWS::DynamoDB::GlobalTable):
//   - today's tables are retained on deletion and replacement, so the
//     update that drops them from the stack keeps them and their data;
//   - that update (GlobalTableNames naming them, HoldsGlobalTables false)
//     holds no table, points every function at them by name, keeps the key
//     secret (the same resource, replicated to the peers);
//   - the import (HoldsGlobalTables true, the same DeployDigest) adds the
//     two global tables, retained, named as the tables are, and changes
//     nothing else: CloudFormation allows an import no other change.
func TestAStackMadeBeforeBecomesTheOwnerByImportingItsTables(t *testing.T) {
	before := deployedIn(t)
	for _, id := range []string{"SessionsTable", "UsersTable"} {
		r := getMap(before, id)
		if r["DeletionPolicy"] != "Retain" || r["UpdateReplacePolicy"] != "Retain" {
			t.Errorf("%s: %v %v, want both policies Retain: the update that drops it must keep it", id, r["DeletionPolicy"], r["UpdateReplacePolicy"])
		}
	}
	names := []string{"GlobalTableNames=app-SessionsTable-1A,app-UsersTable-2B", "PeerRegions=us-west-2"}
	handOver, handOverOut := deployedWithOutputs(t, append(names, "HoldsGlobalTables=false")...)
	for _, typ := range []string{"AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable"} {
		if got := ofType(handOver, typ); len(got) > 0 {
			t.Errorf("handing over: %s %v", typ, got)
		}
	}
	for _, f := range stack.Functions {
		vars := getMap(handOver[f.LogicalID()], "Properties", "Environment", "Variables")
		if vars[config.EnvSessionsTable] != "app-SessionsTable-1A" || vars[config.EnvUsersTable] != "app-UsersTable-2B" {
			t.Errorf("handing over: %s uses %v %v, want the tables by name", f.LogicalID(), vars[config.EnvSessionsTable], vars[config.EnvUsersTable])
		}
	}
	secret, was := getMap(handOver["AssertionKeySecret"], "Properties"), maps.Clone(getMap(before["AssertionKeySecret"], "Properties"))
	if secret == nil || fmt.Sprint(secret["ReplicaRegions"]) != "[map[Region:us-west-2]]" {
		t.Fatalf("handing over: AssertionKeySecret %v, want the same secret replicated to the peer", secret)
	}
	was["ReplicaRegions"] = secret["ReplicaRegions"]
	if !reflect.DeepEqual(secret, was) {
		t.Errorf("handing over: the key secret changes beyond its replicas (a replacement would lose the keys):\n%v\n%v", secret, was)
	}

	imported, importedOut := deployedWithOutputs(t, append(names, "HoldsGlobalTables=true")...)
	var added []string
	for id, r := range imported {
		if prev, ok := handOver[id]; !ok {
			added = append(added, id)
		} else if !reflect.DeepEqual(prev, r) {
			t.Errorf("the import changes %s: an import may make no other change", id)
		}
	}
	slices.Sort(added)
	if !slices.Equal(added, []string{"SessionsGlobalTable", "UsersGlobalTable"}) || len(imported) != len(handOver)+2 {
		t.Errorf("the import adds %v (and %d resources are gone), want the two global tables only", added, len(handOver)+len(added)-len(imported))
	}
	if !reflect.DeepEqual(handOverOut, importedOut) {
		t.Errorf("the import changes the outputs:\n%v\n%v", handOverOut, importedOut)
	}
	for id, name := range map[string]string{"SessionsGlobalTable": "app-SessionsTable-1A", "UsersGlobalTable": "app-UsersTable-2B"} {
		r := getMap(imported, id)
		if get(r, "Properties", "TableName") != name || r["DeletionPolicy"] != "Retain" {
			t.Errorf("%s: TableName %v, DeletionPolicy %v; an import needs the table's own name and Retain", id, get(r, "Properties", "TableName"), r["DeletionPolicy"])
		}
	}
}

// refusedBy returns the rules of the template that refuse these parameter
// values, as CloudFormation judges them before any change (RuleCondition,
// then each Assertion).
func refusedBy(t *testing.T, params ...string) []string {
	t.Helper()
	s := loadStack(t)
	r := &resolver{params: map[string]string{}, conds: getMap(s.tpl, "Conditions"), memo: map[string]bool{}}
	for name := range getMap(s.tpl, "Parameters") {
		r.params[name] = fmt.Sprint(get(s.tpl, "Parameters", name, "Default"))
	}
	for _, p := range append([]string{"DeployDigest=" + strings.Repeat("0", 64)}, params...) {
		k, v, _ := strings.Cut(p, "=")
		r.params[k] = v
	}
	var refused []string
	for name, rule := range getMap(s.tpl, "Rules") {
		if c := get(rule, "RuleCondition"); c != nil && !r.boolean(c) {
			continue
		}
		for _, a := range get(rule, "Assertions").([]any) {
			if !r.boolean(get(a, "Assert")) {
				refused = append(refused, name)
				break
			}
		}
	}
	slices.Sort(refused)
	return refused
}

// TestRegionSettingsThatDoNotFitAreRefusedBeforeAnyChange: the rules refuse
// a stack with global tables and no peers, peers or a joined secret or
// routing by region without global tables, and routing by region without a
// zone; each kind of stack of docs/REGIONS.md passes.
func TestRegionSettingsThatDoNotFitAreRefusedBeforeAnyChange(t *testing.T) {
	domain := []string{"DomainName=api.example.com", "CertificateArn=arn:aws:acm:us-east-1:123456789012:certificate/abc", "HostedZoneId=Z123"}
	for _, tc := range []struct {
		name   string
		params []string
		want   []string
	}{
		{"OneRegion", nil, nil},
		{"Owner", ownerParams, nil},
		{"Member", memberParams, nil},
		{"HandingOver", append(slices.Clone(ownerParams), "HoldsGlobalTables=false"), nil},
		{"OwnerRoutedByLatency", slices.Concat(ownerParams, domain, []string{"DomainRouting=latency"}), nil},
		{"GlobalTablesWithoutPeers", []string{"GlobalTableNames=a-sessions,a-users"}, []string{"RegionsNeedPeers"}},
		{"PeersWithoutGlobalTables", []string{"PeerRegions=us-west-2"}, []string{"OneRegionHasNoPeers"}},
		{"ASecretWithoutGlobalTables", memberParams[2:], []string{"OneRegionHasNoPeers"}},
		{"RoutingByRegionInOneRegion", append(slices.Clone(domain), "DomainRouting=latency"), []string{"OneRegionHasNoPeers"}},
		{"RoutingByRegionWithoutAZone", slices.Concat(ownerParams, domain[:2], []string{"DomainRouting=failover-primary"}), []string{"RoutingNeedsAZone"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := refusedBy(t, tc.params...); !slices.Equal(got, tc.want) {
				t.Errorf("%v: refused by %v, want %v", tc.params, got, tc.want)
			}
		})
	}
}
