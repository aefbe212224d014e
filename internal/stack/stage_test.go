package stack_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// translated is template.yaml as SAM's own transform (aws-sam-translator,
// which cfn-lint depends on) turns it into CloudFormation: what a deploy
// creates. Without the tool the test is skipped, unless
// REQUIRE_TEMPLATE_TOOLS is set (as .ci/run sets it).
func translated(t *testing.T) map[string]any {
	t.Helper()
	return translatedWith(t, nil)
}

// translatedWith is translated with these parameter values (Name=Value).
func translatedWith(t *testing.T, params []string) map[string]any {
	t.Helper()
	s := loadStack(t)
	py := "python3"
	if _, err := exec.LookPath(py); err != nil {
		skipOrFail(t, "python3 is not installed")
	}
	cmd := exec.Command(py, append([]string{filepath.Join(s.root, "internal/stack/testdata/translate.py"), filepath.Join(s.root, "template.yaml")}, params...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if strings.Contains(stderr.String(), "ModuleNotFoundError") {
			skipOrFail(t, "aws-sam-translator or cfn-lint is not installed: "+stderr.String())
		}
		t.Fatalf("translate: %v\n%s", err, stderr.String())
	}
	var tpl map[string]any
	if err := json.Unmarshal(out, &tpl); err != nil {
		t.Fatal(err)
	}
	return tpl
}

func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("REQUIRE_TEMPLATE_TOOLS") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// TestTheAPIHasOneStageAndEveryProtectionBindsIt: the translated template
// creates exactly one stage (SAM adds a second one, "Stage", to an
// AWS::Serverless::Api without OpenApiVersion, through its deployment's
// StageName), and that stage is the one the WAF association, the
// throttling, the access log and the API's alarm name.
func TestTheAPIHasOneStageAndEveryProtectionBindsIt(t *testing.T) {
	tpl := translated(t)
	var stages []string
	for id, r := range getMap(tpl, "Resources") {
		switch get(r, "Type") {
		case "AWS::ApiGateway::Stage":
			stages = append(stages, id)
		case "AWS::ApiGateway::Deployment":
			if sn := get(r, "Properties", "StageName"); sn != nil {
				t.Errorf("deployment %s creates stage %v beside the declared one", id, sn)
			}
		}
	}
	if len(stages) != 1 {
		t.Fatalf("stages %v, want exactly one", stages)
	}
	stage := getMap(tpl, "Resources", stages[0], "Properties")
	if name, _ := ref(stage["StageName"]); name != "StageName" {
		t.Errorf("the stage is named %v, want the StageName parameter", stage["StageName"])
	}
	if get(stage, "AccessLogSetting", "DestinationArn") == nil {
		t.Error("the stage has no access log")
	}
	if len(throttles(t, stage)) == 0 {
		t.Errorf("the stage is not throttled: %v", stage["MethodSettings"])
	}
	for id, r := range getMap(tpl, "Resources") {
		switch get(r, "Type") {
		case "AWS::WAFv2::WebACLAssociation":
			arn, _ := json.Marshal(get(r, "Properties", "ResourceArn"))
			if !strings.Contains(string(arn), "/stages/${"+stages[0]+"}") {
				t.Errorf("%s binds %s, not the one stage", id, arn)
			}
		case "AWS::CloudWatch::Alarm":
			dims, _ := get(r, "Properties", "Dimensions").([]any)
			for _, d := range dims {
				if get(d, "Name") == "Stage" && !reflect.DeepEqual(get(d, "Value"), stage["StageName"]) {
					t.Errorf("alarm %s watches stage %v, not the one stage", id, get(d, "Value"))
				}
			}
		}
	}
}

// throttles is the stage's method settings: "METHOD /path" (the path
// decoded from API Gateway's "/~1a~1b" form) to the parameters of its rate
// and burst.
func throttles(t *testing.T, stage map[string]any) map[string][2]string {
	t.Helper()
	out := map[string][2]string{}
	settings, _ := stage["MethodSettings"].([]any)
	for _, m := range settings {
		path, _ := get(m, "ResourcePath").(string)
		if path != "/*" { // "/" then the resource's path, each "/" written "~1"
			path = strings.ReplaceAll(strings.TrimPrefix(path, "/"), "~1", "/")
		}
		key := fmt.Sprintf("%v %s", get(m, "HttpMethod"), path)
		rate, _ := ref(get(m, "ThrottlingRateLimit"))
		burst, _ := ref(get(m, "ThrottlingBurstLimit"))
		if _, dup := out[key]; dup {
			t.Errorf("method settings name %s twice", key)
		}
		out[key] = [2]string{rate, burst}
	}
	return out
}

// TestTheLogInLimitIsOnTheLogInMethodsAlone: API Gateway keeps a stage's
// limits per method, so the log-in limit (a log-in costs a password hash)
// is set on the three log-in methods and on nothing else; the get and the
// forwarded routes have limits of their own, and "/*" (every other method)
// the forwarded one, never the log-in one.
func TestTheLogInLimitIsOnTheLogInMethodsAlone(t *testing.T) {
	tpl := translated(t)
	var stage map[string]any
	for _, r := range getMap(tpl, "Resources") {
		if get(r, "Type") == "AWS::ApiGateway::Stage" {
			stage = getMap(r, "Properties")
		}
	}
	login := [2]string{"LoginThrottleRate", "LoginThrottleBurst"}
	getLimit := [2]string{"GetThrottleRate", "GetThrottleBurst"}
	forwarded := [2]string{"ForwardedThrottleRate", "ForwardedThrottleBurst"}
	want := map[string][2]string{
		"POST /api/session":                 login,
		"POST /rest/com/vmware/cis/session": login,
		"POST /api":                         login,
		"GET /api/session":                  getLimit,
		"GET /rest/com/vmware/cis/session":  getLimit,
		"* /api/{proxy+}":                   forwarded,
		"* /rest/{proxy+}":                  forwarded,
		"* /*":                              forwarded,
	}
	got := throttles(t, stage)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("method settings\n%v\nwant\n%v", got, want)
	}
	// Each named method is one the API has: a setting on a path or method
	// it does not have limits nothing.
	methods := map[string]bool{}
	for p, ops := range getMap(tpl, "Resources", "Api", "Properties", "Body", "paths") {
		for m := range ops.(map[string]any) {
			if m == "x-amazon-apigateway-any-method" {
				m = "*"
			}
			methods[strings.ToUpper(m)+" "+p] = true
		}
	}
	for k := range want {
		if k != "* /*" && !methods[k] {
			t.Errorf("%s: the API has no such method (it has %v)", k, methods)
		}
	}
	for _, p := range []string{"LoginThrottleRate", "LoginThrottleBurst", "GetThrottleRate", "GetThrottleBurst", "ForwardedThrottleRate", "ForwardedThrottleBurst"} {
		if getMap(tpl, "Parameters", p) == nil {
			t.Errorf("no parameter %s", p)
		}
	}
}
