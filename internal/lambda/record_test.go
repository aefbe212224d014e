package lambda_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/logscan"
	"github.com/cis-session/cis-session/internal/cloudwatch"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/lambda"
	"github.com/cis-session/cis-session/internal/session"
)

// recordingStack is a stack whose service records metrics and audit lines
// as a function's does, through a logger at ERROR: the lines must be
// written all the same.
func recordingStack(t *testing.T, srv *localdynamo.Server, env map[string]string) (*stack, *syncBuffer) {
	f := dynamotest.Setup(t, srv)
	st := newStackWith(t, f, f.DB, env)
	lines := &syncBuffer{}
	quiet := slog.New(lambda.Correlate(slog.NewJSONHandler(io.MultiWriter(lines, logscan.Writer()), &slog.HandlerOptions{Level: slog.LevelError})))
	rec := cloudwatch.New(quiet, "create-fn")
	rec.RequestID = httpapi.RequestID
	st.svc.Recorder = rec
	return st, lines
}

// logLine is one JSON line as the tests read it.
type logLine map[string]any

func (l logLine) str(k string) string { s, _ := l[k].(string); return s }

func linesOf(t *testing.T, b *syncBuffer) []logLine {
	t.Helper()
	var out []logLine
	for _, raw := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if raw == "" {
			continue
		}
		var l logLine
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("not a JSON line: %q", raw)
		}
		out = append(out, l)
	}
	return out
}

// emfMetrics checks that l is a well-formed EMF line of namespace
// cloudwatch.Namespace, and returns "Name" or "Name/Cause" for each metric
// it defines, each value 1.
func emfMetrics(t *testing.T, l logLine) []string {
	t.Helper()
	raw, _ := json.Marshal(l["_aws"])
	var md struct {
		Timestamp         *int64
		CloudWatchMetrics []struct {
			Namespace  string
			Dimensions [][]string
			Metrics    []struct{ Name, Unit string }
		}
	}
	if err := json.Unmarshal(raw, &md); err != nil || md.Timestamp == nil || len(md.CloudWatchMetrics) != 1 {
		t.Fatalf("not an EMF line: %v", l)
	}
	d := md.CloudWatchMetrics[0]
	if d.Namespace != cloudwatch.Namespace {
		t.Errorf("namespace %q", d.Namespace)
	}
	for _, set := range d.Dimensions {
		for _, dim := range set {
			if l.str(dim) == "" {
				t.Errorf("dimension %s is not a string member of the line: %v", dim, l)
			}
		}
	}
	if l.str(cloudwatch.DimensionFunction) != "create-fn" {
		t.Errorf("FunctionName = %q", l.str(cloudwatch.DimensionFunction))
	}
	if _, ok := l["user"]; ok {
		t.Errorf("a metric line names a user: %v", l)
	}
	var names []string
	for _, m := range d.Metrics {
		if v, ok := l[m.Name].(float64); !ok || v != 1 || m.Unit != "Count" {
			t.Errorf("metric %s: value %v unit %q, want 1 Count", m.Name, l[m.Name], m.Unit)
		}
		name := m.Name
		if c := l.str(cloudwatch.DimensionCause); c != "" {
			name += "/" + c
		}
		names = append(names, name)
	}
	return names
}

func TestEveryOutcomeIsAMetricAndAnAuditLine(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		st, lines := recordingStack(t, srv, map[string]string{"MAX_SESSIONS_PER_USER": "1", "LOGIN_MAX_FAILURES": "2"})
		tok := strings.Trim(st.v2("POST", "/api/session", basic(adminName, adminPass), "").Body, `"`)
		st.v2("POST", "/api/session", basic(adminName, adminPass), "")              // past the cap of 1
		st.v2("POST", "/api/session", basic("nobody@vsphere.local", adminPass), "") // unknown
		st.v2("POST", "/api/session", nil, "")                                      // no credentials
		st.v2("POST", "/api/session", basic("bad\x01name", adminPass), "")
		st.v2("DELETE", "/api/session", sid(tok), "")
		st.v2("POST", "/api/session", basic(adminName, "wrong-password-1"), "")
		st.v2("POST", "/api/session", basic(adminName, "wrong-password-2"), "") // locks
		st.v2("POST", "/api/session", basic(adminName, adminPass), "")          // locked

		var metrics []string
		var audits, sessions []string
		for _, l := range linesOf(t, lines) {
			switch l.str(cloudwatch.FieldStream) {
			case cloudwatch.StreamMetric:
				metrics = append(metrics, emfMetrics(t, l)...)
			case cloudwatch.StreamAudit:
				a := l.str("event") + ":" + l.str("cause") + ":" + l.str("user")
				if e := l.str("event"); e == "login" || e == "logout" {
					sessions = append(sessions, l.str("session"))
				}
				if src := l.str("source"); src != "192.0.2.1" {
					t.Errorf("audit line without the client's address: %v", l)
				}
				audits = append(audits, a)
			default:
				t.Errorf("a line of neither stream: %v", l)
			}
			if !strings.HasPrefix(l.str("request_id"), "lambda-req-") {
				t.Errorf("line without its Lambda request id: %v", l)
			}
			if _, ok := l["cold_start"].(bool); !ok {
				t.Errorf("line without cold_start: %v", l)
			}
		}
		wantMetrics := []string{
			"LogIn", "SessionCapRefused", "LogInRefused/unknown_user", "LogInRefused/malformed", "LogInRefused/malformed",
			"LogOut", "LogInRefused/wrong_password", "LogInRefused/wrong_password", "Lockout", "LogInRefused/locked",
		}
		if !slices.Equal(metrics, wantMetrics) {
			t.Errorf("metrics\n got %q\nwant %q", metrics, wantMetrics)
		}
		wantAudits := []string{
			// A name that is no user's is kept only masked: it may be a
			// password typed in the wrong field.
			"login::" + adminName, "session_cap::" + adminName, "login_refused:unknown_user:" + session.MaskName("nobody@vsphere.local"),
			"login_refused:malformed:", "login_refused:malformed:" + session.MaskName("bad\x01name"), "logout::",
			"login_refused:wrong_password:" + adminName, "login_refused:wrong_password:" + adminName,
			"lockout::" + adminName, "login_refused:locked:" + adminName,
		}
		if !slices.Equal(audits, wantAudits) {
			t.Errorf("audit lines\n got %q\nwant %q", audits, wantAudits)
		}
		// The log-out names the session the log-in opened, by its hash.
		if len(sessions) != 2 || len(sessions[0]) != 12 || sessions[0] != sessions[1] || strings.Contains(tok, sessions[0]) {
			t.Errorf("log-in and log-out name sessions %q (token not shown): want the same 12 hex digits of its hash", sessions)
		}
	})
}
