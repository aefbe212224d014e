//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// takeTerminal makes cis-local the terminal's foreground process group, so
// that Ctrl-C interrupts it alone: it stops what it started and exits 0,
// and `make run` (make, its shell, `go run`), which the interrupt then
// never reaches, ends with its status, 0, instead of make reporting an
// interrupt. It does nothing when standard input is no terminal or
// cis-local is not in its foreground group (tests, CI, a background job),
// or already leads it (started by an interactive shell). The returned func
// gives the terminal back to the group that had it.
func takeTerminal() (restore func()) {
	fd := int(os.Stdin.Fd())
	fg, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	if err != nil || fg != syscall.Getpgrp() || fg == os.Getpid() {
		return func() {}
	}
	if err := syscall.Setpgid(0, 0); err != nil {
		return func() {}
	}
	setForeground := func(pgrp int) {
		// A process outside the foreground group that sets it is sent
		// SIGTTOU, which would stop it: ignored for the call.
		signal.Ignore(syscall.SIGTTOU)
		defer signal.Reset(syscall.SIGTTOU)
		_ = unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, pgrp)
	}
	setForeground(os.Getpid())
	return func() { setForeground(fg) }
}
