package fine

import "syscall"

// procAttr kills a started server when the benchmark process dies.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
