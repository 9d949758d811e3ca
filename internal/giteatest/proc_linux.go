package giteatest

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill Gitea when the test process dies, even when it dies
// without running its cleanups (a go test -timeout panic): no Gitea outlives its test.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
