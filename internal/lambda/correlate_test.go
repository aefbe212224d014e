package lambda

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestLinesNameTheirTraceAndOnlyTheFirstInvocationIsAColdStart(t *testing.T) {
	invocations.Store(0) // as a fresh process
	t.Setenv("_X_AMZN_TRACE_ID", "")
	var buf bytes.Buffer
	log := slog.New(Correlate(slog.NewJSONHandler(&buf, nil)))
	cases := []struct {
		name      string
		ctx       context.Context
		wantCold  bool
		wantTrace string
	}{
		{"FirstInvocation", withLambdaTraceHeader(context.Background(), "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"), true, "1-5759e988-bd862e3fe1be46a994272793"},
		{"SecondInvocation", withLambdaTraceHeader(context.Background(), "Parent=1;Root=1-0000-2;Sampled=0"), false, "1-0000-2"},
		{"NoTraceHeader", context.Background(), false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			buf.Reset()
			log.InfoContext(withInvocation(c.ctx), "request", "status", 200)
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatal(err)
			}
			if line["cold_start"] != c.wantCold {
				t.Errorf("cold_start = %v, want %v", line["cold_start"], c.wantCold)
			}
			if got, _ := line["trace_id"].(string); got != c.wantTrace {
				t.Errorf("trace_id = %q, want %q", got, c.wantTrace)
			}
		})
	}
	t.Run("TraceFromTheEnvironment", func(t *testing.T) {
		t.Setenv("_X_AMZN_TRACE_ID", "Root=1-abc-def;Sampled=1")
		buf.Reset()
		log.InfoContext(withInvocation(context.Background()), "request")
		if !strings.Contains(buf.String(), `"trace_id":"1-abc-def"`) {
			t.Errorf("line %s: want the trace of _X_AMZN_TRACE_ID", buf.String())
		}
	})
	t.Run("OutsideAnInvocation", func(t *testing.T) {
		buf.Reset()
		log.Info("started")
		if strings.Contains(buf.String(), "cold_start") || strings.Contains(buf.String(), "trace_id") {
			t.Errorf("a line outside any invocation names one: %s", buf.String())
		}
	})
}

// Every function's invocation is served in a correlated context: the proxy
// handler's and the authorizer's lines alike carry cold_start and trace_id
// (here, the lines each logs of an event it cannot serve).
func TestEveryInvocationsLinesAreCorrelated(t *testing.T) {
	t.Setenv("_X_AMZN_TRACE_ID", "")
	ctx := withLambdaTraceHeader(context.Background(), "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
	var buf bytes.Buffer
	log := slog.New(Correlate(slog.NewJSONHandler(&buf, nil)))
	for name, invoke := range map[string]func(context.Context, []byte) ([]byte, error){
		"Proxy":      NewHandler(nil, log).Invoke,
		"Authorizer": NewAuthorizer(nil, log).Invoke,
	} {
		t.Run(name, func(t *testing.T) {
			buf.Reset()
			if _, err := invoke(ctx, []byte(`not an event`)); err == nil {
				t.Fatal("an event that is not one was served")
			}
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("log %q: %v", buf.String(), err)
			}
			if _, ok := line["cold_start"].(bool); !ok || line["trace_id"] != "1-5759e988-bd862e3fe1be46a994272793" {
				t.Errorf("line %s: want cold_start and the invocation's trace_id", buf.String())
			}
		})
	}
}

// withLambdaTraceHeader puts a trace header where aws-lambda-go's invoke loop
// puts it (lambda/invoke_loop.go: context.WithValue(ctx, "x-amzn-trace-id",
// traceID)): under a plain string key, which the code under test must read.
func withLambdaTraceHeader(ctx context.Context, header string) context.Context {
	//lint:ignore SA1029 the key is aws-lambda-go's, a plain string by its choice
	return context.WithValue(ctx, "x-amzn-trace-id", header)
}
