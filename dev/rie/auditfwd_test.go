package rie_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cis-session/cis-session/dev/rie"
	"github.com/cis-session/cis-session/internal/auditlog"
	"github.com/cis-session/cis-session/internal/stack"
)

// TestTheAuditForwarderUnderTheEmulator runs functions/auditfwd's real
// bootstrap under the emulator with a subscription delivery of the shape
// CloudWatch Logs sends (gzip'd, base64'd, under "awslogs"), its CloudWatch
// Logs client pointed by AWS_ENDPOINT_URL_CLOUDWATCH_LOGS at a loopback
// server that speaks the service's JSON protocol: the audit line, and only
// it, lands in AUDIT_LOG_GROUP.
func TestTheAuditForwarderUnderTheEmulator(t *testing.T) {
	emulator, err := rie.Path()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var calls []string
	var put []any
	logs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &body)
		mu.Lock()
		op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "Logs_20140328.")
		calls = append(calls, fmt.Sprintf("%s %v/%v", op, body["logGroupName"], body["logStreamName"]))
		if op == "PutLogEvents" {
			put = append(put, body["logEvents"].([]any)...)
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		io.WriteString(w, "{}")
	}))
	defer logs.Close()

	ctx := context.Background()
	bootstrap, err := rie.Build(ctx, stack.Auditfwd, filepath.Join(t.TempDir(), stack.Auditfwd.Dir))
	if err != nil {
		t.Fatal(err)
	}
	em, err := rie.Start(ctx, rie.Options{RIE: emulator, Bootstrap: bootstrap, Env: []string{
		"PATH=" + os.Getenv("PATH"),
		auditlog.EnvGroup + "=cis-AuditLogGroup-1",
		"AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=" + logs.URL,
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_LAMBDA_FUNCTION_NAME=" + stack.Auditfwd.LogicalID(),
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer em.Stop()

	audit := `{"time":"2026-11-30T07:00:00Z","level":"INFO","msg":"audit","log":"audit","event":"login_refused","user":"alice@vsphere.local","cause":"wrong_password","source":"203.0.113.9"}`
	metric := `{"time":"2026-11-30T07:00:00Z","level":"INFO","msg":"metric","log":"metric","LogInRefused":1}`
	decoded, _ := json.Marshal(map[string]any{
		"messageType": "DATA_MESSAGE", "owner": "123456789012",
		"logGroup": "/aws/lambda/cis/vapi", "logStream": "2026/11/30/[1]abcdef",
		"subscriptionFilters": []string{"cis-AuditfwdFunctionVapiAudit-1"},
		"logEvents": []map[string]any{
			{"id": "1", "timestamp": 1764486000000, "message": metric},
			{"id": "2", "timestamp": 1764486000000, "message": audit},
		},
	})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(decoded)
	zw.Close()
	event := fmt.Sprintf(`{"awslogs":{"data":%q}}`, base64.StdEncoding.EncodeToString(gz.Bytes()))

	out, err := em.Invoke(ctx, []byte(event))
	if err != nil || strings.Contains(string(out), "errorMessage") {
		t.Fatalf("invoke: %v %s\n%s", err, out, em.Output())
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"CreateLogStream cis-AuditLogGroup-1/vapi/2026/11/30/[1]abcdef", "PutLogEvents cis-AuditLogGroup-1/vapi/2026/11/30/[1]abcdef"}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("CloudWatch Logs calls %v, want %v", calls, want)
	}
	if len(put) != 1 || put[0].(map[string]any)["message"] != audit {
		t.Errorf("put %v, want the audit line alone", put)
	}
}
