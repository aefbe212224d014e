package httpapi

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzWithoutSecurityContext: whatever JSON a client sends, the body
// forwarded is JSON, carries no security context that readInvoke's
// decoding would find, and is the client's own bytes when it had none.
func FuzzWithoutSecurityContext(f *testing.F) {
	f.Add(`{"jsonrpc":"2.0","method":"invoke","id":"1","params":{"serviceId":"a","operationId":"b","input":{},"ctx":{"appCtx":{},"securityCtx":{"sessionId":"s"}}}}`)
	f.Add(`{"params":{"ctx":{"securityCtx":1,"SECURITYCTX":2,"appCtx":{}}},"PARAMS":{"CTX":{"securityctx":3}}}`)
	f.Add(` { "params" : { "ctx" : { "securityCtx" : [ ] , "x" : null } } } `)
	f.Add(`{"params":{"ctx":[{"securityCtx":1}]},"params":{"ctx":{"securit\u0079Ctx":"x"}}}`)
	f.Add(`[1,2]`)
	f.Add("{\"params\":{\"ctx\":{\"securityCtx\xff\":{\"sessionId\":\"s\"}}}}")
	f.Fuzz(func(t *testing.T, body string) {
		if !json.Valid([]byte(body)) {
			return
		}
		out, err := withoutSecurityContext([]byte(body))
		if err != nil {
			t.Fatalf("valid JSON refused: %v", err)
		}
		if !json.Valid(out) {
			t.Fatalf("forwarded %q, which is not JSON (from %q)", out, body)
		}
		var params struct {
			Params *struct {
				Ctx *struct {
					SecurityCtx json.RawMessage `json:"securityCtx"`
				} `json:"ctx"`
			} `json:"params"`
		}
		if json.Unmarshal(out, &params) == nil && params.Params != nil && params.Params.Ctx != nil && params.Params.Ctx.SecurityCtx != nil {
			t.Fatalf("forwarded %q still has a security context (from %q)", out, body)
		}
		if s, _, _ := memberSpan([]byte(body), []string{"params", "ctx", "securityCtx"}); s < 0 && !bytes.Equal(out, []byte(body)) {
			t.Fatalf("changed %q into %q, which had no security context", body, out)
		}
	})
}
