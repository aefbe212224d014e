package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBenchLineKeepsEveryUnit(t *testing.T) {
	line := "BenchmarkWarm/get-2   \t    2000\t    453053 ns/op\t         0.1110 conns/op\t    332176 cpu-ns/op\t   44979 B/op\t     550 allocs/op"
	m := benchLine.FindStringSubmatch(line)
	if m == nil || m[1] != "BenchmarkWarm/get" {
		t.Fatalf("match = %q", m)
	}
	if f := strings.Fields(m[2]); len(f) != 10 || f[2] != "0.1110" || f[3] != "conns/op" {
		t.Fatalf("values = %q", f)
	}
}

func TestMedianAndPercentile(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median = %v", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("median = %v", m)
	}
	v := []float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	if p := percentile(v, 10); p != 1 {
		t.Errorf("p10 = %v", p)
	}
	if p := percentile(v, 90); p != 9 {
		t.Errorf("p90 = %v", p)
	}
}

func TestRewriteGeneratedReplacesOnlyBetweenTheMarkers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "B.md")
	doc := "# title\nprose\n<!-- cis-bench:begin -->\nold numbers\n<!-- cis-bench:end -->\nafter\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rewriteGenerated(path, "new numbers\n"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := "# title\nprose\n<!-- cis-bench:begin -->\nnew numbers\n<!-- cis-bench:end -->\nafter\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if err := rewriteGenerated(filepath.Join(t.TempDir(), "none.md"), "x"); err == nil {
		t.Error("no error for a missing file")
	}
}
