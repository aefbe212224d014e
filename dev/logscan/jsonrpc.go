package logscan

import (
	"encoding/json"
	"strings"
)

// SecretsInJSONRPC records the secrets a vAPI JSON-RPC request body carries
// in its security context: the password of a user_pass context and the
// session id of a session_id one (any other token-like string too). The
// password travels in the body on that surface, so the scan must read
// bodies to know it.
func SecretsInJSONRPC(body string) {
	SecretsIn(body)
	var req struct {
		Params struct {
			Ctx struct {
				SecurityCtx map[string]any `json:"securityCtx"`
			} `json:"ctx"`
		} `json:"params"`
	}
	if json.Unmarshal([]byte(body), &req) != nil {
		return
	}
	for _, key := range []string{"password", "sessionId"} {
		if s, ok := req.Params.Ctx.SecurityCtx[key].(string); ok && strings.TrimSpace(s) != "" {
			Secret(s)
		}
	}
}
