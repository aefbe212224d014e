package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// benchResult is one benchmark's repetitions: unit -> one value per run.
type benchResult struct {
	name   string
	values map[string][]float64
}

// median returns the median of the benchmark's values in unit.
func (b benchResult) median(unit string) float64 { return median(b.values[unit]) }

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.+)$`)

// goBench runs go test -bench and returns its benchmarks in the order they
// first appear, keeping the raw output in out/<file>.
func goBench(ctx context.Context, o options, file string, args ...string) ([]benchResult, error) {
	cmdArgs := append([]string{"test", "-run", "^$", "-benchmem", "-count", strconv.Itoa(o.count)}, args...)
	cmd := exec.CommandContext(ctx, "go", cmdArgs...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(cmdArgs, " "), err, stdout.String())
	}
	if err := os.WriteFile(filepath.Join(o.out, file), stdout.Bytes(), 0o644); err != nil {
		return nil, err
	}
	var results []benchResult
	index := map[string]int{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		i, ok := index[m[1]]
		if !ok {
			i = len(results)
			index[m[1]] = i
			results = append(results, benchResult{name: m[1], values: map[string][]float64{}})
		}
		f := strings.Fields(m[2])
		for k := 0; k+1 < len(f); k += 2 {
			v, err := strconv.ParseFloat(f[k], 64)
			if err == nil {
				results[i].values[f[k+1]] = append(results[i].values[f[k+1]], v)
			}
		}
	}
	if len(results) == 0 {
		return nil, fmt.Errorf("go %s printed no benchmark results", strings.Join(cmdArgs, " "))
	}
	return results, nil
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

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile returns the nearest-rank p-th percentile (0 to 100) of v.
func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	rank := int(p/100*float64(len(s))+0.999999) - 1
	return s[max(0, min(rank, len(s)-1))]
}
