package stack_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/cis-session/cis-session/internal/httpapi"
)

// wafRequest is a request as a WAF rule statement inspects it.
type wafRequest struct {
	method, path string
	headers      map[string]string // names in lower case
	body         string
}

// wafMatches evaluates a WAFv2 rule statement from the template against r,
// for the statement shapes the template uses; any other shape fails the
// test rather than guess. The semantics are AWS WAF's
// (https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-type-string-match.html,
// .../waf-rule-statement-fields-list.html): a ByteMatchStatement applies its
// text transformations to the field, then its positional constraint; a
// missing header matches nothing; JsonBody parses the body as JSON and
// inspects the values at IncludedPaths (JSON Pointers), a body that is not
// JSON takes InvalidFallbackBehavior, and one longer than the 8 KB WAF
// inspects behind API Gateway takes OversizeHandling.
func wafMatches(t *testing.T, st map[string]any, r wafRequest) bool {
	t.Helper()
	if len(st) != 1 {
		t.Fatalf("a statement has one kind: %v", st)
	}
	for kind, v := range st {
		body, _ := v.(map[string]any)
		switch kind {
		case "AndStatement", "OrStatement":
			list, _ := body["Statements"].([]any)
			if len(list) < 2 {
				t.Fatalf("%s needs two statements or more: %v", kind, list)
			}
			for _, s := range list {
				m, _ := s.(map[string]any)
				if got := wafMatches(t, m, r); got != (kind == "AndStatement") {
					return got
				}
			}
			return kind == "AndStatement"
		case "NotStatement":
			return !wafMatches(t, getMap(body, "Statement"), r)
		case "ByteMatchStatement":
			return byteMatch(t, body, r)
		}
		t.Fatalf("statement %s: the evaluator does not know it", kind)
	}
	return false
}

func byteMatch(t *testing.T, bm map[string]any, r wafRequest) bool {
	t.Helper()
	search, _ := bm["SearchString"].(string)
	transform := func(s string) string {
		for _, tt := range bm["TextTransformations"].([]any) {
			switch typ := get(tt, "Type"); typ {
			case "NONE":
			case "LOWERCASE":
				s = strings.ToLower(s)
			case "URL_DECODE":
				if d, err := url.PathUnescape(s); err == nil {
					s = d
				}
			default:
				t.Fatalf("text transformation %v: the evaluator does not know it", typ)
			}
		}
		return s
	}
	match := func(field string) bool {
		field = transform(field)
		switch pc := bm["PositionalConstraint"]; pc {
		case "EXACTLY":
			return field == search
		case "STARTS_WITH":
			return strings.HasPrefix(field, search)
		case "ENDS_WITH":
			return strings.HasSuffix(field, search)
		case "CONTAINS":
			return strings.Contains(field, search)
		default:
			t.Fatalf("positional constraint %v: the evaluator does not know it", pc)
		}
		return false
	}
	ftm := getMap(bm, "FieldToMatch")
	if len(ftm) != 1 {
		t.Fatalf("FieldToMatch names one field: %v", ftm)
	}
	for field, spec := range ftm {
		switch field {
		case "Method":
			return match(r.method)
		case "UriPath":
			return match(r.path)
		case "SingleHeader":
			v, ok := r.headers[strings.ToLower(fmt.Sprint(get(spec, "Name")))]
			return ok && match(v)
		case "JsonBody":
			if get(spec, "MatchScope") != "VALUE" {
				t.Fatalf("JsonBody %v: the evaluator knows MatchScope VALUE only", spec)
			}
			fallback := func(key string) bool {
				switch b := get(spec, key); b {
				case "MATCH":
					return true
				case "NO_MATCH":
					return false
				default:
					t.Fatalf("JsonBody %s %v: the evaluator knows MATCH and NO_MATCH only", key, b)
				}
				return false
			}
			if len(r.body) > httpapi.MaxWAFBody {
				return fallback("OversizeHandling")
			}
			var doc any
			if json.Unmarshal([]byte(r.body), &doc) != nil {
				return fallback("InvalidFallbackBehavior")
			}
			for _, p := range strs(get(spec, "MatchPattern", "IncludedPaths")) {
				if v, ok := pointer(doc, p).(string); ok && match(v) {
					return true
				}
			}
			return false
		}
		t.Fatalf("field %s: the evaluator does not know it", field)
	}
	return false
}

// pointer resolves a JSON Pointer (RFC 6901) of object members in doc.
func pointer(doc any, p string) any {
	for _, tok := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		m, ok := doc.(map[string]any)
		if !ok {
			return nil
		}
		doc = m[strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")]
	}
	return doc
}

