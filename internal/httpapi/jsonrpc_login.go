package httpapi

import (
	"bytes"
	"encoding/json"
	"strings"
)

// MaxWAFBody is how much of a request body AWS WAF inspects in front of
// API Gateway (a regional web ACL's default body inspection limit, 8 KB);
// past it the rule's OversizeHandling applies instead of its match.
const MaxWAFBody = 8 * 1024

// wafVisible reports whether a JSON-RPC log-in's body is one the
// template's per-source rate rule (LoginRateLimitAcl) is sure to count by
// its body: no longer than WAF inspects, with params, serviceId and
// operationId each given once, spelled exactly (encoding/json would also
// take "OperationID", and the last of two), and the two values written
// without escapes. A log-in WAF could miss is refused before any password
// is checked, so that no guess passes the rate rule unseen.
func wafVisible(body []byte) bool {
	if len(body) > MaxWAFBody {
		return false
	}
	params, ok := soleMember(body, "params")
	if !ok {
		return false
	}
	svc, ok1 := soleMember(params, "serviceId")
	op, ok2 := soleMember(params, "operationId")
	return ok1 && ok2 && string(svc) == `"`+ServiceSession+`"` && string(op) == `"create"`
}

// soleMember returns the raw value of the member key of the JSON object
// obj, when obj has exactly one member whose name matches key as
// encoding/json matches names (case-insensitively), and it is spelled key.
func soleMember(obj []byte, key string) (json.RawMessage, bool) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	var val json.RawMessage
	found := 0
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false
		}
		name, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, false
		}
		if strings.EqualFold(name, key) {
			if name != key {
				return nil, false
			}
			found++
			val = raw
		}
	}
	return val, found == 1
}
