package stack_test

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cis-session/cis-session/internal/cloudwatch"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/stack"
)

// alarmsOf returns the alarms a function's deploy rolls back on: its
// failures and throttles, and for a function of the API its backend
// failures and the API's 5xx rate.
func alarmsOf(f stack.Function) []string {
	id := f.LogicalID()
	as := []string{id + "ErrorsAlarm", id + "ThrottlesAlarm"}
	if f.ServesAPI() {
		as = append(as, id+"BackendFailureAlarm", "Api5xxAlarm")
	}
	return as
}

// tableAlarms are the DynamoDB alarms of each table: the metric, and the
// parameter its threshold comes from.
var tableAlarms = map[string]struct{ metric, threshold string }{
	"ThrottlesAlarm":    {"ThrottledRequests", "DynamoDBThrottlesThreshold"},
	"SystemErrorsAlarm": {"SystemErrors", "DynamoDBSystemErrorsThreshold"},
}

// TestEveryDeployIsGradualAndRollsBackOnItsAlarms: every function is traced
// and published through the alias live with the DeploymentType parameter's
// deployment, whose alarms are exactly the function's own; every route's
// integration reaches the alias (SAM points an Api event at the alias of a
// function with AutoPublishAlias), and so does the authorizer
// (TestTheFrontDoorGuardsEveryOtherPath).
func TestEveryDeployIsGradualAndRollsBackOnItsAlarms(t *testing.T) {
	s := loadStack(t)
	dt := getMap(s.tpl, "Parameters", "DeploymentType")
	if d, _ := dt["Default"].(string); !strings.HasPrefix(d, "Canary") && !strings.HasPrefix(d, "Linear") {
		t.Errorf("DeploymentType defaults to %v, want a gradual (Canary or Linear) deployment", dt["Default"])
	}
	for _, v := range strs(dt["AllowedValues"]) {
		if v != "AllAtOnce" && !strings.HasPrefix(v, "Canary10Percent") && !strings.HasPrefix(v, "Linear10PercentEvery") {
			t.Errorf("DeploymentType allows %q, which is not a CodeDeployDefault.Lambda configuration", v)
		}
	}
	if !slices.Contains(strs(dt["AllowedValues"]), "AllAtOnce") {
		t.Error("DeploymentType does not allow AllAtOnce (a stack with no traffic to shift)")
	}
	if get(s.resource("Api"), "Properties", "TracingEnabled") != true {
		t.Error("Api: TracingEnabled is not true")
	}
	for _, f := range stack.Functions {
		id := f.LogicalID()
		t.Run(f.Dir, func(t *testing.T) {
			p := s.functionProps(id)
			if p["Tracing"] != "Active" {
				t.Errorf("%s: Tracing = %v, want Active", id, p["Tracing"])
			}
			if p["AutoPublishAlias"] != "live" {
				t.Errorf("%s: AutoPublishAlias = %v, want live", id, p["AutoPublishAlias"])
			}
			dp := getMap(p, "DeploymentPreference")
			if r, _ := ref(dp["Type"]); r != "DeploymentType" {
				t.Errorf("%s: DeploymentPreference.Type = %v, want !Ref DeploymentType", id, dp["Type"])
			}
			if e, ok := dp["Enabled"]; ok && e != true {
				t.Errorf("%s: DeploymentPreference.Enabled = %v", id, e)
			}
			var got []string
			alarms, _ := dp["Alarms"].([]any)
			for _, a := range alarms {
				r, _ := ref(a)
				got = append(got, r)
			}
			want := alarmsOf(f)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s: rolls back on %v, want %v", id, got, want)
			}
			for _, a := range want {
				if get(s.resource(a), "Type") != "AWS::CloudWatch::Alarm" {
					t.Errorf("%s: no alarm %s", id, a)
				}
			}
		})
	}
}

