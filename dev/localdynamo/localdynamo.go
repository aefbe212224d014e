// Package localdynamo starts and stops DynamoDB-compatible engines
// (dynalite, moto) on loopback ports of this machine, for the storage and
// end-to-end tests and for the local dev runner (`make run`).
//
// Each engine runs in-memory, in its own process group, on a free
// 127.0.0.1 port, and is considered started only once it answers a
// DynamoDB ListTables request with HTTP 200.
//
// This package must never import the AWS SDK (or anything that pulls it
// in): it speaks to the engines with plain net/http, so that it stays a
// small, dependency-free piece of test and dev infrastructure that cannot
// mask or be affected by SDK behaviour under test.
package localdynamo

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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Kind names a DynamoDB-compatible engine that can run on this machine.
type Kind string

const (
	// Dynalite is the Node.js engine installed by `npm ci` at the repo root
	// (node_modules/.bin/dynalite).
	Dynalite Kind = "dynalite"
	// Moto is moto's standalone server (moto_server on PATH).
	Moto Kind = "moto"
)

// Kinds lists every Kind this package knows, in preference order.
var Kinds = []Kind{Dynalite, Moto}

// RepoRootEnv names the environment variable that, when set, overrides the
// repository root that RepoRoot would otherwise find by walking up.
const RepoRootEnv = "CIS_REPO_ROOT"

const (
	// startAttempts bounds how many fresh ports Start tries when the engine
	// exits before answering (typically a lost race for the port).
	startAttempts = 4
	// outputLimit bounds the engine output kept for error messages.
	outputLimit = 64 << 10
	// errTailLimit bounds how much of that output goes into an error.
	errTailLimit = 4 << 10
	pollInterval = 25 * time.Millisecond
	probeTimeout = 2 * time.Second
)

// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
// A variable so tests can shorten it.
var stopGrace = 3 * time.Second

// Server is a running engine on a loopback port, started by us.
type Server struct {
	// Kind is the engine.
	Kind Kind
	// Endpoint is the base URL of the engine, e.g. "http://127.0.0.1:41234".
	Endpoint string
	// Port is the loopback TCP port the engine listens on.
	Port int

	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{} // closed once the process is reaped
	werr error         // cmd.Wait's result, valid after done is closed

	stopOnce sync.Once
	stopErr  error
}

// RepoRoot returns the repository root: $CIS_REPO_ROOT when set, otherwise
// the nearest directory holding go.mod, walking up from the working
// directory.
func RepoRoot() (string, error) {
	if r := os.Getenv(RepoRootEnv); r != "" {
		abs, err := filepath.Abs(r)
		if err != nil {
			return "", fmt.Errorf("localdynamo: %s=%q: %w", RepoRootEnv, r, err)
		}
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			return "", fmt.Errorf("localdynamo: %s=%q is not a directory", RepoRootEnv, r)
		}
		return abs, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("localdynamo: working directory: %w", err)
	}
	for dir := wd; ; {
		if fi, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !fi.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("localdynamo: no go.mod found above %s (set %s)", wd, RepoRootEnv)
		}
		dir = parent
	}
}

// program returns the executable that runs the engine and the directory to
// run it in ("" for the inherited one), or an error saying why it cannot
// be found.
func program(kind Kind) (path, dir string, err error) {
	switch kind {
	case Dynalite:
		root, err := RepoRoot()
		if err != nil {
			return "", "", err
		}
		bin := filepath.Join(root, "node_modules", ".bin", "dynalite")
		fi, err := os.Stat(bin)
		if err != nil {
			return "", "", fmt.Errorf("%s not found (run `npm ci` in %s)", bin, root)
		}
		if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return "", "", fmt.Errorf("%s is not executable (run `npm ci` in %s)", bin, root)
		}
		// The script's shebang is `#!/usr/bin/env node`.
		if _, err := exec.LookPath("node"); err != nil {
			return "", "", fmt.Errorf("node is not on PATH (needed by %s)", bin)
		}
		return bin, root, nil
	case Moto:
		p, err := exec.LookPath("moto_server")
		if err != nil {
			return "", "", fmt.Errorf("moto_server is not on PATH")
		}
		return p, "", nil
	default:
		return "", "", fmt.Errorf("unknown engine kind %q (known: %s, %s)", kind, Dynalite, Moto)
	}
}

