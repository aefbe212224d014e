package main

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/cis-session/cis-session/dev/proc"
	"github.com/cis-session/cis-session/internal/stack"
)

// function is one Lambda function to build and start.
type function struct {
	name, pkg string
	event     string // an invocation that needs no DynamoDB request
	memoryMB  int    // AWS_LAMBDA_FUNCTION_MEMORY_SIZE; under the emulator it changes only the environment
	keys      keys   // where its assertion keys come from, as deployed
}

// keys says where a function reads its assertion keys at init.
type keys int

const (
	noKeys    keys = iota
	keyFile        // ASSERTION_KEY_FILE: the keys as deployed, without the network read
	keySecret      // ASSERTION_KEY_SECRET on moto's Secrets Manager, over HTTP: as deployed
)

// The functions, and the yardstick first. Each event is answered without a
// DynamoDB request (a malformed session id, no credentials), so that the
// first invocation ends at once; init is what is measured.
var functions = []function{
	{"minimal", "./dev/bench/minimal", `{}`, 128, noKeys},
	{"minimal+dynamodb", "./dev/bench/minimal-dynamodb", `{}`, 128, noKeys},
	{"create", "./functions/create", v2Event("POST", `{}`), stack.Create.MemoryMB, keyFile}, // it seals: it holds the key
	{"get", "./functions/get", malformedGet, stack.Get.MemoryMB, noKeys},
	{"floor", "./dev/bench/floor", malformedGet, stack.Get.MemoryMB, noKeys}, // the get's yardstick: the same client, request and answer, nothing else
	{"delete", "./functions/delete", v2Event("DELETE", `{"vmware-api-session-id":"not-a-session"}`), stack.Delete.MemoryMB, noKeys},
	// The front door with its keys as deployed (its seeds from a file, so
	// that no network read is in the round), its yardstick, and the front
	// door reading them from Secrets Manager (moto's, over loopback HTTP).
	{"authorize", "./functions/authorize", malformedAuthorize, stack.Authorize.MemoryMB, keyFile},
	{"authorize-floor", "./dev/bench/authorizer-floor", malformedAuthorize, stack.Authorize.MemoryMB, noKeys},
	{"authorize+secret", "./functions/authorize", malformedAuthorize, stack.Authorize.MemoryMB, keySecret},
}

// malformedAuthorize is an authorizer request with a session id that cannot
// be one: denied without DynamoDB.
const malformedAuthorize = `{"type":"REQUEST","methodArn":"arn:aws:execute-api:us-east-1:123456789012:abc/v1/GET/api/vcenter/vm",` +
	`"resource":"/api/{proxy+}","path":"/api/vcenter/vm","httpMethod":"GET","headers":{"vmware-api-session-id":"not-a-session"},` +
	`"requestContext":{"path":"/v1/api/vcenter/vm","stage":"v1","requestId":"bench","httpMethod":"GET"}}`

// malformedGet is a get with a session id that cannot be one: every
// function answers it without DynamoDB (the minimal one ignores it).
var malformedGet = v2Event("GET", `{"vmware-api-session-id":"not-a-session"}`)

func v2Event(method, headers string) string {
	return `{"version":"2.0","routeKey":"` + method + ` /api/session","rawPath":"/api/session","headers":` + headers +
		`,"requestContext":{"http":{"method":"` + method + `","path":"/api/session","protocol":"HTTP/1.1","sourceIp":"192.0.2.1"},"requestId":"bench","stage":"$default"}}`
}

// coldStart is one function's build and starts.
type coldStart struct {
	name           string
	binary, zipped int64     // bytes, for this machine's architecture
	armBinary      int64     // bytes, GOARCH=arm64 as deployed
	armZipped      int64     // bytes
	initMs         []float64 // INIT REPORT durations, one per start
	cpuMs          []float64 // CPU time of init and the first invocation, one per start
	ratios         []float64 // init / the minimal function's init in the same round
}

// measureColdStarts builds every function as `make build` does, for this
// machine and for arm64, then starts each under the emulator o.coldStarts
// times, the functions taking turns, and parses the INIT REPORT lines.
func measureColdStarts(ctx context.Context, o options) ([]coldStart, error) {
	rie, err := filepath.Abs(o.rie)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(rie); err != nil {
		return nil, fmt.Errorf("no emulator at %s (make bench installs it): %w", o.rie, err)
	}
	keyEnv, stop, err := keyEnvironments(ctx, o, true)
	if err != nil {
		return nil, err
	}
	defer stop()
	var fns []function
	for _, f := range functions {
		if _, ok := keyEnv[f.keys]; ok {
			fns = append(fns, f)
		} else {
			fmt.Fprintf(os.Stderr, "cis-bench: %s left out: moto_server is not on PATH\n", f.name)
		}
	}
	results := make([]coldStart, len(fns))
	for i, f := range fns {
		r := &results[i]
		r.name = f.name
		dir := filepath.Join(o.out, f.name)
		if r.binary, r.zipped, err = buildFunction(ctx, f.pkg, dir, runtime.GOARCH); err != nil {
			return nil, err
		}
		if r.armBinary, r.armZipped, err = buildFunction(ctx, f.pkg, filepath.Join(o.out, "arm64", f.name), "arm64"); err != nil {
			return nil, err
		}
	}
	targets := make([]target, len(fns))
	for i, f := range fns {
		dir := filepath.Join(o.out, f.name)
		boot, err := filepath.Abs(filepath.Join(dir, "package", "bootstrap"))
		if err != nil {
			return nil, err
		}
		if err := unpack(filepath.Join(dir, "function.zip"), boot); err != nil {
			return nil, err
		}
		targets[i] = target{name: f.name, bootstrap: boot, event: f.event, memoryMB: f.memoryMB, env: keyEnv[f.keys]}
	}
	inits, cpus, ratios, err := coldStartRounds(ctx, rie, targets, o.coldStarts)
	if err != nil {
		return nil, err
	}
	for i := range results {
		results[i].initMs, results[i].cpuMs, results[i].ratios = inits[i], cpus[i], ratios[i]
	}
	return results, nil
}