// TestAlarmsCoverEveryFailure: the alarms are the API's 5xx rate, each
// function's errors and throttles, each API function's BackendFailure
// (internal/cloudwatch's metric, by its function), and each table's
// throttled requests and system errors summed over exactly the operations
// the functions may call on it (stack.OpPermissions); every threshold is a
// parameter; every alarm notifies the topic, when it fires and when it
// clears; and nothing else is an alarm.
func TestAlarmsCoverEveryFailure(t *testing.T) {
	s := loadStack(t)
	params := getMap(s.tpl, "Parameters")
	want := map[string]func(t *testing.T, p map[string]any){}

	metric := func(namespace, name, stat string, dims map[string]string) func(*testing.T, map[string]any) {
		return func(t *testing.T, p map[string]any) {
			if p["Namespace"] != namespace || p["MetricName"] != name || p["Statistic"] != stat {
				t.Errorf("watches %v %v (%v), want %s %s (%s)", p["Namespace"], p["MetricName"], p["Statistic"], namespace, name, stat)
			}
			if got := dimensions(p["Dimensions"]); !maps.Equal(got, dims) {
				t.Errorf("dimensions %v, want %v", got, dims)
			}
		}
	}
	want["Api5xxAlarm"] = metric("AWS/ApiGateway", "5XXError", "Average", map[string]string{"ApiName": "AWS::StackName", "Stage": "StageName"})
	for _, f := range stack.Functions {
		id := f.LogicalID()
		dims := map[string]string{"FunctionName": id}
		want[id+"ErrorsAlarm"] = metric("AWS/Lambda", "Errors", "Sum", dims)
		want[id+"ThrottlesAlarm"] = metric("AWS/Lambda", "Throttles", "Sum", dims)
		if f.ServesAPI() {
			want[id+"BackendFailureAlarm"] = metric(cloudwatch.Namespace, cloudwatch.MetricBackendFailure, "Sum", map[string]string{cloudwatch.DimensionFunction: id})
		}
	}
	// The audit trail's: a delivery waits in the failure queue, or could not
	// even be put there. Any is news: their threshold is 0, no parameter.
	over0 := func(check func(*testing.T, map[string]any)) func(*testing.T, map[string]any) {
		return func(t *testing.T, p map[string]any) {
			check(t, p)
			if p["Threshold"] != 0 || p["ComparisonOperator"] != "GreaterThanThreshold" {
				t.Errorf("Threshold %v %v, want GreaterThanThreshold 0", p["ComparisonOperator"], p["Threshold"])
			}
		}
	}
	want["AuditFailureQueueAlarm"] = over0(metric("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", map[string]string{"QueueName": "map[Fn::GetAtt:[AuditFailureQueue QueueName]]"}))
	want[stack.Auditfwd.LogicalID()+"DestinationDeliveryFailuresAlarm"] = over0(metric("AWS/Lambda", "DestinationDeliveryFailures", "Sum", map[string]string{"FunctionName": stack.Auditfwd.LogicalID()}))
	for _, table := range []stack.Table{stack.Sessions, stack.Users} {
		var ops []string
		for _, f := range stack.Functions {
			for _, p := range f.Permissions() {
				if p.Table == table || table == stack.Sessions && (p.Table == stack.SessionsByUser || p.Table == stack.SessionsBySubject || p.Table == stack.SessionsBySID) {
					ops = append(ops, strings.TrimPrefix(p.Action, "dynamodb:"))
				}
			}
		}
		slices.Sort(ops)
		ops = slices.Compact(ops)
		for suffix, a := range tableAlarms {
			want[tableID(table)+suffix] = func(t *testing.T, p map[string]any) {
				ms, _ := p["Metrics"].([]any)
				var got []string
				for _, m := range ms {
					if get(m, "Expression") != nil {
						if get(m, "Expression") != "SUM(METRICS())" || get(m, "ReturnData") != true {
							t.Errorf("expression %v, want SUM(METRICS()) returned", m)
						}
						continue
					}
					mm := getMap(m, "MetricStat", "Metric")
					dims := dimensions(mm["Dimensions"])
					if mm["Namespace"] != "AWS/DynamoDB" || mm["MetricName"] != a.metric || dims["TableName"] != tableID(table) ||
						get(m, "MetricStat", "Stat") != "Sum" || get(m, "ReturnData") != false {
						t.Errorf("metric %v, want the Sum of AWS/DynamoDB %s of %s, not returned", m, a.metric, tableID(table))
					}
					got = append(got, dims["Operation"])
				}
				slices.Sort(got)
				if !slices.Equal(got, ops) {
					t.Errorf("sums %s over operations %v, want those the functions call on %s: %v", a.metric, got, table, ops)
				}
				if r, _ := ref(p["Threshold"]); r != a.threshold {
					t.Errorf("Threshold %v, want !Ref %s", p["Threshold"], a.threshold)
				}
			}
		}
	}

	for _, id := range replicationAlarms {
		want[id] = checkReplicationAlarm
	}

	thresholds := map[string]string{"Api5xxAlarm": "ApiErrorRateThreshold"}
	for id := range want {
		for suffix, param := range map[string]string{"ErrorsAlarm": "FunctionErrorsThreshold", "ThrottlesAlarm": "FunctionThrottlesThreshold", "BackendFailureAlarm": "BackendFailureThreshold"} {
			if strings.HasSuffix(id, "Function"+suffix) {
				thresholds[id] = param
			}
		}
	}
	if got, wantIDs := s.resources("AWS::CloudWatch::Alarm"), slices.Sorted(maps.Keys(want)); !slices.Equal(got, wantIDs) {
		t.Errorf("alarms %v\nwant %v", got, wantIDs)
	}
	notify := "map[Fn::If:[CreatesAlarmTopic map[Ref:AlarmTopic] map[Ref:AlarmTopicArn]]]"
	if c := get(s.resource("AlarmTopic"), "Condition"); c != "CreatesAlarmTopic" || get(s.resource("AlarmTopic"), "Type") != "AWS::SNS::Topic" {
		t.Errorf("AlarmTopic: want an SNS topic made when AlarmTopicArn is empty (Condition CreatesAlarmTopic), got %v", s.resource("AlarmTopic"))
	}
	if d := get(params, "AlarmTopicArn", "Default"); d != "" {
		t.Errorf("AlarmTopicArn defaults to %v, want \"\" (the stack makes a topic)", d)
	}
	for id, check := range want {
		t.Run(id, func(t *testing.T) {
			p := getMap(s.resource(id), "Properties")
			if p == nil {
				t.Fatal("missing")
			}
			check(t, p)
			if param, ok := thresholds[id]; ok {
				if r, _ := ref(p["Threshold"]); r != param {
					t.Errorf("Threshold %v, want !Ref %s", p["Threshold"], param)
				}
			}
			r, isRef := ref(p["Threshold"])
			if d, ok := get(params, r, "Default").(int); isRef && (ok && d < 1 || get(params, r, "Default") == nil) {
				t.Errorf("threshold parameter %s: default %v, want a sensible one", r, get(params, r, "Default"))
			}
			for _, k := range []string{"AlarmActions", "OKActions"} {
				if a, _ := p[k].([]any); len(a) != 1 || fmt.Sprint(a[0]) != notify {
					t.Errorf("%s = %v, want [!If [CreatesAlarmTopic, !Ref AlarmTopic, !Ref AlarmTopicArn]]", k, p[k])
				}
			}
			if p["TreatMissingData"] != "notBreaching" {
				t.Errorf("TreatMissingData = %v, want notBreaching (no traffic is no failure)", p["TreatMissingData"])
			}
		})
	}
	// The 5xx alarm names the API by its name: the API must have that name.
	if r, _ := ref(get(s.resource("Api"), "Properties", "Name")); r != "AWS::StackName" {
		t.Errorf("Api: Name = %v, want !Ref AWS::StackName (Api5xxAlarm's ApiName)", get(s.resource("Api"), "Properties", "Name"))
	}
}

