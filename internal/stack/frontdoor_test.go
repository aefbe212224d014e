package stack_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/lambda"
	"github.com/cis-session/cis-session/internal/stack"
)

// protectedPaths are the API's paths behind the authorizer: everything
// under /api/ and /rest/ that the session routes do not name.
var protectedPaths = []string{"/api/{proxy+}", "/rest/{proxy+}"}

// TestTheFrontDoorGuardsEveryOtherPath: the REST API's one authorizer is
// stack.Authorize's function, uncached by default, in front of exactly
// /api/{proxy+} and /rest/{proxy+}; API Gateway may invoke it; and what it
// passes the upstream is what the local gateway passes (the user and the
// session's creation time added, the session id and cookie blanked).
func TestTheFrontDoorGuardsEveryOtherPath(t *testing.T) {
	s := loadStack(t)
	api := getMap(s.resource("Api"), "Properties")
	body := getMap(api, "DefinitionBody")
	if api["MergeDefinitions"] != true {
		t.Error("Api: MergeDefinitions is not true: the session routes' events would not join DefinitionBody")
	}

	defs := getMap(body, "securityDefinitions")
	if len(defs) != 1 || defs["CisSession"] == nil {
		t.Fatalf("securityDefinitions %v, want the one authorizer CisSession", defs)
	}
	az := getMap(defs, "CisSession", "x-amazon-apigateway-authorizer")
	if get(defs, "CisSession", "x-amazon-apigateway-authtype") != "custom" || az["type"] != "request" {
		t.Errorf("CisSession: want a Lambda REQUEST authorizer, got %v", defs["CisSession"])
	}
	// The alias, so that the authorizer's deploys are gradual too.
	uri, _ := get(az, "authorizerUri", "Fn::Sub").(string)
	if !strings.Contains(uri, "${"+stack.Authorize.LogicalID()+".Alias}/invocations") {
		t.Errorf("authorizerUri %v does not invoke %s's alias", az["authorizerUri"], stack.Authorize.LogicalID())
	}
	if r, _ := ref(az["authorizerResultTtlInSeconds"]); r != "AuthorizerCacheTtl" {
		t.Errorf("authorizerResultTtlInSeconds = %v, want !Ref AuthorizerCacheTtl", az["authorizerResultTtlInSeconds"])
	}
	// Every call is a use, exactly, unless the operator says otherwise.
	if d := get(s.tpl, "Parameters", "AuthorizerCacheTtl", "Default"); d != 0 {
		t.Errorf("AuthorizerCacheTtl defaults to %v, want 0", d)
	}
	if fmt.Sprint(get(az, "identitySource", "Fn::If")) != "[CachesAuthorizer method.request.header.vmware-api-session-id map[Ref:AWS::NoValue]]" {
		t.Errorf("identitySource = %v: want none uncached (the authorizer reads header and cookie itself), the header when cached", az["identitySource"])
	}
	if !strings.EqualFold(httpapi.HeaderSessionID, "vmware-api-session-id") {
		t.Errorf("the template's identity source names vmware-api-session-id, the code %s", httpapi.HeaderSessionID)
	}

	perm := getMap(s.resource(stack.Authorize.LogicalID()+"ApiPermission"), "Properties")
	if fn, _ := ref(perm["FunctionName"]); fn != stack.Authorize.LogicalID()+".Alias" || perm["Principal"] != "apigateway.amazonaws.com" {
		t.Errorf("%sApiPermission = %v, want API Gateway allowed to invoke the authorizer's alias", stack.Authorize.LogicalID(), perm)
	}
	if src, _ := get(perm, "SourceArn", "Fn::Sub").(string); !strings.HasSuffix(src, ":${Api}/authorizers/*") {
		t.Errorf("%sApiPermission SourceArn %v: want this API's authorizers only", stack.Authorize.LogicalID(), perm["SourceArn"])
	}

	paths := getMap(body, "paths")
	var got []string
	for p := range paths {
		got = append(got, p)
	}
	slices.Sort(got)
	if !slices.Equal(got, protectedPaths) {
		t.Errorf("DefinitionBody paths %v, want exactly %v (the session routes come from the functions' events)", got, protectedPaths)
	}
	for _, p := range protectedPaths {
		base := strings.TrimSuffix(p, "/{proxy+}")
		m := getMap(paths, p, "x-amazon-apigateway-any-method")
		if sec := fmt.Sprint(m["security"]); sec != "[map[CisSession:[]]]" {
			t.Errorf("%s: security %s, want the CisSession authorizer", p, sec)
		}
		branches, _ := get(m, "x-amazon-apigateway-integration", "Fn::If").([]any)
		if len(branches) != 3 || branches[0] != "HasUpstream" {
			t.Fatalf("%s: integration %v, want !If [HasUpstream, <upstream>, <404>]", p, m["x-amazon-apigateway-integration"])
		}
		up, none := branches[1], branches[2]
		if get(up, "type") != "http_proxy" || get(up, "httpMethod") != "ANY" || get(up, "uri", "Fn::Sub") != "${UpstreamUrl}"+base+"/{proxy}" {
			t.Errorf("%s: upstream integration %v, want http_proxy ANY to $UpstreamUrl%s/{proxy}", p, up, base)
		}
		wantParams := map[string]any{
			"integration.request.path.proxy":                             "method.request.path.proxy",
			"integration.request.header." + httpapi.HeaderUser:           "context.authorizer." + lambda.ContextUser,
			"integration.request.header." + httpapi.HeaderSessionCreated: "context.authorizer." + lambda.ContextCreatedTime,
			"integration.request.header.Cookie":                          "''",
			// Nothing of the client's credentials: no Authorization
			// unless the operator opts in (ForwardClientAuthorization).
			"integration.request.header.Authorization": map[string]any{"Fn::If": []any{"ForwardsClientAuthorization", map[string]any{"Ref": "AWS::NoValue"}, "''"}},
		}
		// The session id in every spelling with '_' or '-' is replaced
		// with nothing; other spellings the authorizer refuses.
		for _, spelling := range separatorSpellings(httpapi.HeaderSessionID) {
			wantParams["integration.request.header."+spelling] = "''"
		}
		// What the service sets upstream overwrites every spelling an
		// upstream may read as it, for an answer reused from the
		// authorizer's cache, which never sees the call.
		for name, from := range map[string]string{httpapi.HeaderUser: lambda.ContextUser,
			httpapi.HeaderSessionCreated: lambda.ContextCreatedTime, httpapi.HeaderAssertion: lambda.ContextAssertion} {
			for _, spelling := range separatorSpellings(name) {
				wantParams["integration.request.header."+spelling] = "context.authorizer." + from
			}
		}
		if params := getMap(up, "requestParameters"); fmt.Sprint(params) != fmt.Sprint(wantParams) {
			t.Errorf("%s: requestParameters\n%v\nwant\n%v", p, params, wantParams)
		}
		if get(none, "type") != "mock" || get(none, "responses", "default", "statusCode") != "404" ||
			get(none, "responses", "default", "responseTemplates", "application/json") != httpapi.OperationNotFoundBody(base+"/x") {
			t.Errorf("%s: without an upstream, want a mock 404 with %s; got %v", p, httpapi.OperationNotFoundBody(base+"/x"), none)
		}
	}
}

