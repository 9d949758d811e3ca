//go:build !linux

package spiretest

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

func setProcAttrs(*exec.Cmd) {}

func signalGroup(cmd *exec.Cmd, sig syscall.Signal) error {
	err := cmd.Process.Signal(sig)
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}