// dimensions reads an alarm's dimensions as name -> the target of its !Ref.
func dimensions(v any) map[string]string {
	out := map[string]string{}
	ds, _ := v.([]any)
	for _, d := range ds {
		val := oneRegion(get(d, "Value"))
		if r, ok := ref(val); ok {
			out[fmt.Sprint(get(d, "Name"))] = r
		} else {
			out[fmt.Sprint(get(d, "Name"))] = fmt.Sprint(val)
		}
	}
	return out
}

// TestTheAccessLogJoinsTheFunctionsLines: a gateway line carries the
// function's request id, status and latency, and the trace id.
func TestTheAccessLogJoinsTheFunctionsLines(t *testing.T) {
	s := loadStack(t)
	format, _ := get(s.resource("Api"), "Properties", "AccessLogSetting", "Format").(string)
	for _, v := range []string{"$context.integration.requestId", "$context.integration.status", "$context.integration.latency", "$context.xrayTraceId", "$context.requestId"} {
		if !strings.Contains(format, `"`+v+`"`) {
			t.Errorf("access log format lacks %s:\n%s", v, format)
		}
	}
}

// TestTheAuditTrailIsKept: the audit log group is kept when the stack is
// deleted or the group replaced, for AuditLogRetentionInDays (a year by
// default); every function of the API's log group is subscribed, with the
// filter internal/cloudwatch's audit lines match, by the audit forwarder
// (and no other group, lest it copy its own lines); its name is an output.
func TestTheAuditTrailIsKept(t *testing.T) {
	s := loadStack(t)
	g := s.resource("AuditLogGroup")
	if get(g, "Type") != "AWS::Logs::LogGroup" || g["DeletionPolicy"] != "Retain" || g["UpdateReplacePolicy"] != "Retain" {
		t.Errorf("AuditLogGroup: %v, want a log group with DeletionPolicy and UpdateReplacePolicy Retain", g)
	}
	if r, _ := ref(get(g, "Properties", "RetentionInDays")); r != "AuditLogRetentionInDays" {
		t.Errorf("AuditLogGroup: RetentionInDays %v, want !Ref AuditLogRetentionInDays", get(g, "Properties", "RetentionInDays"))
	}
	if get(g, "Properties", "LogGroupName") != nil {
		t.Error("AuditLogGroup: a fixed name collides with the group a deleted stack kept; let CloudFormation name it")
	}
	if d := get(s.tpl, "Parameters", "AuditLogRetentionInDays", "Default"); d != 365 {
		t.Errorf("AuditLogRetentionInDays defaults to %v, want 365", d)
	}
	if r, _ := ref(get(s.tpl, "Outputs", "AuditLogGroupName", "Value")); r != "AuditLogGroup" {
		t.Errorf("output AuditLogGroupName = %v, want !Ref AuditLogGroup", get(s.tpl, "Outputs", "AuditLogGroupName"))
	}

	pattern := fmt.Sprintf(`{ $.%s = "%s" }`, cloudwatch.FieldStream, cloudwatch.StreamAudit)
	subscribed := map[string]int{}
	for name, ev := range getMap(s.resource(stack.Auditfwd.LogicalID()), "Properties", "Events") {
		group, _ := ref(get(ev, "Properties", "LogGroupName"))
		if get(ev, "Type") != "CloudWatchLogs" || get(ev, "Properties", "FilterPattern") != pattern {
			t.Errorf("%s event %s: %v, want a CloudWatchLogs subscription with FilterPattern %s", stack.Auditfwd.LogicalID(), name, ev, pattern)
		}
		subscribed[group]++
	}
	want := map[string]int{}
	for _, f := range stack.APIFunctions() {
		group, _ := ref(get(s.functionProps(f.LogicalID()), "LoggingConfig", "LogGroup"))
		want[group] = 1
	}
	if !maps.Equal(subscribed, want) {
		t.Errorf("the audit forwarder subscribes %v, want each API function's log group once: %v", subscribed, want)
	}
}

