// Package lambda serves the HTTP surface as an AWS Lambda function behind
// API Gateway, for both of its payloads: HTTP API (2.0) and REST API (1.0).
// Each functions/<name>/main.go is a call to Main.
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

	"github.com/aws/aws-lambda-go/events"
	awslambda "github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/cis-session/cis-session/internal/app"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/httpapi"
)

// Handler adapts an http.Handler to API Gateway events.
type Handler struct {
	v1  *httpadapter.HandlerAdapter
	v2  *httpadapter.HandlerAdapterV2
	log *slog.Logger
}

// NewHandler returns the Lambda handler serving h.
func NewHandler(h http.Handler, log *slog.Logger) *Handler {
	return &Handler{v1: httpadapter.New(h), v2: httpadapter.NewV2(h), log: log}
}

// payloadProbe holds the fields that tell the two payloads apart.
type payloadProbe struct {
	Version string `json:"version"`
}

// Invoke implements lambda.Handler: raw event in, raw response out.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		ctx = httpapi.WithRequestID(ctx, lc.AwsRequestID)
	}
	// Most events are HTTP API's payload 2.0: decode those once. A REST API
	// event, which its httpMethod gives away, goes straight to the probe.
	if !bytes.Contains(payload, []byte(`"httpMethod"`)) {
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(payload, &ev); err == nil && ev.Version == "2.0" {
			return h.serveV2(ctx, ev)
		}
	}
	var probe payloadProbe
	if err := json.Unmarshal(payload, &probe); err != nil {
		// Not an API Gateway event at all: a misconfigured trigger. There
		// is no client to answer; fail the invocation.
		h.log.ErrorContext(ctx, "event is not JSON", "request_id", httpapi.RequestID(ctx), "error", err.Error())
		return nil, errors.New("event is not an API Gateway proxy event")
	}
	if probe.Version == "2.0" {
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(payload, &ev); err != nil {
			return json.Marshal(badEventV2(""))
		}
		return h.serveV2(ctx, ev)
	}
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(payload, &ev); err != nil {
		return json.Marshal(badEventV1(""))
	}
	resp, err := h.v1.ProxyWithContext(ctx, ev)
	if err != nil {
		h.log.InfoContext(ctx, "malformed event", "request_id", httpapi.RequestID(ctx), "error", err.Error())
		resp = badEventV1(ev.Path)
	}
	return marshal(resp)
}

func (h *Handler) serveV2(ctx context.Context, ev events.APIGatewayV2HTTPRequest) ([]byte, error) {
	resp, err := h.v2.ProxyWithContext(ctx, ev)
	if err != nil {
		h.log.InfoContext(ctx, "malformed event", "request_id", httpapi.RequestID(ctx), "error", err.Error())
		resp = badEventV2(cmp.Or(ev.RawPath, ev.RequestContext.HTTP.Path))
	}
	return marshal(resp)
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

// An event the adapter cannot turn into a request (a body marked base64 that
// is not, a method or path net/http refuses) is the client's bad request,
// shaped as the surface of the path it was sent to.
func badEventV2(path string) events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{
		StatusCode: http.StatusBadRequest,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       httpapi.InvalidRequestBody(path),
	}
}

func badEventV1(path string) events.APIGatewayProxyResponse {
	return events.APIGatewayProxyResponse{
		StatusCode: http.StatusBadRequest,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       httpapi.InvalidRequestBody(path),
	}
}

// Main is the whole of a function's main: it reads the configuration, builds
// the DynamoDB client once, and serves ops until the runtime stops it. A bad
// configuration fails the function's init with a message naming the variable.
func Main(ops ...httpapi.Operation) {
	cfg, err := config.Load()
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("bad configuration", "error", err.Error())
		os.Exit(1)
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	// Libraries that use the standard log package log JSON lines too.
	slog.SetDefault(log)
	db, err := dynamo.NewClient(context.Background())
	if err != nil {
		log.Error("cannot configure DynamoDB client", "error", err.Error())
		os.Exit(1)
	}
	TuneGC(os.LookupEnv)
	awslambda.Start(NewHandler(app.NewHandler(cfg, db, log, ops...), log))
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
