//go:build !linux

package fine

import "syscall"

// procAttr: outside Linux a started server is stopped by Cleanup only.
func procAttr() *syscall.SysProcAttr { return nil }
