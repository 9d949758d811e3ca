package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/trustsync/trustsync/internal/redact"
	"github.com/trustsync/trustsync/manifest"
)

func main() {
	if err := newRootCommand(os.Stdout, os.Stderr).Execute(); err != nil {
		code, err := exitStatus(err) // diff and preview: 1 = a difference or a failing preview, 2 = errors
		if err != nil {
			printErrors(os.Stderr, err)
		}
		os.Exit(code)
	}
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "trustsync",
		Short: "GitOps for AI agents under a zero-trust security profile",
		Long: `trustsync pulls agent and policy YAML from Git, renders the complete secure-profile
manifests (SPIFFE identities, AuthBridge configuration, OPA policies), applies them by
server-side apply and keeps them converged.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	k := &kubeFlags{}
	cluster := []*cobra.Command{newControllerCommand(k), newWebhookCommand(k), newBundleServerCommand(k), newDashboardCommand(k), newGetCommand(k), newReconcileCommand(k), newSuspendCommand(k, true), newSuspendCommand(k, false), newTreeCommand(k), newEventsCommand(k), newExportCommand(k), newInstallCommand(k), newUninstallCommand(k), newCheckCommand(k)}
	for _, c := range cluster {
		k.add(c)
	}
	root.AddCommand(newRenderCommand(), newDiffCommand(), newPreviewCommand(), newPolicyCommand(), newAgentCardCommand(), newAuthBridgeCommand(), newVersionCommand())
	root.AddCommand(cluster...)
	return root
}

// printErrors writes one line per error, so a revision with several problems lists them
// all. Credential shapes are hidden on the way out, whatever produced the error: the
// last line of defence for what a CI log shows.
func printErrors(w io.Writer, err error) {
	for _, e := range manifest.Errors(err) {
		fmt.Fprintf(w, "error: %s\n", redact.String(e.Error()))
	}
}

// exitError carries a process exit status: diff exits 1 when the revisions differ (as
// diff(1) and flux diff do) and 2 on errors, so a script can tell the two apart. With
// no err, nothing is printed.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// exitStatus is the process exit code for an error Execute returned, and the error to
// print (nil: none).
func exitStatus(err error) (int, error) {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code, ee.err
	}
	return 1, err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