// TestLogInsAreLimitedPerSource: a WAF web ACL, on by default, on the API's
// stage, blocks a source IP past LoginRateLimit log-ins in 5 minutes, with
// the gateway's vAPI 503 body and status 429; the log-in routes it counts
// are every POST route served by a function that reads users.
func TestLogInsAreLimitedPerSource(t *testing.T) {
	s := loadStack(t)
	params := getMap(s.tpl, "Parameters")
	if d := get(params, "LoginRateLimitEnabled", "Default"); d != "true" {
		t.Errorf("LoginRateLimitEnabled defaults to %v, want \"true\"", d)
	}
	if d, _ := get(params, "LoginRateLimit", "Default").(int); d < 10 {
		t.Errorf("LoginRateLimit defaults to %v, want at least WAF's minimum, 10", get(params, "LoginRateLimit", "Default"))
	}
	if c := fmt.Sprint(get(s.tpl, "Conditions", "LimitsLoginRate")); c != "map[Fn::Equals:[map[Ref:LoginRateLimitEnabled] true]]" {
		t.Errorf("LimitsLoginRate = %s", c)
	}
	acl := s.resource("LoginRateLimitAcl")
	p := getMap(acl, "Properties")
	if get(acl, "Type") != "AWS::WAFv2::WebACL" || acl["Condition"] != "LimitsLoginRate" || p["Scope"] != "REGIONAL" || get(p, "DefaultAction", "Allow") == nil {
		t.Fatalf("LoginRateLimitAcl: %v, want a REGIONAL web ACL allowing by default, made when LimitsLoginRate", acl)
	}
	rules, _ := p["Rules"].([]any)
	if len(rules) != 1 {
		t.Fatalf("rules %v, want the one rate-based rule", rules)
	}
	rule := rules[0]
	rbs := getMap(rule, "Statement", "RateBasedStatement")
	if r, _ := ref(rbs["Limit"]); r != "LoginRateLimit" || rbs["AggregateKeyType"] != "IP" || rbs["EvaluationWindowSec"] != 300 {
		t.Errorf("rate-based statement %v, want LoginRateLimit per source IP over 300 s", rbs)
	}
	block := getMap(rule, "Action", "Block", "CustomResponse")
	if block["ResponseCode"] != 429 || get(p, "CustomResponseBodies", fmt.Sprint(block["CustomResponseBodyKey"]), "Content") != httpapi.GatewayBody("unavailable") ||
		get(p, "CustomResponseBodies", fmt.Sprint(block["CustomResponseBodyKey"]), "ContentType") != "APPLICATION_JSON" {
		t.Errorf("the rule blocks with %v, want 429 and the gateway's vAPI unavailable body", block)
	}
	// The scope: every log-in route counts (TestTheRateRuleCountsLogInsOnly
	// holds what else it counts: nothing).
	scope := getMap(rbs, "ScopeDownStatement")
	for _, rt := range httpapi.Routes {
		f, ok := stack.ForRoute(rt.Method, rt.Path)
		if !ok || rt.Method != "POST" || !f.Allows(stack.Users, "dynamodb:GetItem") || rt.Path == "/api" {
			continue // JSON-RPC: only its create is a log-in
		}
		for _, prefix := range []string{"/v1", ""} {
			if !wafMatches(t, scope, wafRequest{method: "POST", path: prefix + rt.Path}) {
				t.Errorf("the rule does not count POST %s%s, a log-in route", prefix, rt.Path)
			}
		}
	}
	assoc := s.resource("LoginRateLimitAclAssociation")
	if arn, _ := get(assoc, "Properties", "ResourceArn", "Fn::Sub").(string); assoc["Condition"] != "LimitsLoginRate" ||
		!strings.HasSuffix(arn, "::/restapis/${Api}/stages/${Api.Stage}") {
		t.Errorf("association %v, want the ACL on the Api's stage when LimitsLoginRate", assoc)
	}
	if acl, _, _ := getAtt(get(assoc, "Properties", "WebACLArn")); acl != "LoginRateLimitAcl" {
		t.Errorf("association's WebACLArn %v", get(assoc, "Properties", "WebACLArn"))
	}

}

