// Command cis-bench is what `make bench` runs. It measures, on this machine:
//
//   - the DynamoDB requests each kind of request costs (the round-trip test,
//     against every local engine there is);
//   - the warm path: one invocation of each function, in process, against a
//     canned-response engine on loopback (go test -bench, -benchmem);
//   - argon2id's cost per log-in for the candidate parameters;
//   - cold starts: each function's init time under the Runtime Interface
//     Emulator against a minimal aws-lambda-go function built the same way,
//     and the size of each deployment package;
//   - a bounded load of gets against the local runner, with latency
//     percentiles and the share of the time spent in the engine;
//
// and prints one Markdown report of every number docs/BENCHMARKS.md quotes,
// with what it would cost on AWS. With -docs it also rewrites the generated
// part of that file.
//
// Every process it starts, it stops; everything it talks to is on loopback.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

type options struct {
	rie          string
	out          string
	only         map[string]bool
	count        int
	coldStarts   int
	loadRequests int
	loadWorkers  int
	loadDuration time.Duration
	docs         string
	bootstraps   string
	authorizers  bool
}

var sections = []string{"roundtrips", "warm", "argon2", "cold", "load"}

func main() {
	var o options
	var only string
	flag.StringVar(&o.rie, "rie", ".tools/bin/aws-lambda-rie", "the Runtime Interface Emulator (make installs it)")
	flag.StringVar(&o.out, "out", "build/bench", "directory for binaries and raw results")
	flag.StringVar(&only, "only", strings.Join(sections, ","), "sections to run: "+strings.Join(sections, ","))
	flag.IntVar(&o.count, "count", 6, "repetitions of each go benchmark (go test -count)")
	flag.IntVar(&o.coldStarts, "cold-starts", 20, "cold starts of each function")
	flag.IntVar(&o.loadRequests, "load-requests", 20000, "gets in the load run")
	flag.IntVar(&o.loadWorkers, "load-workers", 4, "concurrent workers in the load run")
	flag.DurationVar(&o.loadDuration, "load-duration", 60*time.Second, "bound on the measured part of the load run")
	flag.StringVar(&o.docs, "docs", "", "also rewrite the generated part of this file (docs/BENCHMARKS.md)")
	flag.StringVar(&o.bootstraps, "bootstraps", "", "only compare the cold starts of these builds: name=path,name=path,... (ratios to the first)")
	flag.BoolVar(&o.authorizers, "authorizers", false, "with -bootstraps: the builds are authorizers, started with their keys as deployed (a key file) and sent an authorizer request")
	flag.Parse()
	o.only = map[string]bool{}
	for _, s := range strings.Split(only, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !contains(sections, s) {
			fatal(fmt.Errorf("-only: unknown section %q (known: %s)", s, strings.Join(sections, ",")))
		}
		o.only[s] = true
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.bootstraps != "" {
		table, err := compareBootstraps(ctx, o, o.bootstraps)
		if err != nil {
			fatal(err)
		}
		fmt.Printf("load average before: %s\n\n%s\nload average after: %s\n", describeMachine(ctx).loadBefore, table, loadAverage())
		return
	}
	if err := run(ctx, o); err != nil {
		fatal(err)
	}
}

func run(ctx context.Context, o options) error {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	var r report
	r.machine = describeMachine(ctx)
	step := func(name string, f func() error) error {
		if !o.only[name] {
			return nil
		}
		fmt.Fprintf(os.Stderr, "cis-bench: %s...\n", name)
		start := time.Now()
		if err := f(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintf(os.Stderr, "cis-bench: %s done in %s\n", name, time.Since(start).Round(time.Second))
		return nil
	}
	var err error
	if err = step("roundtrips", func() error { r.roundTrips, err = measureRoundTrips(ctx, o); return err }); err != nil {
		return err
	}
	if err = step("warm", func() error { r.warm, err = measureWarm(ctx, o); return err }); err != nil {
		return err
	}
	if err = step("argon2", func() error { r.argon2, err = measureArgon2(ctx, o); return err }); err != nil {
		return err
	}
	if err = step("cold", func() error { r.cold, err = measureColdStarts(ctx, o); return err }); err != nil {
		return err
	}
	if err = step("load", func() error { r.load, err = measureLoad(ctx, o); return err }); err != nil {
		return err
	}
	r.machine.loadAfter = loadAverage()

	md := r.markdown(o)
	fmt.Print(md)
	if err := os.WriteFile(filepath.Join(o.out, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	if o.docs != "" {
		if len(o.only) != len(sections) {
			return errors.New("-docs needs every section: run without -only")
		}
		if err := rewriteGenerated(o.docs, md); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "cis-bench: rewrote the generated part of %s\n", o.docs)
	}
	return nil
}

// rewriteGenerated replaces what lies between the begin and end markers of
// path with md.
func rewriteGenerated(path, md string) error {
	const begin, end = "<!-- cis-bench:begin -->", "<!-- cis-bench:end -->"
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %s ... %s section", path, begin, end)
	}
	s = s[:i+len(begin)] + "\n" + md + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "cis-bench:", err)
	os.Exit(1)
}
