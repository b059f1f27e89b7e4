package faults

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill the child when the test process
// dies, so an aborted test leaves no coordinator behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
