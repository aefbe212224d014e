// Package rie runs a function's real bootstrap under the AWS Lambda Runtime
// Interface Emulator (aws-lambda-rie, the emulator `sam local invoke` runs
// inside its container), on loopback ports of this machine, without Docker:
// for `make invoke` (dev/cmd/cis-invoke) and the emulator test.
//
// The emulator serves the Lambda invoke API on one port and the Runtime API
// on another; the bootstrap polls the Runtime API for the event and posts
// its response there, exactly as on Lambda.
package rie

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/stack"
)

// PathEnv names the environment variable holding the emulator's path
// (`make test` and `make invoke` set it); by default it is
// .tools/bin/aws-lambda-rie under the repository, where `make rie` puts it.
const PathEnv = "CIS_RIE"

// InvokePath is the emulator's invoke API.
const InvokePath = "/2015-03-31/functions/function/invocations"

// FunctionTimeout bounds one invocation (a cold start included).
const FunctionTimeout = 30 * time.Second

// Path returns the emulator's executable, or an error saying how to install it.
func Path() (string, error) {
	p := os.Getenv(PathEnv)
	if p == "" {
		root, err := localdynamo.RepoRoot()
		if err != nil {
			return "", err
		}
		p = filepath.Join(root, ".tools", "bin", "aws-lambda-rie")
	}
	fi, err := os.Stat(p)
	if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("the Lambda Runtime Interface Emulator is not at %s: run `make rie` (or `make test`) to install it", p)
	}
	return filepath.Abs(p)
}

// Build builds f's bootstrap for this machine's architecture into dir, with
// the target `sam build` runs (make build-<LogicalId>), and returns its path.
func Build(ctx context.Context, f stack.Function, dir string) (string, error) {
	root, err := localdynamo.RepoRoot()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "-s", "-C", root,
		"build-"+f.LogicalID(), "ARTIFACTS_DIR="+abs, "ARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("make build-%s: %w\n%s", f.LogicalID(), err, out)
	}
	return filepath.Join(abs, "bootstrap"), nil
}

// Tables names the tables the function is given.
type Tables struct{ Sessions, Users string }