// TestTheRateRuleCountsLogInsOnly reads the per-source rate rule's scope
// from the template and evaluates it against requests: it counts every
// log-in, however the JSON-RPC SDKs send one, and no other call, so that a
// script's gets, log-outs and forwarded calls are never throttled by it.
func TestTheRateRuleCountsLogInsOnly(t *testing.T) {
	s := loadStack(t)
	rules, _ := get(s.resource("LoginRateLimitAcl"), "Properties", "Rules").([]any)
	if len(rules) != 1 {
		t.Fatalf("rules %v, want the one rate-based rule", rules)
	}
	scope := getMap(rules[0], "Statement", "RateBasedStatement", "ScopeDownStatement")
	const session = `{"jsonrpc":"2.0","method":"invoke","id":"0","params":{"serviceId":"com.vmware.cis.session","operationId":%q,` +
		`"input":{"STRUCTURE":{"operation-input":{}}},"ctx":{"appCtx":{},"securityCtx":%s}}}`
	userPass := `{"schemeId":"com.vmware.vapi.std.security.user_pass","userName":"u","password":"p"}`
	sessionID := `{"schemeId":"com.vmware.vapi.std.security.session_id","sessionId":"0123456789abcdef0123456789abcdef"}`
	create := fmt.Sprintf(session, "create", userPass)
	sdk := func(op string) map[string]string {
		return map[string]string{"content-type": "application/json", "vapi-service": "com.vmware.cis.session", "vapi-operation": op}
	}
	cases := []struct {
		name  string
		r     wafRequest
		count bool
	}{
		{"RESTLogIn", wafRequest{method: "POST", path: "/v1/api/session"}, true},
		{"LegacyRESTLogIn", wafRequest{method: "POST", path: "/rest/com/vmware/cis/session"}, true},
		// API Gateway decodes the path before it routes: these reach the log-ins.
		{"PercentEncodedRESTLogIn", wafRequest{method: "POST", path: "/v1/api/%73ession"}, true},
		{"PercentEncodedLegacyRESTLogIn", wafRequest{method: "POST", path: "/rest/com/vmware/cis/sessio%6E"}, true},
		{"PercentEncodedJSONRPCCreate", wafRequest{"POST", "/v1/%61pi", nil, create}, true},
		{"RESTLogInInAnotherCase", wafRequest{method: "POST", path: "/API/Session"}, true},
		{"JSONRPCCreateAsTheSDKsSendIt", wafRequest{"POST", "/v1/api", sdk("create"), create}, true},
		{"JSONRPCCreateWithoutHeaders", wafRequest{"POST", "/api", nil, create}, true},
		{"JSONRPCCreateSpacedAndReordered", wafRequest{"POST", "/api", nil,
			`{ "id" : 1, "params" : { "operationId" : "create", "input" : {}, "serviceId" : "com.vmware.cis.session" }, "method" : "invoke" }`}, true},
		{"JSONRPCCreateByItsHeadersInAnotherCase", wafRequest{"POST", "/api", map[string]string{"vapi-service": "COM.VMware.cis.session", "vapi-operation": "Create"}, "not json"}, true},

		{"JSONRPCGet", wafRequest{"POST", "/v1/api", sdk("get"), fmt.Sprintf(session, "get", sessionID)}, false},
		{"JSONRPCGetWithoutHeaders", wafRequest{"POST", "/api", nil, fmt.Sprintf(session, "get", sessionID)}, false},
		{"JSONRPCLogOut", wafRequest{"POST", "/api", sdk("delete"), fmt.Sprintf(session, "delete", sessionID)}, false},
		{"JSONRPCCreateOfAnotherService", wafRequest{"POST", "/api", map[string]string{"vapi-service": "com.vmware.vcenter.vm", "vapi-operation": "create"},
			strings.Replace(fmt.Sprintf(session, "create", sessionID), "com.vmware.cis.session", "com.vmware.vcenter.vm", 1)}, false},
		{"JSONRPCGetNamingCreateElsewhere", wafRequest{"POST", "/api", sdk("get"),
			strings.Replace(fmt.Sprintf(session, "get", sessionID), `"appCtx":{}`, `"appCtx":{"operationId":"create"}`, 1)}, false},
		{"JSONRPCGetLongerThanWAFReads", wafRequest{"POST", "/api", sdk("get"),
			strings.Replace(fmt.Sprintf(session, "get", sessionID), `"appCtx":{}`, `"appCtx":{"pad":"`+strings.Repeat("x", httpapi.MaxWAFBody)+`"}`, 1)}, false},
		{"JSONRPCNotJSON", wafRequest{"POST", "/api", nil, "{"}, false},
		{"RESTGet", wafRequest{method: "GET", path: "/api/session"}, false},
		{"RESTLogOut", wafRequest{method: "DELETE", path: "/api/session"}, false},
		{"AnotherPOST", wafRequest{method: "POST", path: "/api/vcenter/vm"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := wafMatches(t, scope, c.r); got != c.count {
				t.Errorf("the rate rule counts it: %v, want %v", got, c.count)
			}
		})
	}
}