// TestTheFrontDoorKeepsItsConcurrencyUnderALogInFlood: by default the
// log-in functions (those that read users) and the authorizer, and no
// other, have reserved concurrency, each sized by its parameter: a flood of
// log-ins is throttled at the log-in functions' reservation and cannot take
// the authorizer's. Each parameter takes a positive number or nothing
// (unreserved), never 0 or 00, which would reserve nothing and throttle
// every call; and the defaults, reserved in all, leave the 100 a fresh
// account's limit of 1,000 must keep unreserved.
func TestTheFrontDoorKeepsItsConcurrencyUnderALogInFlood(t *testing.T) {
	s := loadStack(t)
	params := getMap(s.tpl, "Parameters")
	paramOf := map[string]string{}
	for _, f := range stack.Functions {
		switch {
		case f.Allows(stack.Users, "dynamodb:GetItem"):
			paramOf[f.LogicalID()] = "LoginConcurrency"
		case f.LogicalID() == stack.Authorize.LogicalID():
			paramOf[f.LogicalID()] = "AuthorizerConcurrency"
		}
	}
	conditions := map[string]string{"LoginConcurrency": "ReservesLoginConcurrency", "AuthorizerConcurrency": "ReservesAuthorizerConcurrency"}
	total := 0
	for _, f := range stack.Functions {
		rc, set := s.functionProps(f.LogicalID())["ReservedConcurrentExecutions"]
		param := paramOf[f.LogicalID()]
		if param == "" {
			if set {
				t.Errorf("%s: ReservedConcurrentExecutions %v, want none", f.LogicalID(), rc)
			}
			continue
		}
		if want := fmt.Sprintf("map[Fn::If:[%s map[Ref:%s] map[Ref:AWS::NoValue]]]", conditions[param], param); fmt.Sprint(rc) != want {
			t.Errorf("%s: ReservedConcurrentExecutions %v, want %s", f.LogicalID(), rc, want)
		}
		d, _ := get(params, param, "Default").(string)
		n, err := strconv.Atoi(d)
		if err != nil || n < 1 {
			t.Errorf("%s defaults to %q, want a reservation", param, d)
		}
		total += n
	}
	if paramOf[stack.Authorize.LogicalID()] == "" || len(paramOf) < 3 {
		t.Errorf("reserved: %v, want the authorizer and the log-in functions", paramOf)
	}
	const fresh, kept = 1000, 100
	if total > fresh-kept {
		t.Errorf("the defaults reserve %d in all; a fresh account (limit %d) can reserve %d", total, fresh, fresh-kept)
	}
	for param, cond := range conditions {
		pattern := regexp.MustCompile(fmt.Sprint(get(params, param, "AllowedPattern")))
		for v, ok := range map[string]bool{"": true, "1": true, "50": true, "1000": true, "0": false, "00": false, "-1": false, "5 ": false, "1e3": false} {
			if pattern.MatchString(v) != ok {
				t.Errorf("%s: %q accepted: %v, want %v", param, v, !ok, ok)
			}
		}
		if c := fmt.Sprint(get(s.tpl, "Conditions", cond)); c != fmt.Sprintf("map[Fn::Not:[map[Fn::Equals:[map[Ref:%s] ]]]]", param) {
			t.Errorf("%s = %s, want true unless %s is empty", cond, c, param)
		}
	}
}

