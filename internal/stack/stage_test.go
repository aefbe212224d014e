package stack_test

import (
	"encoding/json"
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
	s := loadStack(t)
	py := "python3"
	if _, err := exec.LookPath(py); err != nil {
		skipOrFail(t, "python3 is not installed")
	}
	cmd := exec.Command(py, filepath.Join(s.root, "internal/stack/testdata/translate.py"), filepath.Join(s.root, "template.yaml"))
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
	throttled := false
	settings, _ := stage["MethodSettings"].([]any)
	for _, m := range settings {
		if get(m, "ResourcePath") == "/*" && get(m, "HttpMethod") == "*" && get(m, "ThrottlingRateLimit") != nil {
			throttled = true
		}
	}
	if !throttled {
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
