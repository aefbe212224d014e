package lambda

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
)

// Correlation: every line logged with an invocation's context says whether
// the invocation was its process's first (a cold start) and names its X-Ray
// trace, so that a function's line joins its trace and the gateway's.

// invocations counts the invocations this process has begun.
var invocations atomic.Int64

type invocationKey struct{}

type invocation struct {
	coldStart bool
	traceID   string
}

// withInvocation marks ctx as one invocation's: the first of the process is
// the cold start. The trace id is the runtime's (aws-lambda-go puts the
// X-Amzn-Trace-Id header in the context and in _X_AMZN_TRACE_ID).
func withInvocation(ctx context.Context) context.Context {
	header, _ := ctx.Value("x-amzn-trace-id").(string)
	if header == "" {
		header = os.Getenv("_X_AMZN_TRACE_ID")
	}
	return context.WithValue(ctx, invocationKey{}, invocation{
		coldStart: invocations.Add(1) == 1,
		traceID:   traceRoot(header),
	})
}

// traceRoot is the Root of an X-Ray trace header ("Root=1-…;Parent=…;
// Sampled=1"): the id X-Ray finds the trace by.
func traceRoot(header string) string {
	for _, part := range strings.Split(header, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "Root="); ok {
			return v
		}
	}
	return ""
}

// Correlate wraps h so that each line logged with an invocation's context
// carries "cold_start" and, when there is one, "trace_id".
func Correlate(h slog.Handler) slog.Handler { return correlated{h} }

type correlated struct{ slog.Handler }

func (c correlated) Handle(ctx context.Context, r slog.Record) error {
	if inv, ok := ctx.Value(invocationKey{}).(invocation); ok {
		r = r.Clone()
		r.AddAttrs(slog.Bool("cold_start", inv.coldStart))
		if inv.traceID != "" {
			r.AddAttrs(slog.String("trace_id", inv.traceID))
		}
	}
	return c.Handler.Handle(ctx, r)
}

func (c correlated) WithAttrs(as []slog.Attr) slog.Handler {
	return correlated{c.Handler.WithAttrs(as)}
}

func (c correlated) WithGroup(name string) slog.Handler {
	return correlated{c.Handler.WithGroup(name)}
}
