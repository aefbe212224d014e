package proc

import (
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// procAttr puts a child (an engine, the emulator) in its own process group,
// and has the kernel SIGKILL it if the thread that started it (in practice
// the test binary or the dev runner) dies without stopping it.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// waitExited waits for cmd's process to end without reaping it, kills any
// remaining members of its process group (whose id cannot be reused while
// the unreaped leader holds it), then reaps it.
func waitExited(cmd *exec.Cmd) error {
	pid := cmd.Process.Pid
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			break
		}
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	return cmd.Wait()
}
