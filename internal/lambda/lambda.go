// Package lambda serves an http.Handler as an AWS Lambda function behind
// API Gateway, for both of its payloads: HTTP API (2.0) and REST API (1.0).
// Each functions/<name>/main.go builds its handler and calls Start.
//
// It must never import storage or configuration: main wires those.
package lambda

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	awslambda "github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/cis-session/cis-session/internal/httpapi"
)

// Handler adapts an http.Handler to API Gateway events.
type Handler struct {
	h   http.Handler
	log *slog.Logger
}

// NewHandler returns the Lambda handler serving h.
func NewHandler(h http.Handler, log *slog.Logger) *Handler {
	return &Handler{h: h, log: log}
}

// payloadProbe holds the fields that tell the two payloads apart.
type payloadProbe struct {
	Version any `json:"version"`
}

// ReasonAdapterRefused is logged if the handler wrote no answer at all: a
// bug of ours, answered as the client's bad request, as every answer must
// be a vAPI body.
const ReasonAdapterRefused = "adapter refused the event"

// DeadlineMargin is kept back from the invocation's deadline: every storage
// call must give up by then, so that the function still has time to answer
// 503 itself. A function the runtime kills at its deadline answers nothing
// the client could read as a vAPI error.
const DeadlineMargin = 250 * time.Millisecond

// invocationContext is the context every invocation is served in, whatever
// its event: marked for correlation (cold start, trace), carrying the
// Lambda request id for the log, and ending DeadlineMargin before the
// invocation's deadline. The caller must call cancel.
func invocationContext(ctx context.Context) (_ context.Context, cancel context.CancelFunc) {
	ctx = withInvocation(ctx)
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		ctx = httpapi.WithRequestID(ctx, lc.AwsRequestID)
	}
	if deadline, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, deadline.Add(-DeadlineMargin))
	}
	return ctx, func() {}
}

// Invoke implements lambda.Handler: raw event in, raw response out.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	ctx, cancel := invocationContext(ctx)
	defer cancel()
	// Each payload is decoded once when it is well formed: a REST API event
	// (what the deployed stack sends) gives itself away by its httpMethod,
	// an HTTP API one by its absence. Anything else goes to the probe.
	if bytes.Contains(payload, []byte(`"httpMethod"`)) {
		var ev restEvent
		if err := json.Unmarshal(payload, &ev); err == nil && ev.Version != "2.0" {
			return h.serveV1(ctx, &ev.APIGatewayProxyRequest)
		}
	} else {
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(payload, &ev); err == nil && ev.Version == "2.0" {
			return h.serveV2(ctx, &ev)
		}
	}
	var probe payloadProbe
	if err := json.Unmarshal(payload, &probe); err != nil {
		// Not an API Gateway event at all: a misconfigured trigger. There
		// is no client to answer; fail the invocation.
		h.log.ErrorContext(ctx, "event is not JSON", "request_id", httpapi.RequestID(ctx), "error", err.Error())
		return nil, errors.New("event is not an API Gateway proxy event")
	}
	if probe.Version == "2.0" { // any other value, or none, is the REST API's payload
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(payload, &ev); err != nil {
			return h.rejectV2(ctx, "", "event fields of the wrong type")
		}
		return h.serveV2(ctx, &ev)
	}
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(payload, &ev); err != nil {
		return h.rejectV1(ctx, "", "event fields of the wrong type")
	}
	return h.serveV1(ctx, &ev)
}

// restEvent is a REST API (payload 1.0) event with the version field that
// tells an HTTP API's payload 2.0 from it, decoded in one pass.
type restEvent struct {
	events.APIGatewayProxyRequest
	Version any `json:"version"`
}

func (h *Handler) serveV1(ctx context.Context, ev *events.APIGatewayProxyRequest) ([]byte, error) {
	r, reason := requestV1(ctx, ev)
	if r == nil {
		return h.rejectV1(ctx, ev.Path, reason)
	}
	w := newResponseWriter()
	h.h.ServeHTTP(w, r)
	if !w.answered() {
		return h.rejectV1(ctx, ev.Path, ReasonAdapterRefused)
	}
	return marshal(w.responseV1())
}

func (h *Handler) serveV2(ctx context.Context, ev *events.APIGatewayV2HTTPRequest) ([]byte, error) {
	path := cmp.Or(ev.RawPath, ev.RequestContext.HTTP.Path)
	r, reason := requestV2(ctx, ev)
	if r == nil {
		return h.rejectV2(ctx, path, reason)
	}
	w := newResponseWriter()
	h.h.ServeHTTP(w, r)
	if !w.answered() {
		return h.rejectV2(ctx, path, ReasonAdapterRefused)
	}
	return marshal(w.responseV2())
}

// rejectV2 and rejectV1 answer an event that is no well-formed request as
// the client's bad request, shaped as the surface of the path it was sent to.
func (h *Handler) rejectV2(ctx context.Context, path, reason string) ([]byte, error) {
	h.logRejection(ctx, reason)
	return marshal(events.APIGatewayV2HTTPResponse{
		StatusCode: http.StatusBadRequest,
		Headers:    badEventHeaders(),
		Body:       httpapi.InvalidRequestBody(path),
	})
}

func (h *Handler) rejectV1(ctx context.Context, path, reason string) ([]byte, error) {
	h.logRejection(ctx, reason)
	return marshal(events.APIGatewayProxyResponse{
		StatusCode: http.StatusBadRequest,
		Headers:    badEventHeaders(),
		Body:       httpapi.InvalidRequestBody(path),
	})
}

func (h *Handler) logRejection(ctx context.Context, reason string) {
	level := slog.LevelInfo // the client's mistake
	if reason == ReasonAdapterRefused {
		level = slog.LevelError // ours
	}
	h.log.Log(ctx, level, "malformed event", "request_id", httpapi.RequestID(ctx), "reason", reason)
}

func badEventHeaders() map[string]string {
	return map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// Start serves h as the function's handler until the runtime stops it,
// with the garbage collector sized to the function's memory (TuneGC).
func Start(h http.Handler, log *slog.Logger) {
	TuneGC(os.LookupEnv)
	awslambda.Start(NewHandler(h, log))
}

// Logger returns the logger a function logs with: JSON lines on stdout, at
// level, each naming its invocation's cold start and trace (Correlate). It becomes the default, so that libraries that use the standard
// log package log JSON lines too.
func Logger(level slog.Level) *slog.Logger {
	log := slog.New(Correlate(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level})))
	slog.SetDefault(log)
	return log
}

// Fatal fails the function's init: it logs what went wrong as a JSON line
// and exits, so that a bad configuration names its variable in the log
// instead of misbehaving on requests.
func Fatal(what string, err error) {
	slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error(what, "error", err.Error())
	os.Exit(1)
}

// TuneGC spends memory, which a function has more of than its small heap
// needs (Lambda sizes memory for CPU), on less garbage collection: the heap
// may grow to five times what is live before a collection, instead of twice,
// which saves about 7% of a warm invocation's CPU (make bench). A soft limit
// at three quarters of the function's memory makes the collector work harder
// near the top instead of running out. GOGC and GOMEMLIMIT, when set, win.
func TuneGC(lookup func(string) (string, bool)) {
	if _, set := lookup("GOGC"); !set {
		debug.SetGCPercent(400)
	}
	if _, set := lookup("GOMEMLIMIT"); !set {
		mb, _ := lookup("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
		if n, err := strconv.ParseInt(mb, 10, 64); err == nil && n > 0 {
			debug.SetMemoryLimit(n << 20 / 4 * 3)
		}
	}
}
