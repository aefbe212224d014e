package cloudwatch

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cis-session/cis-session/internal/session"
)

// lines records e through a Recorder whose logger passes only errors, and
// returns the JSON lines written.
func lines(t *testing.T, ctx context.Context, e session.Event) []map[string]any {
	t.Helper()
	var buf bytes.Buffer
	r := New(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError})), "fn")
	r.now = func() time.Time { return time.UnixMilli(1_790_000_000_123) }
	r.Record(ctx, e)
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestEachEventIsOneMetricAndTheAuditedOnesOneAuditLine(t *testing.T) {
	ctx := session.WithSource(context.Background(), "198.51.100.7")
	cases := []struct {
		name      string
		e         session.Event
		metric    string
		value     float64
		audit     bool
		wantAudit map[string]any
		// wantMetric: members the metric line holds besides its value.
		wantMetric map[string]any
	}{
		{"BackendFailure", session.Event{Kind: session.EventBackendFailure, Op: "get"}, MetricBackendFailure, 1, false, nil, nil},
		{"Revocation", session.Event{Kind: session.EventRevoked, User: "alice@corp.example", Sessions: 3, Actor: "arn:aws:iam::111122223333:user/ops"},
			MetricRevoked, 3, true, map[string]any{"event": "revoked", "user": "alice@corp.example", "sessions": 3.0, "actor": "arn:aws:iam::111122223333:user/ops"}, nil},
		{"AdminChange", session.Event{Kind: session.EventAdminChange, Op: "add-user", User: "bob@corp.example", Actor: "local:ops"},
			MetricAdminChange, 1, true, map[string]any{"event": "admin_change", "op": "add-user", "user": "bob@corp.example", "actor": "local:ops"}, nil},
		{"Lockout", session.Event{Kind: session.EventLockout, User: "alice@corp.example", Until: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
			MetricLockout, 1, true, map[string]any{"event": "lockout", "until": "2026-01-02T03:04:05Z", "source": "198.51.100.7"}, nil},
		// The operator's line of a take-over names the lost home region
		// and the session's reference (12 hex digits of its token's hash).
		{"TakeOver", session.Event{Kind: session.EventTakeOver, Region: "eu-west-1", Session: "0123456789ab"},
			MetricTakeOver, 1, false, nil, map[string]any{"home_region": "eu-west-1", "session": "0123456789ab"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := lines(t, ctx, c.e)
			want := 1
			if c.audit {
				want = 2
			}
			if len(got) != want {
				t.Fatalf("%d lines, want %d: %v", len(got), want, got)
			}
			m := got[0]
			if m[FieldStream] != StreamMetric || m[c.metric] != c.value || m[DimensionFunction] != "fn" {
				t.Errorf("metric line %v: want %s = %v", m, c.metric, c.value)
			}
			for k, v := range c.wantMetric {
				if m[k] != v {
					t.Errorf("metric line's %s = %v, want %v", k, m[k], v)
				}
			}
			aws, _ := m["_aws"].(map[string]any)
			if aws["Timestamp"] != 1_790_000_000_123.0 {
				t.Errorf("EMF Timestamp = %v", aws["Timestamp"])
			}
			dirs, _ := aws["CloudWatchMetrics"].([]any)
			if len(dirs) != 1 {
				t.Fatalf("EMF directives: %v", aws)
			}
			d := dirs[0].(map[string]any)
			if d["Namespace"] != Namespace {
				t.Errorf("Namespace = %v", d["Namespace"])
			}
			if ms := d["Metrics"].([]any); len(ms) != 1 || ms[0].(map[string]any)["Name"] != c.metric {
				t.Errorf("Metrics = %v", ms)
			}
			if !c.audit {
				return
			}
			a := got[1]
			if a[FieldStream] != StreamAudit {
				t.Errorf("second line is not an audit line: %v", a)
			}
			for k, v := range c.wantAudit {
				if a[k] != v {
					t.Errorf("audit %s = %v, want %v", k, a[k], v)
				}
			}
			if _, ok := a["_aws"]; ok {
				t.Errorf("an audit line is a metric too: %v", a)
			}
		})
	}
}

func TestEveryEventKindHasAMetric(t *testing.T) {
	for _, k := range []session.EventKind{session.EventLogin, session.EventLoginRefused, session.EventLockout, session.EventSessionCap,
		session.EventLogout, session.EventRevoked, session.EventBackendFailure, session.EventAdminChange,
		session.EventProviderLogout, session.EventProviderLogoutRefused, session.EventTakeOver} {
		if Metrics[k] == "" {
			t.Errorf("event %s has no metric", k)
		}
	}
}
