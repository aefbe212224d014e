package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/cis-session/cis-session/internal/stack"
)

type machine struct {
	date, goVersion, cpu, kernel string
	cpus                         int
	loadBefore, loadAfter        string
}

type report struct {
	machine    machine
	roundTrips []roundTrip
	warm       []benchResult
	argon2     []argon2Result
	cold       []coldStart
	load       *loadResult
}

func describeMachine(ctx context.Context) machine {
	m := machine{
		date:       time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		cpus:       runtime.NumCPU(),
		loadBefore: loadAverage(),
		cpu:        "unknown",
		kernel:     "unknown",
	}
	if out, err := exec.CommandContext(ctx, "go", "version").Output(); err == nil {
		m.goVersion = strings.TrimPrefix(strings.TrimSpace(string(out)), "go version ")
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(b))
	}
	return m
}

// loadAverage is the 1, 5 and 15 minute load averages: how busy the machine
// was with other work.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// Published prices, us-east-1, as of 2026: see docs/BENCHMARKS.md for where
// each comes from.
const (
	lambdaArmPerGBs     = 0.0000133334                    // $ per GB-second, arm64, first 7.5 billion GB-s a month
	lambdaPerRequest    = 0.20 / 1e6                      // $ per request
	restAPIPerRequest   = 3.50 / 1e6                      // $ per request, REST API (what template.yaml deploys), first 333 million a month
	dynamoPerWRU        = 0.625 / 1e6                     // $ per write request unit, on-demand
	logsPerGB           = 0.50                            // $ per GB of CloudWatch Logs ingested
	fullVCPUMB          = float64(stack.FullVCPUMemoryMB) // memory at which a function has one whole vCPU
	platformLogBytes    = 260                             // Lambda's own START, END and REPORT lines per invocation (text format)
	assumedDynamoDBMs   = 4.0                             // an UpdateItem from Lambda in the same region: an assumption, not measured here
	assumedRuntimeAPIMs = 0.3                             // the runtime API's /next and response posts per invocation: an assumption
)