// TestACustomDomainIsOptional: DomainName and CertificateArn (and a hosted
// zone for the record) make the domain, its mapping to the stage, and the
// URL output; empty, none of them exist.
func TestACustomDomainIsOptional(t *testing.T) {
	s := loadStack(t)
	for _, p := range []string{"DomainName", "CertificateArn", "HostedZoneId"} {
		if d := get(s.tpl, "Parameters", p, "Default"); d != "" {
			t.Errorf("%s defaults to %v, want \"\"", p, d)
		}
	}
	d := s.resource("ApiDomain")
	if d["Type"] != "AWS::ApiGateway::DomainName" || d["Condition"] != "HasDomain" {
		t.Fatalf("ApiDomain: %v, want a domain made when HasDomain", d)
	}
	if r, _ := ref(get(d, "Properties", "DomainName")); r != "DomainName" {
		t.Errorf("ApiDomain: DomainName %v", get(d, "Properties", "DomainName"))
	}
	if r, _ := ref(get(d, "Properties", "RegionalCertificateArn")); r != "CertificateArn" || fmt.Sprint(get(d, "Properties", "EndpointConfiguration", "Types")) != "[REGIONAL]" {
		t.Errorf("ApiDomain: %v, want a REGIONAL domain with CertificateArn", get(d, "Properties"))
	}
	m := s.resource("ApiDomainMapping")
	if st, _ := ref(get(m, "Properties", "Stage")); m["Condition"] != "HasDomain" || st != "Api.Stage" {
		t.Errorf("ApiDomainMapping: %v, want the Api's stage mapped when HasDomain", m)
	}
	if c := fmt.Sprint(get(s.tpl, "Conditions", "HasDomain")); c != "map[Fn::Not:[map[Fn::Equals:[map[Ref:DomainName] ]]]]" {
		t.Errorf("HasDomain = %s", c)
	}
	// With DomainRouting simple (the default); else each region's record
	// (TestSeveralRegionsRouteByLatencyOrFailoverWithHealthChecks).
	if rec := s.resource("ApiDomainRecord"); rec["Condition"] != "HasSimpleDomainRecord" ||
		fmt.Sprint(get(s.tpl, "Conditions", "HasSimpleDomainRecord")) != "map[Fn::And:[map[Condition:HasDomainRecord] map[Fn::Equals:[map[Ref:DomainRouting] simple]]]]" {
		t.Errorf("ApiDomainRecord: Condition %v, want HasSimpleDomainRecord (HasDomainRecord and DomainRouting simple)", rec["Condition"])
	}
	url := fmt.Sprint(get(s.tpl, "Outputs", "ApiUrl", "Value"))
	if !strings.HasPrefix(url, "map[Fn::If:[HasDomain map[Fn::Sub:https://${DomainName}/] map[Fn::Sub:https://${Api}.execute-api.") {
		t.Errorf("ApiUrl = %s, want the domain's URL with HasDomain, else execute-api's", url)
	}
}

