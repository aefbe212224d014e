//go:build !linux

package proc

import (
	"os/exec"
	"syscall"
)

// procAttr puts a child (an engine, the emulator) in its own process group.
// Outside Linux there is no parent-death signal: a child whose runner is
// killed with SIGKILL outlives it (Ctrl-C and Stop still end it).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// waitExited reaps cmd's process, then kills what is left of its process
// group. Without waitid's WNOWAIT (Linux only) the group is killed after the
// leader is reaped: its id could in principle be reused in between, a risk
// a development machine can take.
func waitExited(cmd *exec.Cmd) error {
	err := cmd.Wait()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	return err
}
