// Package proc supervises the child processes the workshop runs: the
// DynamoDB engines (dev/localdynamo), the Lambda emulator (dev/rie) and the
// cold-start bench (dev/cmd/cis-bench). A child runs in its own process
// group, keeps a bounded tail of its output, can be waited on until it is
// ready (or has exited), and is stopped by pid: SIGTERM to its group, then
// SIGKILL after a grace period, and reaped.
//
// It also has the one free-port helper and the one tail buffer of dev/.
// It is for tests and development (on Linux, and macOS for the local
// loop); nothing that ships imports it.
package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Options says how to supervise a child. The zero value is usable.
type Options struct {
	// TailBytes bounds the output kept for Output (default 64 KiB).
	TailBytes int
	// Tee, when set, also gets all of the child's output.
	Tee io.Writer
	// Grace is how long Stop waits after SIGTERM before SIGKILL (default 3s).
	Grace time.Duration
}

// ErrExited is returned (wrapped) by WaitReady when the child ended before
// it was ready: worth a retry on a fresh port, unlike a timeout.
var ErrExited = errors.New("exited before it was ready")

// Process is a running child, started by Start.
type Process struct {
	cmd   *exec.Cmd
	out   *Tail
	grace time.Duration
	done  chan struct{} // closed once the child is reaped
	werr  error         // cmd.Wait's result, valid after done is closed

	stopOnce sync.Once
	stopErr  error
}

// Start starts cmd in a process group of its own, its stdout and stderr
// going to a bounded tail (and o.Tee). The child is SIGKILLed if the thread
// that started it dies without stopping it. The caller must Stop it.
func Start(cmd *exec.Cmd, o Options) (*Process, error) {
	if o.TailBytes <= 0 {
		o.TailBytes = 64 << 10
	}
	if o.Grace <= 0 {
		o.Grace = 3 * time.Second
	}
	out := NewTail(o.TailBytes)
	var w io.Writer = out
	if o.Tee != nil {
		w = io.MultiWriter(out, o.Tee)
	}
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = procAttr()
	// A straggler that keeps the output pipe open must not hang Wait.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, out: out, grace: o.Grace, done: make(chan struct{})}
	go p.reap()
	return p, nil
}

// reap waits for the child to end, kills what is left of its process
// group, and reaps it (waitExited, per system, says in which order).
func (p *Process) reap() {
	p.werr = waitExited(p.cmd)
	close(p.done)
}

// PID returns the child's process id, which is also its process group's.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Output returns the tail of the child's combined stdout and stderr.
func (p *Process) Output() string { return p.out.String() }

// Done is closed once the child has ended and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is what waiting for the child returned; valid once Done is closed.
func (p *Process) Err() error {
	<-p.done
	return p.werr
}

// WaitReady calls ready every interval until it succeeds while the child
// still runs (so that it was this child that answered, not another that won
// the port), the child exits (an error wrapping ErrExited), or ctx ends
// (ctx's error). It does not stop the child.
func (p *Process) WaitReady(ctx context.Context, interval time.Duration, ready func(context.Context) error) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if ready(ctx) == nil {
			select {
			case <-p.done:
			default:
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%w (%v)", ErrExited, p.werr)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// WaitListening is WaitReady until addr accepts a TCP connection.
func (p *Process) WaitListening(ctx context.Context, addr string) error {
	return p.WaitReady(ctx, 10*time.Millisecond, func(ctx context.Context) error {
		d := net.Dialer{Timeout: time.Second}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	})
}

// Stop ends the child's process group, SIGTERM then SIGKILL after the grace
// period, and waits until the child is reaped. It is idempotent and safe on
// a nil Process; it returns an error only if the group could not be
// signalled or the child did not end.
func (p *Process) Stop() error {
	if p == nil {
		return nil
	}
	p.stopOnce.Do(func() {
		pid := p.cmd.Process.Pid
		select {
		case <-p.done:
			return // ended (and its group killed) by itself
		default:
		}
		if err := syscall.Kill(-pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			p.stopErr = fmt.Errorf("stop pid %d: %w", pid, err)
		}
		select {
		case <-p.done:
			return
		case <-time.After(p.grace):
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.stopErr = fmt.Errorf("stop pid %d: still running after SIGKILL", pid)
		}
	})
	return p.stopErr
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	ports, err := FreePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// FreePorts returns n distinct loopback TCP ports that were free a moment
// ago (held open together while they are picked, so none repeats).
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Tail is an io.Writer that keeps only the last bytes written, up to its
// limit. It is safe for concurrent use.
type Tail struct {
	mu    sync.Mutex
	limit int
	buf   []byte
	cut   bool
}

// NewTail returns a Tail that keeps the last limit bytes.
func NewTail(limit int) *Tail { return &Tail{limit: limit} }

func (b *Tail) Write(p []byte) (int, error) {
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

// String returns what is kept, "[...]" first if earlier output was dropped.
func (b *Tail) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cut {
		return "[...]" + string(b.buf)
	}
	return string(b.buf)
}