// TestGatewayResponsesAreVAPIErrors: every answer the gateway gives itself
// is the vAPI error the session routes would give, with their headers.
func TestGatewayResponsesAreVAPIErrors(t *testing.T) {
	s := loadStack(t)
	responses := getMap(s.resource("Api"), "Properties", "GatewayResponses")
	want := map[string]struct {
		status    string
		body      string
		challenge bool
	}{
		// The authorizer's Deny carries the body for the call's surface.
		"ACCESS_DENIED":                  {"401", "$context.authorizer." + lambda.ContextErrorBody, true},
		"UNAUTHORIZED":                   {"401", httpapi.GatewayBody("unauthenticated"), true},
		"AUTHORIZER_FAILURE":             {"503", httpapi.GatewayBody("unavailable"), false},
		"AUTHORIZER_CONFIGURATION_ERROR": {"503", httpapi.GatewayBody("unavailable"), false},
		"MISSING_AUTHENTICATION_TOKEN":   {"404", httpapi.GatewayBody("not_found"), false},
		// A dead upstream, or a session function that failed or timed out.
		"INTEGRATION_FAILURE": {"503", httpapi.GatewayBody("unavailable"), false},
		"INTEGRATION_TIMEOUT": {"503", httpapi.GatewayBody("unavailable"), false},
		// The stage's method limits: the WAF rule's 429 and body.
		"THROTTLED": {"429", httpapi.GatewayBody("unavailable"), false},
		// Any other refusal keeps its own 4xx status; any other failure
		// is a 503, never a 500.
		"DEFAULT_4XX": {"", httpapi.GatewayBody("invalid_request"), false},
		"DEFAULT_5XX": {"503", httpapi.GatewayBody("unavailable"), false},
	}
	for typ, w := range want {
		r := responses[typ]
		if r == nil {
			t.Errorf("no gateway response %s", typ)
			continue
		}
		if status, _ := get(r, "StatusCode").(string); status != w.status {
			t.Errorf("%s: StatusCode %v, want %s", typ, get(r, "StatusCode"), w.status)
		}
		if b := get(r, "ResponseTemplates", "application/json"); b != w.body {
			t.Errorf("%s: body\n%v\nwant\n%s", typ, b, w.body)
		}
		headers := getMap(r, "ResponseParameters", "Headers")
		if headers["Cache-Control"] != "'no-store'" || headers["Content-Type"] != "'application/json'" {
			t.Errorf("%s: headers %v, want no-store JSON", typ, headers)
		}
		if wa, _ := headers["WWW-Authenticate"].(string); w.challenge != (wa == "'"+httpapi.Challenge+"'") {
			t.Errorf("%s: WWW-Authenticate %q (challenge wanted: %v)", typ, wa, w.challenge)
		}
	}
	for typ := range responses {
		if _, ok := want[typ]; !ok {
			t.Errorf("gateway response %s is not held by this test", typ)
		}
	}
}

