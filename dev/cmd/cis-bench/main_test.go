package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseBenchKeepsEveryUnitAsPrinted(t *testing.T) {
	out := "goos: linux\ngoarch: amd64\npkg: example\n" +
		"BenchmarkWarm/get-2   \t    2000\t    453053 ns/op\t         0.1110 conns/op\t    332176 cpu-ns/op\t   44979 B/op\t     550 allocs/op\n" +
		"BenchmarkWarm/get-2   \t    2000\t    453057 ns/op\t         0.1120 conns/op\t    332178 cpu-ns/op\t   44979 B/op\t     551 allocs/op\n" +
		"BenchmarkHash/m=46MiB,t=1 \t 10\t 90000000 ns/op\n" +
		"PASS\nok  \texample\t1.0s\n"
	got, err := parseBench(strings.NewReader(out), "warm.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].name != "BenchmarkWarm/get" || got[1].name != "BenchmarkHash/m=46MiB,t=1" {
		t.Fatalf("benchmarks = %+v", got)
	}
	for unit, want := range map[string][]float64{
		"ns/op": {453053, 453057}, "conns/op": {0.1110, 0.1120}, "cpu-ns/op": {332176, 332178},
		"B/op": {44979, 44979}, "allocs/op": {550, 551},
	} {
		if !slices.Equal(got[0].values[unit], want) {
			t.Errorf("%s = %v, want %v", unit, got[0].values[unit], want)
		}
	}
	if len(got[0].values) != 5 {
		t.Errorf("units = %v, want exactly those printed", got[0].values)
	}
}

func TestParseBenchRefusesAMalformedLine(t *testing.T) {
	if _, err := parseBench(strings.NewReader("BenchmarkWarm/get-2 \t many \t 1 ns/op\n"), "x.txt"); err == nil {
		t.Error("a line without an iteration count was accepted")
	}
}

func TestSummaryIsTheMedianWithinItsInterval(t *testing.T) {
	s := summary([]float64{10, 11, 12, 13, 14, 15, 100})
	if s.Center != 13 || !(s.Lo <= s.Center && s.Center <= s.Hi) || s.Confidence < confidence {
		t.Errorf("summary = %+v", s)
	}
	if few := summary([]float64{1, 2}); len(few.Warnings) == 0 {
		t.Error("no warning for too few samples for an interval")
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

// TestColdStartsRunTheBootstrapUnzippedFromItsPackage: what is started is
// a fresh file holding the package's bootstrap, executable, as Lambda
// unpacks it, and never the linker's own output file (which starts slower,
// by a different amount for each file).
func TestColdStartsRunTheBootstrapUnzippedFromItsPackage(t *testing.T) {
	dir := t.TempDir()
	built := filepath.Join(dir, "bootstrap")
	want := []byte("#!/bin/sh\necho a bootstrap\n")
	if err := os.WriteFile(built, want, 0o755); err != nil {
		t.Fatal(err)
	}
	zipped := filepath.Join(dir, "function.zip")
	if err := zipBootstrap(built, zipped); err != nil {
		t.Fatal(err)
	}
	for name, write := range map[string]func(dst string) error{
		"unpack":    func(dst string) error { return unpack(zipped, dst) },
		"copyFresh": func(dst string) error { return copyFresh(built, dst) },
	} {
		dst := filepath.Join(dir, name, "package", "bootstrap")
		for range 2 { // the second time, over the first's file
			if err := write(dst); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		got, err := os.ReadFile(dst)
		if err != nil || string(got) != string(want) {
			t.Errorf("%s wrote %q (%v), want %q", name, got, err, want)
		}
		fi, err := os.Stat(dst)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s: %s is not executable (%v)", name, dst, fi.Mode())
		}
		if orig, _ := os.Stat(built); os.SameFile(fi, orig) {
			t.Errorf("%s: %s is the built file itself", name, dst)
		}
	}
	if err := unpack(built, filepath.Join(dir, "x")); err == nil {
		t.Error("unpack took a file that is not a zip")
	}
}
