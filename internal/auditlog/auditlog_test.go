package auditlog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/cis-session/cis-session/dev/auditevents"
	"github.com/cis-session/cis-session/internal/auditlog"
	"github.com/cis-session/cis-session/internal/session"
)

// call is one request the stand-in CloudWatch Logs endpoint received.
type call struct {
	Op   string // the X-Amz-Target's operation, e.g. PutLogEvents
	Body map[string]any
}

// logsEndpoint is a real HTTP server speaking CloudWatch Logs' JSON 1.1
// protocol: it records every call and answers each operation with the
// status and body fail gives it, else 200 {}.
type logsEndpoint struct {
	mu    sync.Mutex
	calls []call
	fail  map[string]func(n int) (int, string) // by operation; n counts its calls from 1
}

func (e *logsEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op := strings.TrimPrefix(target, "Logs_20140328.")
	var body map[string]any
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &body); err != nil || op == target {
		http.Error(w, "not a CloudWatch Logs call", http.StatusBadRequest)
		return
	}
	e.mu.Lock()
	e.calls = append(e.calls, call{op, body})
	n := 0
	for _, c := range e.calls {
		if c.Op == op {
			n++
		}
	}
	fail := e.fail[op]
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if fail != nil {
		if status, msg := fail(n); status != 0 {
			w.WriteHeader(status)
			io.WriteString(w, msg)
			return
		}
	}
	io.WriteString(w, "{}")
}

func (e *logsEndpoint) Calls() []call {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]call(nil), e.calls...)
}

// forwarder returns a Forwarder whose client is configured as the function's
// is, from the environment, pointed at a stand-in endpoint by
// AWS_ENDPOINT_URL_CLOUDWATCH_LOGS.
func forwarder(t *testing.T, e *logsEndpoint) *auditlog.Forwarder {
	t.Helper()
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", srv.URL)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRetryMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	return &auditlog.Forwarder{Logs: cloudwatchlogs.NewFromConfig(cfg), Group: "stack-AuditLogGroup-XYZ"}
}

func TestForwardPutsOnlyTheAuditLinesInTimeOrder(t *testing.T) {
	e := &logsEndpoint{}
	fwd := forwarder(t, e)
	msgs := auditevents.Lines(t,
		session.Event{Kind: session.EventLoginRefused, Cause: session.CauseWrongPassword, User: "alice@vsphere.local"},
		session.Event{Kind: session.EventLogin, User: "alice@vsphere.local", Session: "0123456789ab"},
	)
	var audit []string
	for _, m := range msgs {
		if strings.Contains(m, `"log":"audit"`) {
			audit = append(audit, m)
		}
	}
	if len(audit) != 2 || len(msgs) <= len(audit) {
		t.Fatalf("recorder wrote %d lines, %d of them audit: want metric and request lines beside 2 audit lines", len(msgs), len(audit))
	}
	// Delivered out of order: the later line first.
	ts := make([]int64, len(msgs))
	for i := range msgs {
		ts[i] = int64(1764489600000 + 1000*(len(msgs)-i))
	}
	if err := fwd.Forward(context.Background(), auditevents.Subscription(t, "DATA_MESSAGE", msgs, ts)); err != nil {
		t.Fatal(err)
	}

	calls := e.Calls()
	if len(calls) != 2 || calls[0].Op != "CreateLogStream" || calls[1].Op != "PutLogEvents" {
		t.Fatalf("calls %v, want CreateLogStream then PutLogEvents", calls)
	}
	wantStream := "create/2026/11/30/[$LATEST]0123456789abcdef"
	for _, c := range calls {
		if c.Body["logGroupName"] != "stack-AuditLogGroup-XYZ" || c.Body["logStreamName"] != wantStream {
			t.Errorf("%s into %v/%v, want stack-AuditLogGroup-XYZ/%s", c.Op, c.Body["logGroupName"], c.Body["logStreamName"], wantStream)
		}
	}
	put, _ := calls[1].Body["logEvents"].([]any)
	var got []string
	last := 0.0
	for _, pe := range put {
		m := pe.(map[string]any)
		got = append(got, m["message"].(string))
		if ts := m["timestamp"].(float64); ts < last {
			t.Errorf("events not in time order: %v after %v", ts, last)
		} else {
			last = ts
		}
	}
	// Time order reverses the delivery's order.
	if len(got) != 2 || got[0] != audit[1] || got[1] != audit[0] {
		t.Errorf("put\n%v\nwant the audit lines, oldest first\n%v", got, []string{audit[1], audit[0]})
	}
	for _, m := range got {
		if !auditlog.IsAudit(m) {
			t.Errorf("put a line that is not an audit record: %s", m)
		}
	}

	// A second delivery from the same stream creates no stream again.
	if err := fwd.Forward(context.Background(), auditevents.Subscription(t, "DATA_MESSAGE", audit[:1], ts[:1])); err != nil {
		t.Fatal(err)
	}
	if n := len(e.Calls()); n != 3 || e.Calls()[2].Op != "PutLogEvents" {
		t.Errorf("second delivery: calls %v, want one more PutLogEvents", e.Calls()[2:])
	}
}