// FunctionEnv is the environment a function gets locally: its configuration
// (as template.yaml sets it, with local table names), the local DynamoDB
// endpoint, a region and dummy credentials (local engines check none), and
// the Lambda settings the emulator reports. Nothing else of the caller's
// environment is passed on, so no profile or real credentials leak in.
// readOnFailedCondition is for an engine that does not return the item with a
// failed condition (dynalite).
func FunctionEnv(f stack.Function, endpoint string, t Tables, readOnFailedCondition bool, logLevel string) []string {
	if logLevel == "" {
		logLevel = "INFO"
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		config.EnvSessionsTable + "=" + t.Sessions,
		config.EnvUsersTable + "=" + t.Users,
		config.EnvLogLevel + "=" + logLevel,
		config.EnvReadOnFailedCondition + "=" + strconv.FormatBool(readOnFailedCondition),
		"AWS_ENDPOINT_URL_DYNAMODB=" + endpoint,
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=local",
		"AWS_SECRET_ACCESS_KEY=local",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_LAMBDA_FUNCTION_NAME=" + f.LogicalID(),
		"AWS_LAMBDA_FUNCTION_TIMEOUT=" + strconv.Itoa(int(FunctionTimeout/time.Second)),
	}
	// The idle timeout, lifetime and domain keep their defaults unless the
	// caller's environment sets them, as a stack's parameters would.
	for _, k := range []string{config.EnvIdleTimeout, config.EnvMaxLifetime, config.EnvDefaultDomain} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// Emulator is a running aws-lambda-rie serving one bootstrap.
type Emulator struct {
	// URL is the invoke endpoint: POST an event, read the response.
	URL string

	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	werr error

	stopOnce sync.Once
	stopErr  error
}

// Options says what to run.
type Options struct {
	RIE       string    // the emulator's executable
	Bootstrap string    // the function's bootstrap
	Env       []string  // the function's environment (see FunctionEnv)
	Output    io.Writer // where the emulator's and the function's output also go; nil for none
}

const startAttempts = 3

// Start runs the emulator for the bootstrap on two free loopback ports and
// waits until it accepts connections. The caller must Stop it.
func Start(ctx context.Context, o Options) (*Emulator, error) {
	var lastErr error
	for range startAttempts {
		e, exited, err := start(ctx, o)
		if err == nil {
			return e, nil
		}
		lastErr = err
		if !exited {
			break
		}
	}
	return nil, lastErr
}

func start(ctx context.Context, o Options) (e *Emulator, exited bool, err error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, false, err
	}
	invokeAddr := "127.0.0.1:" + strconv.Itoa(ports[0])
	runtimeAddr := "127.0.0.1:" + strconv.Itoa(ports[1])
	bootstrap, err := filepath.Abs(o.Bootstrap)
	if err != nil {
		return nil, false, err
	}
	cmd := exec.Command(o.RIE,
		"--runtime-interface-emulator-address", invokeAddr,
		"--runtime-api-address", runtimeAddr,
		"--log-level", "warn",
		bootstrap)
	// The emulator runs the bootstrap in its working directory, as Lambda
	// runs it in /var/task.
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = o.Env
	out := &syncBuffer{tee: o.Output}
	cmd.Stdout, cmd.Stderr = out, out
	// Own process group; killed if we die without stopping it. (The
	// emulator starts the bootstrap in a process group of its own and ends
	// it when it is itself stopped.)
	cmd.SysProcAttr = localdynamo.ProcAttr()
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return nil, false, fmt.Errorf("start %s: %w", o.RIE, err)
	}
	e = &Emulator{URL: "http://" + invokeAddr + InvokePath, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { e.werr = cmd.Wait(); close(e.done) }()

	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if c, err := net.DialTimeout("tcp", invokeAddr, time.Second); err == nil {
			c.Close()
			select {
			case <-e.done:
			default:
				return e, false, nil
			}
		}
		select {
		case <-e.done:
			return nil, true, fmt.Errorf("aws-lambda-rie exited before listening (%v): %s", e.werr, e.Output())
		case <-ctx.Done():
			_ = e.Stop()
			return nil, false, ctx.Err()
		case <-deadline.C:
			_ = e.Stop()
			return nil, false, fmt.Errorf("aws-lambda-rie not listening on %s after 15s: %s", invokeAddr, e.Output())
		case <-tick.C:
		}
	}
}

// Invoke sends event to the function and returns its response payload.
func (e *Emulator) Invoke(ctx context.Context, event []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, FunctionTimeout+5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(event))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("invoke: read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("invoke: the emulator answered HTTP %d: %s", resp.StatusCode, body)
	}
	// A function error (a crash, a panic, a failed init) comes back as
	// 200 with an error document instead of a proxy response.
	if bytes.Contains(body, []byte(`"errorType"`)) && !bytes.Contains(body, []byte(`"statusCode"`)) {
		return nil, fmt.Errorf("invoke: the function failed: %s", body)
	}
	return body, nil
}

// Output returns what the emulator and the function have written so far.
func (e *Emulator) Output() string { return e.out.String() }

// Stop ends the emulator (which ends the bootstrap) and waits for it: SIGTERM,
// then SIGKILL to its process group after a grace period. Idempotent.
func (e *Emulator) Stop() error {
	if e == nil {
		return nil
	}
	e.stopOnce.Do(func() {
		pid := e.cmd.Process.Pid
		select {
		case <-e.done:
			return
		default:
		}
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			e.stopErr = fmt.Errorf("stop aws-lambda-rie (pid %d): %w", pid, err)
		}
		select {
		case <-e.done:
			return
		case <-time.After(5 * time.Second):
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		select {
		case <-e.done:
		case <-time.After(5 * time.Second):
			e.stopErr = fmt.Errorf("stop aws-lambda-rie (pid %d): still running after SIGKILL", pid)
		}
	})
	return e.stopErr
}

// PID returns the emulator's process id.
func (e *Emulator) PID() int { return e.cmd.Process.Pid }

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// syncBuffer keeps the last 256 KiB written, and copies all to tee.
type syncBuffer struct {
	mu  sync.Mutex
	b   []byte
	tee io.Writer
}

const keepOutput = 256 << 10

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	if over := len(s.b) - keepOutput; over > 0 {
		s.b = append(s.b[:0], s.b[over:]...)
	}
	if s.tee != nil {
		_, _ = s.tee.Write(p)
	}
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.TrimSpace(string(s.b))
}