func (r report) markdown(o options) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	m := r.machine
	w("## Machine\n\n")
	w("| | |\n|---|---|\n")
	w("| date | %s |\n| CPU | %s, %d logical CPUs (`nproc`) |\n| kernel | %s |\n| Go | %s |\n", m.date, m.cpu, m.cpus, m.kernel, m.goVersion)
	w("| load average (1, 5, 15 min) | before: %s; after: %s |\n\n", m.loadBefore, m.loadAfter)

	if len(r.roundTrips) > 0 {
		w("## DynamoDB requests per request\n\n")
		w("Asserted by `TestEachRequestCostsTheMinimumOfRoundTrips` (internal/lambda/roundtrips_test.go), counted at the SDK's HTTP client against each local engine.\n\n")
		engines := []string{}
		byName := map[string]map[string]string{}
		var names []string
		for _, rt := range r.roundTrips {
			if !contains(engines, rt.engine) {
				engines = append(engines, rt.engine)
			}
			if byName[rt.name] == nil {
				byName[rt.name] = map[string]string{}
				names = append(names, rt.name)
			}
			byName[rt.name][rt.engine] = rt.requests
		}
		w("| request |")
		for _, e := range engines {
			w(" %s |", e)
		}
		w("\n|---|")
		for range engines {
			w("---|")
		}
		w("\n")
		for _, n := range names {
			w("| %s |", n)
			for _, e := range engines {
				w(" %s |", byName[n][e])
			}
			w("\n")
		}
		w("\n")
	}

	if len(r.warm) > 0 {
		w("## Warm path, in process\n\n")
		w("`go test -run '^$' -bench '^BenchmarkWarm$' -benchmem -count %d ./internal/lambda/`: one invocation (API Gateway event in, response out) against a canned-response engine on loopback; median of %d runs, parsed and summarised with golang.org/x/perf (benchfmt, benchmath: ± is the %.0f%% confidence interval of the median, as benchstat gives it). cpu is this process's CPU time per invocation (all goroutines, GC included), which is what Lambda bills at a fraction of a vCPU; the engine's work is in another process. Log bytes are what the function writes to CloudWatch Logs; new connections, how many the engine saw per invocation (a warm function should open none). create is measured with a stored hash of m=8 KiB, t=1: argon2id is measured below.\n\n", o.count, o.count, confidence*100)
		w("| invocation | wall µs | cpu µs | bytes allocated | allocations | log bytes | new connections to the engine |\n|---|---:|---:|---:|---:|---:|---:|\n")
		for _, x := range r.warm {
			if x.name == getOverFloorBench || x.name == authorizeOverFloorBench {
				continue // a ratio, told below the cold starts
			}
			wall, cpu := x.summary("ns/op"), x.summary("cpu-ns/op")
			w("| %s | %.0f ±%s | %.0f ±%s | %.0f | %.0f | %.0f | %.3f |\n", strings.TrimPrefix(x.name, "BenchmarkWarm/"),
				wall.Center/1e3, wall.PctRangeString(), cpu.Center/1e3, cpu.PctRangeString(),
				x.median("B/op"), x.median("allocs/op"), x.median("log-B/op"), x.median("conns/op"))
		}
		w("\n")
	}

	if len(r.argon2) > 0 {
		w("## argon2id per log-in\n\n")
		w("`go test -run '^$' -bench '^BenchmarkHash$' -benchmem -benchtime 10x -count %d ./internal/argon2id/`, and again with `-tags purego` (the generic Go code, which is what arm64 runs: golang.org/x/crypto/argon2 has assembly only for amd64). CPU time of one hash (a log-in verifies once, at the same cost) on one core of this machine, then scaled to the CPU share Lambda gives a memory size (memory/%.0f MB of a vCPU), using the purego time.\n\n", o.count, fullVCPUMB)
		w("| parameters | memory | amd64 asm, ms | generic Go, ms | at 512 MB, ms | at 1024 MB, ms | at %d MB, ms | $ per million log-ins at %d MB |\n|---|---:|---:|---:|---:|---:|---:|---:|\n", stack.FullVCPUMemoryMB, stack.Create.MemoryMB)
		for _, a := range r.argon2 {
			at := func(mb float64) float64 { return a.pureMs * math.Max(1, fullVCPUMB/mb) }
			create := float64(stack.Create.MemoryMB)
			cost := (at(create)/1000)*(create/1024.0)*lambdaArmPerGBs*1e6 + lambdaPerRequest*1e6
			w("| %s | %.0f MiB | %.1f | %.1f | %.0f | %.0f | %.0f | %.2f |\n", a.params, a.bytes/(1<<20), a.cpuMs, a.pureMs, at(512), at(1024), at(fullVCPUMB), cost)
		}
		w("\n")
	}

	if len(r.cold) > 0 {
		w("## Cold start\n\n")
		w("Each function built as `make build` builds it (`CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags='-s -w'`), for this machine (%s) and for arm64, zipped, unpacked from its zip as Lambda unpacks it (a fresh file: the linker's own output starts slower), started %d times under the Runtime Interface Emulator (%s), the functions taking turns; init is the emulator's `INIT REPORT(durationMs: …)`: from starting `bootstrap` until it asks for its first event. The ratio is the median, over the rounds, of a function's init over the minimal aws-lambda-go function's init in the same round (goal: at most 1.3). CPU is what the function's threads used by the time it answered its first invocation (from /proc/<pid>/task/*/schedstat): steadier than wall time on a busy machine. Packages are the zipped `bootstrap`.\n\n", runtime.GOARCH, o.coldStarts, o.rie)
		w("| function | init median, ms | p10–p90, ms | ratio to minimal | CPU, init + first invocation, ms | binary (%s) | zip (%s) | binary (arm64) | zip (arm64) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n", runtime.GOARCH, runtime.GOARCH)
		for _, c := range r.cold {
			w("| %s | %.2f | %.2f–%.2f | %.2f | %.2f | %s | %s | %s | %s |\n", c.name, median(c.initMs), percentile(c.initMs, 10), percentile(c.initMs, 90),
				median(c.ratios), median(c.cpuMs), mib(c.binary), mib(c.zipped), mib(c.armBinary), mib(c.armZipped))
		}
		w("\n")
	}
	r.getOverFloor(w)
	r.authorizeOverFloor(w)

	if r.load != nil {
		l := r.load
		c := l.client
		w("## Load: gets against `make run`\n\n")
		w("cis-bench starts the local runner (dev/cmd/cis-local with its own in-memory dynalite) on a free loopback port; %d workers, each with its own session, send %d gets after %d unmeasured ones (the same as `go run ./dev/cmd/cis-load -n %d -c %d` against `make run`). The load generator, the service and dynalite share this machine's %d CPUs.\n\n", l.workers, l.requests, l.warmup, l.requests, l.workers, r.machine.cpus)
		w("| gets | gets/s | p50 ms | p90 ms | p99 ms | max ms | mean ms |\n|---:|---:|---:|---:|---:|---:|---:|\n")
		w("| %d | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f |\n\n", len(c.Latencies), c.Throughput(),
			msf(c.Percentile(50)), msf(c.Percentile(90)), msf(c.Percentile(99)), msf(c.Percentile(100)), msf(c.Mean()))
		s := l.server
		if s.Requests > 0 {
			per := func(total float64) float64 { return total / float64(s.Requests) }
			w("The runner's own account of its %d gets (warm-up included): per get, %.2f ms in the service (its handler, from request to response), of which %.2f ms waiting for DynamoDB (%.2f requests each): **%.0f%% of the service's time is the engine's**, %.2f ms is the service's own.\n\n",
				s.Requests, per(s.ServiceMs), per(s.DynamoDBMs), float64(s.DynamoDBRequests)/float64(s.Requests),
				100*s.DynamoDBMs/s.ServiceMs, per(s.ServiceMs-s.DynamoDBMs))
		}
	}

	r.costs(w)
	return b.String()
}