// args returns the engine's arguments for listening on 127.0.0.1:port.
func args(kind Kind, port int) []string {
	p := strconv.Itoa(port)
	switch kind {
	case Dynalite:
		// In-memory unless --path is given. Zero delays make tables
		// ACTIVE (and gone, and updated) immediately.
		return []string{"--host", "127.0.0.1", "--port", p,
			"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"}
	case Moto:
		// In-memory always.
		return []string{"-H", "127.0.0.1", "-p", p}
	}
	return nil
}

// Available reports whether the engine's program can be found
// (dynalite: node_modules/.bin/dynalite under the repo root, and node on
// PATH; moto: moto_server on PATH), with a reason when it cannot.
func Available(kind Kind) (ok bool, reason string) {
	if _, _, err := program(kind); err != nil {
		return false, err.Error()
	}
	return true, ""
}

// Start launches an engine of the given kind, in-memory, on a free loopback
// port, and waits until it answers DynamoDB requests, bounded by ctx.
// If the engine exits before answering (e.g. it lost a race for the port),
// Start retries a few times on a new port. The caller must Stop the server.
func Start(ctx context.Context, kind Kind) (*Server, error) {
	bin, dir, err := program(kind)
	if err != nil {
		return nil, fmt.Errorf("localdynamo: start %s: %w", kind, err)
	}
	return start(ctx, kind, func(port int) *exec.Cmd {
		cmd := exec.Command(bin, args(kind, port)...)
		cmd.Dir = dir
		return cmd
	})
}

// start runs the engine built by mk on fresh ports until one answers.
func start(ctx context.Context, kind Kind, mk func(port int) *exec.Cmd) (*Server, error) {
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		if err := ctx.Err(); err != nil {
			if lastErr != nil {
				return nil, fmt.Errorf("%w (after: %v)", err, lastErr)
			}
			return nil, fmt.Errorf("localdynamo: start %s: %w", kind, err)
		}
		port, err := FreePort()
		if err != nil {
			return nil, fmt.Errorf("localdynamo: start %s: %w", kind, err)
		}
		s, exited, err := launch(ctx, kind, port, mk(port))
		if err == nil {
			return s, nil
		}
		lastErr = err
		if !exited {
			// Not a port race: the engine is broken or ctx ran out.
			return nil, err
		}
	}
	return nil, fmt.Errorf("localdynamo: start %s: gave up after %d attempts: %w", kind, startAttempts, lastErr)
}

// launch starts cmd and waits until it answers on port. exited reports that
// the process ended by itself before answering (worth a retry).
func launch(ctx context.Context, kind Kind, port int, cmd *exec.Cmd) (s *Server, exited bool, err error) {
	out := &tailBuffer{limit: outputLimit}
	cmd.Stdin = nil
	cmd.Stdout = out
	cmd.Stderr = out
	// Own process group, so Stop can end the engine and anything it
	// spawned (and, on Linux, SIGKILL if the thread that started it dies
	// without stopping it): see procAttr.
	cmd.SysProcAttr = ProcAttr()
	// If a straggler keeps the output pipe open, do not hang in Wait.
	cmd.WaitDelay = time.Second

	s = &Server{
		Kind:     kind,
		Endpoint: "http://127.0.0.1:" + strconv.Itoa(port),
		Port:     port,
		cmd:      cmd,
		out:      out,
		done:     make(chan struct{}),
	}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, false, fmt.Errorf("localdynamo: start %s: %w", kind, err)
	}
	go s.reap()

	client := &http.Client{Timeout: probeTimeout}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if probe(ctx, client, s.Endpoint) == nil {
			// Make sure it is our process that answered, not another
			// one that won the port.
			select {
			case <-s.done:
			default:
				return s, false, nil
			}
		}
		select {
		case <-s.done:
			return nil, true, fmt.Errorf("localdynamo: start %s on port %d: engine exited before answering (%v) after %v%s",
				kind, port, s.werr, time.Since(began).Round(time.Millisecond), s.outputTail())
		case <-ctx.Done():
			_ = s.Stop()
			return nil, false, fmt.Errorf("localdynamo: start %s on port %d: not answering after %v: %w%s",
				kind, port, time.Since(began).Round(time.Millisecond), ctx.Err(), s.outputTail())
		case <-tick.C:
		}
	}
}

