//go:build !unix

package oidcissuer

import "syscall"

// reusePort does nothing where there is no SO_REUSEPORT: a second process
// finds the address taken and checks what serves there (ServeFixed).
func reusePort(network, address string, c syscall.RawConn) error { return nil }