// getOverFloorBench is the warm-path benchmark that invokes the get and its
// floor in turns and reports their CPU ratio.
const getOverFloorBench = "BenchmarkWarm/get-over-floor"

// getOverFloor prints the get's cost over its floor (dev/bench/floor), each
// measured in turns with it: init round by round, warm CPU invocation by
// invocation.
func (r report) getOverFloor(w func(string, ...any)) {
	var get, floor *coldStart
	for i := range r.cold {
		switch r.cold[i].name {
		case "get":
			get = &r.cold[i]
		case "floor":
			floor = &r.cold[i]
		}
	}
	var warm *benchResult
	for i := range r.warm {
		if r.warm[i].name == getOverFloorBench {
			warm = &r.warm[i]
		}
	}
	if (get == nil || floor == nil) && warm == nil {
		return
	}
	w("## The get over its floor\n\n")
	w("The floor (dev/bench/floor) is a bare aws-lambda-go function, typed v2 event in, with the same DynamoDB client, the same conditional UpdateItem (ALL_NEW) and the same answer as the get; what the get costs over it is the adapter, the HTTP surface and the access log. Goal: warm CPU at most 1.1 times the floor's.\n\n")
	w("| measure | get / floor, median | p10–p90 |\n|---|---:|---:|\n")
	if get != nil && floor != nil && len(get.initMs) == len(floor.initMs) {
		ratios := make([]float64, len(get.initMs))
		for i := range ratios {
			ratios[i] = get.initMs[i] / floor.initMs[i] // the same round
		}
		w("| init, under the emulator, started in turns (%d rounds) | %.2f | %.2f–%.2f |\n", len(ratios), median(ratios), percentile(ratios, 10), percentile(ratios, 90))
	}
	if warm != nil {
		v := warm.values["get/floor-cpu"]
		w("| warm CPU per invocation, invoked in turns (`%s`, %d runs) | %.3f | %.3f–%.3f |\n", strings.TrimPrefix(getOverFloorBench, "Benchmark"), len(v), median(v), percentile(v, 10), percentile(v, 90))
	}
	w("\n")
}

// authorizeOverFloorBench is the warm-path benchmark that invokes the
// authorizer, its keys as deployed, and its floor in turns.
const authorizeOverFloorBench = "BenchmarkWarm/authorize-over-floor"

