// Package auditevents builds, for tests, what the audit trail's forwarder is
// given: the log lines a function writes for session events, and the event
// CloudWatch Logs invokes a subscribed function with. The forwarder's tests
// and the replay's tests start from the same deliveries.
package auditevents

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cis-session/cis-session/internal/cloudwatch"
	"github.com/cis-session/cis-session/internal/session"
)

// Lines returns what a function logs for evs: the recorder's real metric and
// audit lines, and a request line after each event's.
func Lines(t testing.TB, evs ...session.Event) []string {
	t.Helper()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	rec := cloudwatch.New(log, "stack-CreateFunction-ABC")
	for _, e := range evs {
		rec.Record(context.Background(), e)
		log.Info("request", "status", 401)
	}
	return strings.Split(strings.TrimSpace(buf.String()), "\n")
}

// Subscription builds the event CloudWatch Logs invokes a subscribed
// function with: {"awslogs":{"data": base64(gzip(<the decoded shape>))}},
// the decoded shape as AWS documents it, decoded the way the Lambda runtime
// decodes the invocation's payload.
func Subscription(t testing.TB, messageType string, msgs []string, timestamps []int64) events.CloudwatchLogsEvent {
	t.Helper()
	var logEvents []map[string]any
	for i, m := range msgs {
		logEvents = append(logEvents, map[string]any{"id": fmt.Sprintf("3719530%03d", i), "timestamp": timestamps[i], "message": m})
	}
	decoded, err := json.Marshal(map[string]any{
		"messageType":         messageType,
		"owner":               "123456789012",
		"logGroup":            "/aws/lambda/cis/create",
		"logStream":           "2026/11/30/[$LATEST]0123456789abcdef",
		"subscriptionFilters": []string{"cis-AuditfwdFunctionCreateAudit-1"},
		"logEvents":           logEvents,
	})
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(decoded); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	raw := fmt.Sprintf(`{"awslogs":{"data":%q}}`, base64.StdEncoding.EncodeToString(gz.Bytes()))
	var ev events.CloudwatchLogsEvent
	if err := json.Unmarshal([]byte(raw), &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}
