package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchmath"

	"github.com/cis-session/cis-session/dev/loadgen"
)

// benchResult is one benchmark's repetitions: unit -> one value per run,
// in the units go test printed (ns/op, not benchfmt's tidied sec/op).
type benchResult struct {
	name   string // as go test names it, without the -GOMAXPROCS suffix
	values map[string][]float64
}

// median returns the median of the benchmark's values in unit.
func (b benchResult) median(unit string) float64 { return median(b.values[unit]) }

// summary returns the median of the benchmark's values in unit with its
// confidence interval.
func (b benchResult) summary(unit string) benchmath.Summary { return summary(b.values[unit]) }

// goBench runs go test -bench and returns its benchmarks in the order they
// first appear, keeping the raw output in out/<file> (benchstat reads it).
func goBench(ctx context.Context, o options, file string, args ...string) ([]benchResult, error) {
	cmdArgs := append([]string{"test", "-run", "^$", "-benchmem", "-count", strconv.Itoa(o.count)}, args...)
	cmd := exec.CommandContext(ctx, "go", cmdArgs...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(cmdArgs, " "), err, stdout.String())
	}
	path := filepath.Join(o.out, file)
	if err := os.WriteFile(path, stdout.Bytes(), 0o644); err != nil {
		return nil, err
	}
	results, err := parseBench(&stdout, path)
	if err != nil {
		return nil, err
	}
	if len(results) == 0 {
		return nil, fmt.Errorf("go %s printed no benchmark results", strings.Join(cmdArgs, " "))
	}
	return results, nil
}

// parseBench reads go test -bench output with benchfmt, the reader
// benchstat uses.
func parseBench(r io.Reader, fileName string) ([]benchResult, error) {
	var results []benchResult
	index := map[string]int{}
	br := benchfmt.NewReader(r, fileName)
	for br.Scan() {
		switch rec := br.Result().(type) {
		case *benchfmt.SyntaxError:
			return nil, rec
		case *benchfmt.Result:
			name := benchName(rec.Name)
			i, ok := index[name]
			if !ok {
				i = len(results)
				index[name] = i
				results = append(results, benchResult{name: name, values: map[string][]float64{}})
			}
			for _, v := range rec.Values {
				unit, value := v.Unit, v.Value
				if v.OrigUnit != "" {
					unit, value = v.OrigUnit, v.OrigValue
				}
				results[i].values[unit] = append(results[i].values[unit], value)
			}
		}
	}
	return results, br.Err()
}

// benchName is the benchmark's name as go test gives it, less the
// -GOMAXPROCS suffix: "BenchmarkWarm/get".
func benchName(n benchfmt.Name) string {
	base, parts := n.Parts()
	name := "Benchmark" + string(base)
	for _, p := range parts {
		if p[0] != '-' {
			name += string(p)
		}
	}
	return name
}

// measureWarm runs the warm-path benchmarks of package lambda.
func measureWarm(ctx context.Context, o options) ([]benchResult, error) {
	return goBench(ctx, o, "warm.txt", "-bench", "^BenchmarkWarm$", "./internal/lambda/")
}

// argon2Result is one parameter set's cost per hash, with the assembly
// argon2 has on amd64 and with the generic Go code arm64 runs.
type argon2Result struct {
	params        string
	cpuMs, pureMs float64
	bytes         float64
}

// measureArgon2 runs BenchmarkHash twice: as built for this machine, and
// with -tags purego, which is the code Lambda's arm64 runs.
func measureArgon2(ctx context.Context, o options) ([]argon2Result, error) {
	asm, err := goBench(ctx, o, "argon2.txt", "-bench", "^BenchmarkHash$", "-benchtime", "10x", "./internal/argon2id/")
	if err != nil {
		return nil, err
	}
	pure, err := goBench(ctx, o, "argon2-purego.txt", "-tags", "purego", "-bench", "^BenchmarkHash$", "-benchtime", "10x", "./internal/argon2id/")
	if err != nil {
		return nil, err
	}
	var out []argon2Result
	for _, a := range asm {
		r := argon2Result{params: strings.TrimPrefix(a.name, "BenchmarkHash/"), cpuMs: a.median("cpu-ns/op") / 1e6, bytes: a.median("B/op")}
		for _, p := range pure {
			if p.name == a.name {
				r.pureMs = p.median("cpu-ns/op") / 1e6
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// roundTrip is what one kind of request cost on one engine.
type roundTrip struct {
	engine, name, requests string
}

var roundTripLog = regexp.MustCompile(`DynamoDB requests: \[(.*)\]`)

// measureRoundTrips runs the round-trip test, which asserts the counts, and
// collects the counts it logs.
func measureRoundTrips(ctx context.Context, o options) ([]roundTrip, error) {
	args := []string{"test", "-json", "-count=1", "-run", "^TestEachRequestCostsTheMinimumOfRoundTrips$", "./internal/lambda/"}
	cmd := exec.CommandContext(ctx, "go", args...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	runErr := cmd.Run()
	if err := os.WriteFile(filepath.Join(o.out, "roundtrips.json"), stdout.Bytes(), 0o644); err != nil {
		return nil, err
	}
	var out []roundTrip
	var failed []string
	dec := json.NewDecoder(&stdout)
	for dec.More() {
		var ev struct{ Action, Test, Output string }
		if err := dec.Decode(&ev); err != nil {
			return nil, fmt.Errorf("go test -json: %w", err)
		}
		parts := strings.Split(ev.Test, "/")
		if len(parts) != 3 {
			continue
		}
		if ev.Action == "fail" {
			failed = append(failed, ev.Test)
		}
		if m := roundTripLog.FindStringSubmatch(ev.Output); ev.Action == "output" && m != nil {
			reqs := strings.Join(strings.Fields(m[1]), " + ")
			if reqs == "" {
				reqs = "none"
			}
			out = append(out, roundTrip{engine: parts[1], name: parts[2], requests: reqs})
		}
	}
	if runErr != nil || len(failed) > 0 {
		return nil, fmt.Errorf("the round-trip test failed (%v): %s", runErr, strings.Join(failed, ", "))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the round-trip test logged no counts")
	}
	return out, nil
}

// confidence is the level of the intervals the report gives.
const confidence = 0.95

// summary is the median of v and its confidence interval, assuming nothing
// of the distribution, as benchstat computes them.
func summary(v []float64) benchmath.Summary {
	return benchmath.AssumeNothing.Summary(benchmath.NewSample(slices.Clone(v), &benchmath.DefaultThresholds), confidence)
}

// median returns the median of v, 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return summary(v).Center
}

// percentile returns the nearest-rank p-th percentile (0 to 100) of v.
func percentile(v []float64, p float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return loadgen.Percentile(s, p)
}