// authorizeOverFloor prints the front door's cost, with its keys as
// deployed, over its floor (dev/bench/authorizer-floor), and what reading
// the keys from Secrets Manager adds to its init.
func (r report) authorizeOverFloor(w func(string, ...any)) {
	cold := map[string]*coldStart{}
	for i := range r.cold {
		cold[r.cold[i].name] = &r.cold[i]
	}
	var warm *benchResult
	for i := range r.warm {
		if r.warm[i].name == authorizeOverFloorBench {
			warm = &r.warm[i]
		}
	}
	door, floor, secret := cold["authorize"], cold["authorize-floor"], cold["authorize+secret"]
	if (door == nil || floor == nil) && warm == nil {
		return
	}
	w("## The front door over its floor, with its keys as deployed\n\n")
	w("The authorizer as deployed: its key seeds read at init (from a file here, `ASSERTION_KEY_FILE`, so that the round holds no network read; the secret's read is the last row), each allowed call's session seal checked and an ES256 assertion for the upstream signed (reused for the same session for up to a minute: `assertion.ReuseFor`). Its floor (dev/bench/authorizer-floor) is a bare aws-lambda-go REQUEST authorizer with the same DynamoDB client and the same conditional UpdateItem, answering Allow with the same context; no seal, no assertion, no log. Goal: at most 1.1 times the floor, cold and warm.\n\n")
	w("| measure | authorizer / floor, median | p10–p90 |\n|---|---:|---:|\n")
	inTurns := func(a, b *coldStart) []float64 {
		if a == nil || b == nil || len(a.initMs) != len(b.initMs) {
			return nil
		}
		ratios := make([]float64, len(a.initMs))
		for i := range ratios {
			ratios[i] = a.initMs[i] / b.initMs[i] // the same round
		}
		return ratios
	}
	if ratios := inTurns(door, floor); ratios != nil {
		w("| init, under the emulator, started in turns (%d rounds) | %.2f | %.2f–%.2f |\n", len(ratios), median(ratios), percentile(ratios, 10), percentile(ratios, 90))
	}
	if warm != nil {
		v := warm.values["authorize/floor-cpu"]
		w("| warm CPU per allowed call, invoked in turns (`%s`, %d runs) | %.3f | %.3f–%.3f |\n", strings.TrimPrefix(authorizeOverFloorBench, "Benchmark"), len(v), median(v), percentile(v, 10), percentile(v, 90))
	}
	if ratios := inTurns(secret, floor); ratios != nil {
		added := make([]float64, len(secret.initMs))
		for i := range added {
			added[i] = secret.initMs[i] - door.initMs[i]
		}
		w("| init reading the keys from Secrets Manager (moto on loopback, over HTTP), in turns | %.2f | %.2f–%.2f |\n", median(ratios), percentile(ratios, 10), percentile(ratios, 90))
		w("\nThe read itself (three `GetSecretValue` at once, moto on loopback): %.2f ms added to init, median of the rounds' differences (p10–p90 %.2f–%.2f ms).\n", median(added), percentile(added, 10), percentile(added, 90))
	}
	w("\n")
}

// costs prints what a million gets would cost on AWS, from the measured CPU
// time of a warm get and the published prices.
func (r report) costs(w func(string, ...any)) {
	var get benchResult
	for _, x := range r.warm {
		if x.name == "BenchmarkWarm/get" {
			get = x
		}
	}
	if get.name == "" {
		return
	}
	cpuMs := get.median("cpu-ns/op") / 1e6
	logBytes := get.median("log-B/op") + platformLogBytes
	w("## What a million gets would cost on AWS\n\n")
	w("From the warm get's measured CPU time (%.3f ms on one core here), scaled to the function's CPU share, plus an assumed %.0f ms for the UpdateItem in the same region and %.1f ms for the runtime API (neither is measured here), billed in whole milliseconds; arm64 prices, us-east-1. DynamoDB: one UpdateItem of an item under 1 KB is one write request unit. Logs: the service's access line (%.0f bytes, measured) and Lambda's START/END/REPORT lines (about %d bytes).\n\n",
		cpuMs, assumedDynamoDBMs, assumedRuntimeAPIMs, get.median("log-B/op"), platformLogBytes)
	w("| get memory | billed ms | Lambda requests | Lambda duration | REST API | DynamoDB (1 WRU) | CloudWatch Logs | total per million gets |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, mb := range []float64{128, 256, 512, 1024} {
		billed := math.Ceil(assumedDynamoDBMs + assumedRuntimeAPIMs + cpuMs*math.Max(1, fullVCPUMB/mb))
		duration := billed / 1000 * mb / 1024 * lambdaArmPerGBs * 1e6
		logs := logBytes / 1e9 * logsPerGB * 1e6
		total := lambdaPerRequest*1e6 + duration + restAPIPerRequest*1e6 + dynamoPerWRU*1e6 + logs
		w("| %.0f MB | %.0f | $%.2f | $%.3f | $%.2f | $%.3f | $%.3f | **$%.2f** |\n", mb, billed,
			lambdaPerRequest*1e6, duration, restAPIPerRequest*1e6, dynamoPerWRU*1e6, logs, total)
	}
	w("\n")
}

func mib(n int64) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