// reap waits for the engine's process to end, kills any remaining members
// of its process group, and reaps it (waitExited says in which order).
func (s *Server) reap() {
	s.werr = waitExited(s.cmd)
	close(s.done)
}

// Stop kills the engine's whole process group (SIGTERM, then SIGKILL after
// a short grace) and waits until it is reaped. It is idempotent and safe
// on a nil Server. It returns an error only if the engine could not be
// signalled or did not end.
func (s *Server) Stop() error {
	if s == nil {
		return nil
	}
	s.stopOnce.Do(func() {
		pid := s.cmd.Process.Pid
		select {
		case <-s.done:
			return // already ended (and its group killed) by itself
		default:
		}
		if err := syscall.Kill(-pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			s.stopErr = fmt.Errorf("localdynamo: stop %s (pid %d): %w", s.Kind, pid, err)
		}
		select {
		case <-s.done:
			return
		case <-time.After(stopGrace):
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.stopErr = fmt.Errorf("localdynamo: stop %s (pid %d): still running after SIGKILL", s.Kind, pid)
		}
	})
	return s.stopErr
}

// PID returns the engine's process id (also its process group id).
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Output returns the tail of the engine's combined stdout and stderr.
func (s *Server) Output() string { return s.out.String() }

// Done is closed once the engine's process has ended and been reaped.
func (s *Server) Done() <-chan struct{} { return s.done }

func (s *Server) outputTail() string {
	t := strings.TrimSpace(s.out.String())
	if t == "" {
		return "; no output"
	}
	if len(t) > errTailLimit {
		t = "..." + t[len(t)-errTailLimit:]
	}
	return "; output tail:\n" + t
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Probe sends a DynamoDB ListTables request, with a fake SigV4-style
// Authorization header, to endpoint and reports an error unless it answers
// HTTP 200.
func Probe(ctx context.Context, endpoint string) error {
	client := &http.Client{Timeout: probeTimeout}
	defer client.CloseIdleConnections()
	return probe(ctx, client, endpoint)
}

func probe(ctx context.Context, client *http.Client, endpoint string) error {
	req, err := NewRequest(ctx, endpoint, "ListTables", []byte(`{}`))
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ListTables: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}

// NewRequest builds a raw DynamoDB JSON request for operation (e.g.
// "ListTables") with body, carrying the headers the engines expect: the
// X-Amz-Target, the JSON content type, and a fake but well-formed SigV4
// Authorization for region us-east-1 (the engines do not verify
// signatures).
func NewRequest(ctx context.Context, endpoint, operation string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+operation)
	req.Header.Set("X-Amz-Date", now.Format("20060102T150405Z"))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDLOCAL/"+now.Format("20060102")+
		"/us-east-1/dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, "+
		"Signature=0000000000000000000000000000000000000000000000000000000000000000")
	return req, nil
}

// tailBuffer is an io.Writer that keeps only the last limit bytes written.
type tailBuffer struct {
	mu    sync.Mutex
	limit int
	buf   []byte
	cut   bool
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if len(p) >= b.limit {
		b.buf = append(b.buf[:0], p[len(p)-b.limit:]...)
		b.cut = true
		return n, nil
	}
	if over := len(b.buf) + len(p) - b.limit; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
		b.cut = true
	}
	b.buf = append(b.buf, p...)
	return n, nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cut {
		return "[...]" + string(b.buf)
	}
	return string(b.buf)
}
