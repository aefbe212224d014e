package lambda_test

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/cis-session/cis-session/internal/lambda"
)

func TestTuneGCTradesMemoryForCollectionsUnlessTheEnvironmentSays(t *testing.T) {
	oldPercent, oldLimit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetGCPercent(oldPercent); debug.SetMemoryLimit(oldLimit) })

	lambda.TuneGC(env(map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"}))
	if p := debug.SetGCPercent(100); p != 400 {
		t.Errorf("GC percent = %d, want 400", p)
	}
	if l := debug.SetMemoryLimit(math.MaxInt64); l != 192<<20 {
		t.Errorf("memory limit = %d, want 3/4 of 256 MiB", l)
	}

	lambda.TuneGC(env(map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "GOGC": "50", "GOMEMLIMIT": "100MiB"}))
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("GC percent = %d, want GOGC's (the runtime applied it)", p)
	}
	if l := debug.SetMemoryLimit(math.MaxInt64); l != math.MaxInt64 {
		t.Errorf("memory limit = %d, want GOMEMLIMIT's (the runtime applied it)", l)
	}
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}