func TestForwardOutcomes(t *testing.T) {
	audit := auditevents.Lines(t, session.Event{Kind: session.EventLogout, User: "bob@vsphere.local", Session: "0123456789ab"})
	var auditLine string
	for _, l := range audit {
		if auditlog.IsAudit(l) {
			auditLine = l
		}
	}
	for _, tc := range []struct {
		name        string
		messageType string
		msgs        []string
		fail        map[string]func(int) (int, string)
		wantOps     []string
		wantErr     string
	}{
		{name: "a control message puts nothing", messageType: "CONTROL_MESSAGE", msgs: []string{"CWL CONTROL MESSAGE: Checking health of destination Lambda function."}},
		{name: "no audit line puts nothing", messageType: "DATA_MESSAGE", msgs: []string{`{"msg":"request","log":"metric"}`, "not JSON", `{"log":"audit2"}`}},
		{
			name: "a stream another instance created is used", messageType: "DATA_MESSAGE", msgs: []string{auditLine},
			fail: map[string]func(int) (int, string){"CreateLogStream": func(int) (int, string) {
				return 400, `{"__type":"ResourceAlreadyExistsException","message":"The specified log stream already exists"}`
			}},
			wantOps: []string{"CreateLogStream", "PutLogEvents"},
		},
		{
			name: "a refused put fails the delivery, so that Lambda retries it", messageType: "DATA_MESSAGE", msgs: []string{auditLine},
			fail: map[string]func(int) (int, string){"PutLogEvents": func(int) (int, string) {
				return 400, `{"__type":"ResourceNotFoundException","message":"The specified log group does not exist."}`
			}},
			wantOps: []string{"CreateLogStream", "PutLogEvents"},
			wantErr: "ResourceNotFoundException",
		},
		{
			// CloudWatch Logs answers 200 and names the lines it did not
			// keep (older than 14 days or the retention, or too new).
			name: "lines the group refuses fail the delivery", messageType: "DATA_MESSAGE", msgs: []string{auditLine},
			fail: map[string]func(int) (int, string){"PutLogEvents": func(int) (int, string) {
				return 200, `{"rejectedLogEventsInfo":{"tooOldLogEventEndIndex":1}}`
			}},
			wantOps: []string{"CreateLogStream", "PutLogEvents"},
			wantErr: "some were refused (too old before index 1",
		},
		{
			name: "a stream that cannot be created fails the delivery", messageType: "DATA_MESSAGE", msgs: []string{auditLine},
			fail: map[string]func(int) (int, string){"CreateLogStream": func(int) (int, string) {
				return 400, `{"__type":"AccessDeniedException","message":"not authorized"}`
			}},
			wantOps: []string{"CreateLogStream"},
			wantErr: "AccessDeniedException",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &logsEndpoint{fail: tc.fail}
			fwd := forwarder(t, e)
			ts := make([]int64, len(tc.msgs))
			for i := range ts {
				ts[i] = 1764489600000
			}
			err := fwd.Forward(context.Background(), auditevents.Subscription(t, tc.messageType, tc.msgs, ts))
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("Forward: %v, want error containing %q", err, tc.wantErr)
			}
			var ops []string
			for _, c := range e.Calls() {
				ops = append(ops, c.Op)
			}
			if fmt.Sprint(ops) != fmt.Sprint(tc.wantOps) {
				t.Errorf("calls %v, want %v", ops, tc.wantOps)
			}
		})
	}
}

