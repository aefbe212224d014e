package stack_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEventsAreWhatTheTemplatesAPISends holds events/ to template.yaml: every
// event beside the HTTP API ones (events/http-api) is one the stack's REST
// API sends, on its default stage (StageName), with the body as text, as a
// REST API without BinaryMediaTypes passes every body; and it goes to a
// route the template gives a function, or to the authorizer.
func TestEventsAreWhatTheTemplatesAPISends(t *testing.T) {
	s := loadStack(t)
	stage := fmt.Sprint(get(s.tpl, "Parameters", "StageName", "Default"))
	if stage == "" || stage == "<nil>" {
		t.Fatal("template.yaml: no StageName default")
	}
	binary := get(s.resource("Api"), "Properties", "BinaryMediaTypes") != nil
	names, err := filepath.Glob(filepath.Join(s.root, "events", "*.json"))
	if err != nil || len(names) == 0 {
		t.Fatalf("events/: %v", err)
	}
	for _, p := range names {
		if strings.HasSuffix(p, ".expected.json") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var ev struct {
			Version        *string `json:"version"`
			Type           string  `json:"type"`
			MethodArn      string  `json:"methodArn"`
			Base64         bool    `json:"isBase64Encoded"`
			RequestContext struct {
				Stage string `json:"stage"`
			} `json:"requestContext"`
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		name := filepath.Base(p)
		if ev.Version != nil {
			t.Errorf("%s: version %q: a REST API event has none (HTTP API events go in events/http-api)", name, *ev.Version)
		}
		if ev.RequestContext.Stage != stage {
			t.Errorf("%s: stage %q, want the template's StageName default %q", name, ev.RequestContext.Stage, stage)
		}
		if ev.Type == "REQUEST" {
			// arn:aws:execute-api:region:account:api/stage/METHOD/path
			if parts := strings.SplitN(ev.MethodArn, "/", 3); len(parts) < 3 || parts[1] != stage {
				t.Errorf("%s: methodArn %q is not on stage %q", name, ev.MethodArn, stage)
			}
			continue
		}
		if ev.Base64 && !binary {
			t.Errorf("%s: isBase64Encoded, but the API has no BinaryMediaTypes: API Gateway passes the body as text", name)
		}
	}
}
