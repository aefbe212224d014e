package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cis-session/cis-session/dev/fixtures"
)

func eventPath(t *testing.T, name string) string {
	t.Helper()
	dir, err := fixtures.Dir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name+".json")
}

// TestRewritesAnHTTPAPIEventAsItsRESTTwin: the kept HTTP API event,
// rewritten, is the REST API event beside it; run again, it stays so.
func TestRewritesAnHTTPAPIEventAsItsRESTTwin(t *testing.T) {
	v2, err := os.ReadFile(eventPath(t, "http-api/legacy-get-cookie-ok"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(eventPath(t, "legacy-get-cookie-ok"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "e.json")
	os.WriteFile(p, v2, 0o644)
	var stderr bytes.Buffer
	if err := run([]string{p}, &stderr); err != nil {
		t.Fatalf("run: %v", err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, want) {
		t.Fatalf("rewritten:\n%s\nwant:\n%s", got, want)
	}
	if err := run([]string{p}, &stderr); err == nil || !strings.Contains(err.Error(), "not an HTTP API 2.0 event") {
		t.Fatalf("run on a REST API event: %v", err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, want) {
		t.Fatal("a refused event was changed")
	}
}

func TestStageFlag(t *testing.T) {
	v2, err := os.ReadFile(eventPath(t, "http-api/get-ok"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "e.json")
	os.WriteFile(p, v2, 0o644)
	var stderr bytes.Buffer
	if err := run([]string{"-stage", "prod", p}, &stderr); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	if !bytes.Contains(got, []byte(`"path": "/prod/api/session"`)) || !bytes.Contains(got, []byte(`"stage": "prod"`)) {
		t.Fatalf("rewritten on stage prod:\n%s", got)
	}
	if err := run(nil, &stderr); err == nil {
		t.Fatal("run without events succeeded")
	}
}
