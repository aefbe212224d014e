// Package cloudwatch records what the session service does for its
// operator, as log lines CloudWatch Logs understands, with no call to any
// AWS API at run time:
//
//   - metrics, as lines in the CloudWatch embedded metric format (EMF):
//     CloudWatch Logs turns each into a metric data point;
//   - the audit trail, as lines marked "log":"audit", which a subscription
//     filter on `{ $.log = "audit" }` routes to a log group of their own.
//
// Both are written whatever LOG_LEVEL says: a quiet log must not lose a
// metric or an audit record. Neither ever holds a token or a password.
//
// It implements session.Recorder. It must never import storage or HTTP.
//
// The EMF encoder is written here rather than taken from a library: AWS
// publishes none for Go, the Go ones are one person's each, and an EMF line
// is one JSON object our slog handler already writes.
package cloudwatch

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/cis-session/cis-session/internal/session"
)

// Namespace is the CloudWatch namespace of every metric the service emits.
const Namespace = "CISSession"

// DimensionFunction is the dimension every metric carries: the Lambda
// function's name (AWS_LAMBDA_FUNCTION_NAME), or the local runner's.
const DimensionFunction = "FunctionName"

// DimensionCause is the extra dimension of refused log-ins.
const DimensionCause = "Cause"

// The metric names, one per kind of event, each a Count.
const (
	MetricLogin          = "LogIn"
	MetricLoginRefused   = "LogInRefused"
	MetricLockout        = "Lockout"
	MetricSessionCap     = "SessionCapRefused"
	MetricLogout         = "LogOut"
	MetricRevoked        = "SessionsRevoked"
	MetricBackendFailure = "BackendFailure"
	MetricAdminChange    = "AdminChange"
	// MetricProviderLogout counts back-channel logouts accepted;
	// MetricProviderLogoutRefused those refused (by Cause, too).
	MetricProviderLogout        = "ProviderLogOut"
	MetricProviderLogoutRefused = "ProviderLogOutRefused"
	// MetricTakeOver counts sessions taken over from a home region that
	// could not be reached; its line names that region and the session.
	MetricTakeOver = "SessionTakeOver"
)

// Metrics maps each event to the metric it counts.
var Metrics = map[session.EventKind]string{
	session.EventLogin:          MetricLogin,
	session.EventLoginRefused:   MetricLoginRefused,
	session.EventLockout:        MetricLockout,
	session.EventSessionCap:     MetricSessionCap,
	session.EventLogout:         MetricLogout,
	session.EventRevoked:        MetricRevoked,
	session.EventBackendFailure: MetricBackendFailure,
	session.EventAdminChange:    MetricAdminChange,

	session.EventProviderLogout:        MetricProviderLogout,
	session.EventProviderLogoutRefused: MetricProviderLogoutRefused,
	session.EventTakeOver:              MetricTakeOver,
}

// audited lists the events the audit trail keeps: who got in, who was
// refused and from where, who left, and every administrative change.
var audited = map[session.EventKind]bool{
	session.EventLogin:        true,
	session.EventLoginRefused: true,
	session.EventLockout:      true,
	session.EventSessionCap:   true,
	session.EventLogout:       true,
	session.EventRevoked:      true,
	session.EventAdminChange:  true,

	session.EventProviderLogout:        true,
	session.EventProviderLogoutRefused: true,
}

// Field values that tell the streams apart in one log group: a line with
// "log":"audit" is an audit record, one with "log":"metric" a metric.
const (
	FieldStream  = "log"
	StreamAudit  = "audit"
	StreamMetric = "metric"
)

// Recorder writes metric and audit lines. Build it with New.
type Recorder struct {
	// RequestID names the request a line is about, from its context
	// (httpapi.RequestID); none when nil.
	RequestID func(context.Context) string

	log      *slog.Logger
	function string
	now      func() time.Time
}

// New returns a Recorder that writes through log's handler at every level,
// whatever level log itself passes, naming function in every metric.
func New(log *slog.Logger, function string) *Recorder {
	return &Recorder{log: slog.New(everyLevel{log.Handler()}), function: function, now: time.Now}
}