// TestAFirstDeployCanSetTheAccountsLogRole: a REST API stage that keeps an
// access log cannot be created before the region's account-wide API
// Gateway CloudWatch Logs role is set. CreateApiGatewayAccountRole (off by
// default: the setting is the account's, not this stack's) makes the role,
// with AWS's managed policy for it, retained with the stack since the
// setting outlives it, and sets it after the API (IAM propagation); and the
// stage waits for the setting.
func TestAFirstDeployCanSetTheAccountsLogRole(t *testing.T) {
	s := loadStack(t)
	p := getMap(s.tpl, "Parameters", "CreateApiGatewayAccountRole")
	if p["Default"] != "false" || !slices.Equal(strs(p["AllowedValues"]), []string{"true", "false"}) {
		t.Errorf("CreateApiGatewayAccountRole: %v, want \"true\" or \"false\", \"false\" by default", p)
	}
	if c := fmt.Sprint(get(s.tpl, "Conditions", "CreatesApiGatewayAccountRole")); c != "map[Fn::Equals:[map[Ref:CreateApiGatewayAccountRole] true]]" {
		t.Errorf("condition CreatesApiGatewayAccountRole = %s, want !Equals [!Ref CreateApiGatewayAccountRole, \"true\"]", c)
	}
	if got := s.resources("AWS::ApiGateway::Account"); !slices.Equal(got, []string{"ApiGatewayAccount"}) {
		t.Fatalf("AWS::ApiGateway::Account resources %v, want ApiGatewayAccount", got)
	}
	account := s.resource("ApiGatewayAccount")
	roleID, attr, ok := getAtt(get(account, "Properties", "CloudWatchRoleArn"))
	if !ok || attr != "Arn" {
		t.Fatalf("ApiGatewayAccount: CloudWatchRoleArn %v, want !GetAtt <role>.Arn", get(account, "Properties", "CloudWatchRoleArn"))
	}
	role := s.resource(roleID)
	for id, r := range map[string]map[string]any{"ApiGatewayAccount": account, roleID: role} {
		if r["Condition"] != "CreatesApiGatewayAccountRole" {
			t.Errorf("%s: Condition %v, want CreatesApiGatewayAccountRole", id, r["Condition"])
		}
	}
	if role["DeletionPolicy"] != "Retain" || role["UpdateReplacePolicy"] != "Retain" {
		t.Errorf("%s: DeletionPolicy %v, UpdateReplacePolicy %v; want Retain: the account setting outlives the stack and must not name a deleted role", roleID, role["DeletionPolicy"], role["UpdateReplacePolicy"])
	}
	if trust := fmt.Sprint(get(role, "Properties", "AssumeRolePolicyDocument", "Statement")); trust != "[map[Action:sts:AssumeRole Effect:Allow Principal:map[Service:apigateway.amazonaws.com]]]" {
		t.Errorf("%s: trust %s, want apigateway.amazonaws.com only", roleID, trust)
	}
	if m := fmt.Sprint(get(role, "Properties", "ManagedPolicyArns")); m != "[map[Fn::Sub:arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]]" {
		t.Errorf("%s: managed policies %s, want AmazonAPIGatewayPushToCloudWatchLogs only", roleID, m)
	}
	if get(role, "Properties", "Policies") != nil {
		t.Errorf("%s: inline policies beside the managed one", roleID)
	}
	// The role is new on that deploy: the setting also waits for the REST
	// API, which waits for every function, version and alias, so that IAM
	// has propagated the role before API Gateway checks it.
	if d := fmt.Sprint(account["DependsOn"]); d != "Api" {
		t.Errorf("ApiGatewayAccount: DependsOn %s, want Api (and the role, through its GetAtt)", d)
	}
	// SAM puts an AWS::Serverless::Api's Tags on the stage it makes; a
	// reference there, under the condition, orders the stage after the
	// account (DependsOn cannot name a resource that may not exist).
	if tags := fmt.Sprint(getMap(s.resource("Api"), "Properties", "Tags")); !strings.Contains(tags, "map[Fn::If:[CreatesApiGatewayAccountRole map[Ref:ApiGatewayAccount] ") {
		t.Errorf("Api: Tags %s, want one that is !If [CreatesApiGatewayAccountRole, !Ref ApiGatewayAccount, ...]: the stage must wait for the account's role", tags)
	}
}

