package proc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeEnv makes the test binary act as a child to supervise (see runFake).
const fakeEnv = "PROC_FAKE_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeEnv); mode != "" {
		runFake(mode, os.Args[len(os.Args)-1])
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runFake is a stand-in server: it spawns a `sleep` child (in its process
// group) and prints its pid, then listens on port; or exits at once in mode
// "fail"; or, in mode "stubborn", ignores SIGTERM.
func runFake(mode, port string) {
	switch mode {
	case "fail":
		fmt.Fprintln(os.Stderr, "fake child: cannot bind port", port)
		os.Exit(3)
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
	}
	child := exec.Command("sleep", "300")
	if err := child.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "fake child:", err)
		os.Exit(4)
	}
	fmt.Printf("child=%d\n", child.Process.Pid)
	l, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		os.Exit(5)
	}
	for {
		c, err := l.Accept()
		if err != nil {
			os.Exit(6)
		}
		c.Close()
	}
}

// startFake starts the fake in mode on a free port and waits until it listens.
func startFake(t *testing.T, mode string, o Options) (*Process, string) {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$", strconv.Itoa(port))
	cmd.Env = append(os.Environ(), fakeEnv+"="+mode)
	p, err := Start(cmd, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.WaitListening(ctx, addr); err != nil {
		t.Fatalf("fake %s: %v\n%s", mode, err, p.Output())
	}
	return p, addr
}

func TestStopKillsGroup(t *testing.T) {
	t.Parallel()
	p, addr := startFake(t, "serve", Options{})
	child := waitChild(t, p)
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if !processGone(p.PID()) || !goneSoon(child) {
		t.Errorf("after Stop: leader %d gone=%v, child %d gone=%v",
			p.PID(), processGone(p.PID()), child, processGone(child))
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Stop", addr)
	}
}

func TestStopEscalatesToSIGKILL(t *testing.T) {
	t.Parallel()
	const grace = 200 * time.Millisecond
	p, _ := startFake(t, "stubborn", Options{Grace: grace})
	child := waitChild(t, p)
	began := time.Now()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d < grace {
		t.Errorf("stubborn child stopped after %v, before the grace period", d)
	}
	if !processGone(p.PID()) || !goneSoon(child) {
		t.Errorf("after Stop: leader or child still present")
	}
}

func TestLeaderDeathKillsGroup(t *testing.T) {
	t.Parallel()
	p, _ := startFake(t, "serve", Options{})
	child := waitChild(t, p)
	// The leader dies by itself: its group must not linger.
	if err := syscall.Kill(p.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("leader not reaped")
	}
	if !goneSoon(child) {
		t.Fatalf("child %d survived its leader", child)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("Stop after death: %v", err)
	}
}

func TestWaitReady(t *testing.T) {
	t.Parallel()
	t.Run("ExitBeforeReadyIsErrExitedWithTheOutputKept", func(t *testing.T) {
		t.Parallel()
		port, _ := FreePort()
		cmd := exec.Command(os.Args[0], "-test.run=^$", strconv.Itoa(port))
		cmd.Env = append(os.Environ(), fakeEnv+"=fail")
		p, err := Start(cmd, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err = p.WaitListening(ctx, "127.0.0.1:"+strconv.Itoa(port))
		if !errors.Is(err, ErrExited) {
			t.Fatalf("err = %v, want ErrExited", err)
		}
		if !strings.Contains(p.Output(), "fake child: cannot bind port") {
			t.Errorf("output %q lacks the child's message", p.Output())
		}
	})
	t.Run("NeverReadyEndsWithTheContext", func(t *testing.T) {
		t.Parallel()
		p, err := Start(exec.Command("sleep", "300"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		err = p.WaitReady(ctx, 10*time.Millisecond, func(context.Context) error { return errors.New("not yet") })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want DeadlineExceeded", err)
		}
	})
	t.Run("TeeGetsEverything", func(t *testing.T) {
		t.Parallel()
		var tee strings.Builder
		p, err := Start(exec.Command("echo", "hello"), Options{Tee: &tee, TailBytes: 3})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Err(); err != nil {
			t.Fatal(err)
		}
		if tee.String() != "hello\n" || p.Output() != "[...]lo\n" {
			t.Errorf("tee %q, tail %q", tee.String(), p.Output())
		}
	})
}

func TestFreePortsAreDistinct(t *testing.T) {
	ports, err := FreePorts(8)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v: %d repeated or invalid", ports, p)
		}
		seen[p] = true
	}
}

func TestTail(t *testing.T) {
	b := NewTail(8)
	for _, c := range []struct{ write, want string }{
		{"abc", "abc"},
		{"defghij", "[...]cdefghij"},
		{"0123456789", "[...]23456789"},
	} {
		b.Write([]byte(c.write))
		if b.String() != c.want {
			t.Fatalf("after %q: got %q, want %q", c.write, b.String(), c.want)
		}
	}
}

// waitChild returns the pid of the fake's child, from its output.
func waitChild(t *testing.T, p *Process) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range strings.Split(p.Output(), "\n") {
			if v, ok := strings.CutPrefix(line, "child="); ok {
				if pid, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
					return pid
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("fake printed no child pid; output %q", p.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// goneSoon waits, a bounded while, for pid to be gone: a SIGKILL sent to a
// process group is delivered to each member on its own schedule, so a child
// may still be dying a moment after its leader was reaped.
func goneSoon(pid int) bool {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if processGone(pid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// processGone reports whether pid is gone: no such process, or only a
// zombie (an orphan awaiting reaping by init, which is not ours to reap).
func processGone(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return os.IsNotExist(err)
	}
	// pid (comm) STATE ...; comm may contain spaces or parentheses.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
	return strings.HasPrefix(strings.TrimSpace(rest), "Z")
}

// TestLinesHandsOnWholeLinesOnly: a line written in pieces reaches the
// reader whole, after the prefix, and is shown to Seen once, without its
// newline; what has no newline yet is held back.
func TestLinesHandsOnWholeLinesOnly(t *testing.T) {
	var out strings.Builder
	var seen []string
	w := &Lines{To: &out, Prefix: "[a] ", Seen: func(l []byte) { seen = append(seen, string(l)) }}
	for _, piece := range []string{"fir", "st\nsec", "ond\nthi"} {
		if _, err := w.Write([]byte(piece)); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := out.String(), "[a] first\n[a] second\n"; got != want {
		t.Errorf("written %q, want %q", got, want)
	}
	if !slices.Equal(seen, []string{"first", "second"}) {
		t.Errorf("seen %q", seen)
	}
}