// everyLevel passes every record to its handler: the JSON handler checks
// no level itself, its Logger does.
type everyLevel struct{ slog.Handler }

func (everyLevel) Enabled(context.Context, slog.Level) bool { return true }

// FunctionName is the function dimension's value: AWS_LAMBDA_FUNCTION_NAME,
// or def outside Lambda.
func FunctionName(def string) string {
	if n := os.Getenv("AWS_LAMBDA_FUNCTION_NAME"); n != "" {
		return n
	}
	return def
}

// Record implements session.Recorder: one metric line for every event, and
// one audit line for those the trail keeps.
func (r *Recorder) Record(ctx context.Context, e session.Event) {
	if name, ok := Metrics[e.Kind]; ok {
		r.metric(ctx, name, e)
	}
	if audited[e.Kind] {
		r.audit(ctx, e)
	}
}

// metric writes one EMF line: the directive under "_aws", the metric's
// value and its dimensions as members of the line itself.
func (r *Recorder) metric(ctx context.Context, name string, e session.Event) {
	value := 1
	if e.Kind == session.EventRevoked {
		value = e.Sessions
	}
	dims := [][]string{{DimensionFunction}}
	attrs := r.common(ctx, StreamMetric)
	attrs = append(attrs, slog.String(DimensionFunction, r.function))
	if e.Kind == session.EventLoginRefused || e.Kind == session.EventProviderLogoutRefused {
		// Counted once in total and once by cause: an alarm watches the
		// total, a dashboard splits it.
		dims = append(dims, []string{DimensionFunction, DimensionCause})
		attrs = append(attrs, slog.String(DimensionCause, string(e.Cause)))
	}
	if e.Kind == session.EventBackendFailure {
		attrs = append(attrs, slog.String("op", e.Op))
	}
	if e.Kind == session.EventTakeOver {
		// Fields, not dimensions: an operator finds the region and the
		// session in the line (Logs Insights), the alarm needs the count.
		attrs = append(attrs, slog.String("home_region", e.Region), slog.String("session", e.Session))
	}
	attrs = append(attrs,
		slog.Int(name, value),
		slog.Any("_aws", emfMetadata{
			Timestamp: r.now().UnixMilli(),
			CloudWatchMetrics: []emfDirective{{
				Namespace:  Namespace,
				Dimensions: dims,
				Metrics:    []emfMetric{{Name: name, Unit: "Count"}},
			}},
		}))
	r.log.LogAttrs(ctx, slog.LevelInfo, "metric", attrs...)
}

// The EMF metadata object, as the specification names its members.
type emfMetadata struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// audit writes one audit line: what happened, to whom, by whom, from where.
// The time is the line's own "time".
func (r *Recorder) audit(ctx context.Context, e session.Event) {
	attrs := append(r.common(ctx, StreamAudit), slog.String("event", string(e.Kind)))
	add := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	add("user", e.User)
	add("idp", e.IdP) // a federated user's issuer: never the local user of the same name
	add("cause", string(e.Cause))
	add("class", e.Class)
	add("session", e.Session)
	add("op", e.Op)
	add("actor", e.Actor)
	add("source", session.Source(ctx))
	if e.Kind == session.EventRevoked || e.Kind == session.EventProviderLogout {
		attrs = append(attrs, slog.Int("sessions", e.Sessions))
	}
	if !e.Until.IsZero() {
		attrs = append(attrs, slog.Time("until", e.Until.UTC()))
	}
	r.log.LogAttrs(ctx, slog.LevelInfo, "audit", attrs...)
}

// common is what every line begins with: its stream and its request.
func (r *Recorder) common(ctx context.Context, stream string) []slog.Attr {
	attrs := make([]slog.Attr, 0, 12)
	attrs = append(attrs, slog.String(FieldStream, stream))
	if r.RequestID != nil {
		if id := r.RequestID(ctx); id != "" {
			attrs = append(attrs, slog.String("request_id", id))
		}
	}
	return attrs
}