// target is a bootstrap to start, and the event to invoke it with.
type target struct {
	name, bootstrap, event string
	memoryMB               int
	env                    []string // more of the function's environment
}

// coldStartRounds starts each target under the emulator rounds times, the
// targets taking turns (who goes first rotates), and returns each target's
// init durations and, round by round, their ratio to the first target's.
func coldStartRounds(ctx context.Context, rie string, targets []target, rounds int) (inits, cpus, ratios [][]float64, err error) {
	// A port nothing listens on: init must not touch the network, and the
	// invocations never reach DynamoDB.
	closed, err := proc.FreePort()
	if err != nil {
		return nil, nil, nil, err
	}
	inits = make([][]float64, len(targets))
	cpus = make([][]float64, len(targets))
	ratios = make([][]float64, len(targets))
	for round := range rounds {
		this := make([]float64, len(targets))
		for k := range targets {
			i := (k + round) % len(targets)
			ms, cpu, err := startOnce(ctx, rie, targets[i], closed)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("%s, start %d: %w", targets[i].name, round+1, err)
			}
			this[i] = ms
			inits[i] = append(inits[i], ms)
			cpus[i] = append(cpus[i], cpu)
		}
		for i := range targets {
			ratios[i] = append(ratios[i], this[i]/this[0])
		}
	}
	return inits, cpus, ratios, nil
}

// buildFunction builds pkg into dir/bootstrap exactly as `make build` does
// (static, lambda.norpc, trimmed, stripped), zips it as Lambda's deployment
// package, and returns both sizes.
func buildFunction(ctx context.Context, pkg, dir, goarch string) (binary, zipped int64, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, err
	}
	boot := filepath.Join(dir, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", boot, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("build %s for %s: %w", pkg, goarch, err)
	}
	fi, err := os.Stat(boot)
	if err != nil {
		return 0, 0, err
	}
	zipPath := filepath.Join(dir, "function.zip")
	if err := zipBootstrap(boot, zipPath); err != nil {
		return 0, 0, err
	}
	zi, err := os.Stat(zipPath)
	if err != nil {
		return 0, 0, err
	}
	return fi.Size(), zi.Size(), nil
}

func zipBootstrap(boot, zipPath string) error {
	in, err := os.Open(boot)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(zipPath)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(out)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err == nil {
		_, err = io.Copy(w, in)
	}
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// unpack writes the bootstrap of the deployment package zipPath to dst, as
// Lambda unpacks a package before it starts the function: a fresh file,
// written by plain writes. Started from where the Go linker wrote it (through
// a memory map), the same bytes start up to a tenth slower, by a different
// amount for each file, which is larger than the differences measured here
// (docs/BENCHMARKS.md, "The get's cold start, measured again").
func unpack(zipPath, dst string) error {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return err
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.Name != "bootstrap" {
			continue
		}
		r, err := f.Open()
		if err != nil {
			return err
		}
		defer r.Close()
		return writeFresh(dst, r)
	}
	return fmt.Errorf("%s holds no bootstrap", zipPath)
}

// copyFresh copies the bootstrap src to dst as unpack writes one, so that
// builds given with -bootstraps start as they would on Lambda too.
func copyFresh(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return writeFresh(dst, in)
}

// writeFresh replaces dst with a new executable file holding what r reads.
func writeFresh(dst string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Remove(dst); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, r)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