// TestTheAuditTrailLosesNothing: CloudWatch Logs invokes the audit
// forwarder asynchronously, so a delivery that fails its retries would be
// dropped. It goes instead, as Lambda's invocation record (the event and
// the error), to an encrypted queue that keeps it 14 days, SQS's longest,
// and outlives the stack like the audit group; the forwarder's role may
// send there (TestRolesAreLeastPrivilege); alarms say when one waits and
// when one could not be put there (TestAlarmsCoverEveryFailure); and the
// queue's URL is an output, for `cis-admin replay-audit`.
func TestTheAuditTrailLosesNothing(t *testing.T) {
	s := loadStack(t)
	id := stack.Auditfwd.LogicalID()
	cfg := getMap(s.functionProps(id), "EventInvokeConfig")
	if cfg == nil {
		t.Fatalf("%s: no EventInvokeConfig: a delivery that fails its retries is dropped", id)
	}
	if get(cfg, "DestinationConfig", "OnFailure", "Type") != "SQS" {
		t.Errorf("%s: on-failure destination type %v, want SQS", id, get(cfg, "DestinationConfig", "OnFailure", "Type"))
	}
	q, attr, ok := getAtt(get(cfg, "DestinationConfig", "OnFailure", "Destination"))
	if !ok || attr != "Arn" || q != "AuditFailureQueue" {
		t.Fatalf("%s: on-failure destination %v, want !GetAtt AuditFailureQueue.Arn", id, get(cfg, "DestinationConfig", "OnFailure", "Destination"))
	}
	if cfg["MaximumRetryAttempts"] != 2 {
		t.Errorf("%s: MaximumRetryAttempts %v, want 2 (Lambda's most)", id, cfg["MaximumRetryAttempts"])
	}
	if a, _ := cfg["MaximumEventAgeInSeconds"].(int); a < 3600 {
		t.Errorf("%s: MaximumEventAgeInSeconds %v, want room for retries over a CloudWatch Logs outage (at least an hour)", id, cfg["MaximumEventAgeInSeconds"])
	}
	if get(s.functionProps(id), "DeadLetterQueue") != nil {
		t.Errorf("%s: a DeadLetterQueue beside the on-failure destination: one place to replay from", id)
	}
	queue := s.resource(q)
	if queue["Type"] != "AWS::SQS::Queue" || queue["DeletionPolicy"] != "Retain" || queue["UpdateReplacePolicy"] != "Retain" {
		t.Errorf("%s: %v, want an SQS queue kept when the stack is deleted or the queue replaced", q, queue)
	}
	if r := get(queue, "Properties", "MessageRetentionPeriod"); r != 1209600 {
		t.Errorf("%s: MessageRetentionPeriod %v, want 1209600 (14 days, time to replay)", q, r)
	}
	if get(queue, "Properties", "SqsManagedSseEnabled") != true && get(queue, "Properties", "KmsMasterKeyId") == nil {
		t.Errorf("%s: not encrypted; the records hold audit lines (user names, source addresses)", q)
	}
	if get(queue, "Properties", "FifoQueue") == true {
		t.Errorf("%s: a FIFO queue, which Lambda cannot send an invocation record to", q)
	}
	if r, _ := ref(get(s.tpl, "Outputs", "AuditFailureQueueUrl", "Value")); r != q {
		t.Errorf("output AuditFailureQueueUrl = %v, want !Ref %s", get(s.tpl, "Outputs", "AuditFailureQueueUrl"), q)
	}
}
