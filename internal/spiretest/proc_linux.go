package spiretest

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// setProcAttrs puts the process in its own process group, so Stop reaches anything it
// forks (SPIRE runs its plugins in-process, but a group kill is what makes that safe to
// rely on), and has the kernel kill it when the test process dies without cleanups (a go
// test -timeout panic): no SPIRE outlives its test.
func setProcAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func signalGroup(cmd *exec.Cmd, sig syscall.Signal) error {
	err := syscall.Kill(-cmd.Process.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil // already gone; Wait reports how
	}
	if err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}