// TestForwardSplitsWhatOnePutCannotHold: PutLogEvents takes at most 10,000
// events and 1 MiB (each message's bytes plus 26) a call.
func TestForwardSplitsWhatOnePutCannotHold(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n, size int
		want    []int
	}{
		{"many small lines", 10001, 60, []int{10000, 1}},
		{"a few big lines", 5, 300000, []int{3, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &logsEndpoint{}
			fwd := forwarder(t, e)
			line := `{"log":"audit","pad":"` + strings.Repeat("x", tc.size-len(`{"log":"audit","pad":""}`)) + `"}`
			msgs := make([]string, tc.n)
			ts := make([]int64, tc.n)
			for i := range msgs {
				msgs[i], ts[i] = line, 1764489600000+int64(i)
			}
			if err := fwd.Forward(context.Background(), auditevents.Subscription(t, "DATA_MESSAGE", msgs, ts)); err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, c := range e.Calls() {
				if c.Op == "PutLogEvents" {
					got = append(got, len(c.Body["logEvents"].([]any)))
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("puts of %v events, want %v", got, tc.want)
			}
		})
	}
}

func TestGroupFromEnvNamesTheVariable(t *testing.T) {
	t.Setenv(auditlog.EnvGroup, "")
	if _, err := auditlog.GroupFromEnv(); err == nil || !strings.Contains(err.Error(), auditlog.EnvGroup) {
		t.Errorf("GroupFromEnv() with it unset: %v, want an error naming %s", err, auditlog.EnvGroup)
	}
	t.Setenv(auditlog.EnvGroup, "g")
	if g, err := auditlog.GroupFromEnv(); g != "g" || err != nil {
		t.Errorf("GroupFromEnv() = %q, %v", g, err)
	}
}

// TestAStreamPutsTheAuditLinesWrittenToIt: what a log handler writes, in
// pieces, becomes one event per whole audit line at Flush; other lines and
// an unfinished one are not put.
func TestAStreamPutsTheAuditLinesWrittenToIt(t *testing.T) {
	e := &logsEndpoint{}
	fwd := forwarder(t, e) // for its client
	s := &auditlog.Stream{Logs: fwd.Logs, Group: "g", Name: auditlog.AdminStreamName(time.Unix(0, 0))}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{`{"log":"au`, `dit","event":"admin_change"}` + "\n" + `{"log":"metric"}` + "\n", `{"log":"audit","event":"revoked"}` + "\n" + `{"log":"audit","unfinished"`} {
		if n, err := s.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(context.Background()); err != nil { // nothing new: no call
		t.Fatal(err)
	}
	calls := e.Calls()
	if len(calls) != 2 || calls[0].Op != "CreateLogStream" || calls[1].Op != "PutLogEvents" || calls[1].Body["logStreamName"] != "cis-admin/1970-01-01T00.00.00.000Z/"+fmt.Sprint(os.Getpid()) {
		t.Fatalf("calls %v, want the stream created and one put", calls)
	}
	var got []string
	for _, pe := range calls[1].Body["logEvents"].([]any) {
		got = append(got, pe.(map[string]any)["message"].(string))
	}
	if want := []string{`{"log":"audit","event":"admin_change"}`, `{"log":"audit","event":"revoked"}`}; !slices.Equal(got, want) {
		t.Errorf("put %q, want %q", got, want)
	}
}