// TestAnotherStackCanAttach: the outputs another stack imports to put its
// functions behind the same authorizer are exported under the stack's name.
func TestAnotherStackCanAttach(t *testing.T) {
	s := loadStack(t)
	for out, value := range map[string]string{"ApiId": "Api", "AuthorizerFunctionArn": stack.Authorize.LogicalID() + ".Alias", "ApiRootResourceId": "Api", "ApiUrl": ""} {
		o := getMap(s.tpl, "Outputs", out)
		if o == nil {
			t.Errorf("no output %s", out)
			continue
		}
		if name, _ := get(o, "Export", "Name", "Fn::Sub").(string); name != "${AWS::StackName}-"+out {
			t.Errorf("output %s exported as %v, want ${AWS::StackName}-%s", out, get(o, "Export", "Name"), out)
		}
		if value == "" {
			continue
		}
		r, _ := ref(o["Value"])
		g, _, _ := getAtt(o["Value"])
		if r != value && g != value {
			t.Errorf("output %s = %v, want %s's", out, o["Value"], value)
		}
	}
}

// separatorSpellings is every spelling of a dashed header name with each
// '-' either '-' or '_': the names CGI, PHP and WSGI read alike.
func separatorSpellings(name string) []string {
	out := []string{""}
	for i, part := range strings.Split(name, "-") {
		var next []string
		for _, o := range out {
			if i == 0 {
				next = append(next, part)
				continue
			}
			next = append(next, o+"-"+part, o+"_"+part)
		}
		out = next
	}
	return out
}

// TestTheUpstreamIsReachedOverTLSOnly: the forwarded calls carry the user's
// requests and the signed assertion, so UpstreamUrl takes https:// only
// (make run's UPSTREAM_URL, which the tests point at loopback, is not the
// template's).
func TestTheUpstreamIsReachedOverTLSOnly(t *testing.T) {
	s := loadStack(t)
	pattern := regexp.MustCompile(fmt.Sprint(get(s.tpl, "Parameters", "UpstreamUrl", "AllowedPattern")))
	for v, ok := range map[string]bool{"": true, "https://vc.example": true, "https://vc.example:8443/base": true,
		"http://vc.example": false, "HTTP://vc.example": false, "https://vc.example/": false, "ftp://vc.example": false, "https://": false} {
		if pattern.MatchString(v) != ok {
			t.Errorf("UpstreamUrl %q accepted: %v, want %v", v, !ok, ok)
		}
	}
}