var (
	initReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)`)
	initDone   = regexp.MustCompile(`INIT RTDONE\(status: (\w+)`)
)

// startOnce starts the emulator with boot on free loopback ports, invokes it
// once (the emulator initialises the function on its first invocation), and
// returns the init duration it reports. It stops the emulator, which kills
// the function, before returning.
func startOnce(ctx context.Context, rie string, t target, closedPort int) (initMs, cpuMs float64, err error) {
	boot := t.bootstrap
	ports, err := proc.FreePorts(2)
	if err != nil {
		return 0, 0, err
	}
	apiPort, emuPort := ports[0], ports[1]
	cmd := exec.Command(rie,
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(apiPort),
		"--runtime-interface-emulator-address", "127.0.0.1:"+strconv.Itoa(emuPort),
		boot)
	cmd.Dir = filepath.Dir(boot)
	cmd.Env = lambdaEnv(t, closedPort)
	emu, err := proc.Start(cmd, proc.Options{})
	if err != nil {
		return 0, 0, err
	}
	defer emu.Stop()

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := emu.WaitListening(ctx, "127.0.0.1:"+strconv.Itoa(emuPort)); err != nil {
		return 0, 0, fmt.Errorf("emulator: %w\n%s", err, emu.Output())
	}
	url := "http://127.0.0.1:" + strconv.Itoa(emuPort) + "/2015-03-31/functions/function/invocations"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(t.event))
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("invoke: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// The emulator reports init before it answers; its output may reach us
	// a moment after the answer.
	var report []string
	if err := emu.WaitReady(ctx, 5*time.Millisecond, func(context.Context) error {
		if report = initReport.FindStringSubmatch(emu.Output()); report == nil {
			return errors.New("no INIT REPORT yet")
		}
		return nil
	}); err != nil {
		return 0, 0, fmt.Errorf("no INIT REPORT from the emulator: %w\n%s", err, emu.Output())
	}
	if initMs, err = strconv.ParseFloat(report[1], 64); err != nil {
		return 0, 0, fmt.Errorf("INIT REPORT: %w", err)
	}
	switch done := initDone.FindStringSubmatch(emu.Output()); {
	case done == nil:
		return 0, 0, fmt.Errorf("no INIT RTDONE line before INIT REPORT\n%s", emu.Output())
	case done[1] != "success":
		return 0, 0, fmt.Errorf("init ended with status %s\n%s", done[1], emu.Output())
	}
	// The function now waits for its next event: what it has used of the
	// CPU is its init and its first invocation.
	if cpuMs, err = childCPU(emu.PID()); err != nil {
		return 0, 0, err
	}
	return initMs, cpuMs, nil
}

// childCPU returns the CPU time, in ms, that the threads of the emulator's
// child (the function) have used so far, from /proc/<pid>/task/*/schedstat.
func childCPU(parent int) (float64, error) {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		rest := string(stat[bytes.LastIndexByte(stat, ')')+1:])
		var state string
		var ppid int
		if _, err := fmt.Sscan(rest, &state, &ppid); err != nil || ppid != parent {
			continue
		}
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
		var ns int64
		for _, task := range tasks {
			b, err := os.ReadFile(task)
			if err != nil {
				continue
			}
			var run int64
			if _, err := fmt.Sscan(string(b), &run); err == nil {
				ns += run
			}
		}
		return float64(ns) / 1e6, nil
	}
	return 0, fmt.Errorf("no child of the emulator (%d) found", parent)
}

// lambdaEnv is the environment Lambda gives a function (the parts a Go
// function can see), with dummy credentials and DynamoDB on a closed port.
func lambdaEnv(t target, closedPort int) []string {
	return append([]string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"LANG=en_US.UTF-8",
		"TZ=:UTC",
		"AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
		"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"AWS_SESSION_TOKEN=bench",
		"AWS_LAMBDA_FUNCTION_NAME=cis-session-" + t.name,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(t.memoryMB),
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"SESSIONS_TABLE=cis-sessions",
		"USERS_TABLE=cis-users",
		"AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:" + strconv.Itoa(closedPort),
	}, t.env...)
}

// compareBootstraps is -bootstraps: cold starts of given bootstraps only,
// for comparing builds of two versions; ratios are to the first.
func compareBootstraps(ctx context.Context, o options, spec string) (string, error) {
	rie, err := filepath.Abs(o.rie)
	if err != nil {
		return "", err
	}
	var targets []target
	for _, nv := range strings.Split(spec, ",") {
		name, path, ok := strings.Cut(nv, "=")
		if !ok || name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
			return "", fmt.Errorf("-bootstraps: %q is not name=path", nv)
		}
		boot, err := filepath.Abs(filepath.Join(o.out, "bootstraps", name, "bootstrap"))
		if err != nil {
			return "", err
		}
		if err := copyFresh(path, boot); err != nil {
			return "", err
		}
		targets = append(targets, target{name: name, bootstrap: boot, event: malformedGet, memoryMB: stack.Get.MemoryMB})
	}
	if o.authorizers {
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return "", err
		}
		envs, stop, err := keyEnvironments(ctx, o, false)
		if err != nil {
			return "", err
		}
		defer stop()
		for i := range targets {
			targets[i].event, targets[i].memoryMB, targets[i].env = malformedAuthorize, stack.Authorize.MemoryMB, envs[keyFile]
		}
	}
	inits, cpus, ratios, err := coldStartRounds(ctx, rie, targets, o.coldStarts)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| bootstrap | init median, ms | p10–p90, ms | ratio to %s | CPU, init + first invocation, ms |\n|---|---:|---:|---:|---:|\n", targets[0].name)
	for i, t := range targets {
		fmt.Fprintf(&b, "| %s | %.2f | %.2f–%.2f | %.2f | %.2f |\n", t.name, median(inits[i]), percentile(inits[i], 10), percentile(inits[i], 90), median(ratios[i]), median(cpus[i]))
	}
	return b.String(), nil
}
