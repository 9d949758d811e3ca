package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	apischeme "github.com/trustsync/trustsync/api/scheme"
	"github.com/trustsync/trustsync/install"
	"github.com/trustsync/trustsync/internal/version"
)

// installFlags choose the components, for install, uninstall and check alike.
type installFlags struct {
	o        install.Options
	families string
}

// options are the chosen options, with --families read.
func (f *installFlags) options() (install.Options, error) {
	fams, err := install.ParseFamilies(f.families)
	if err != nil {
		return install.Options{}, fmt.Errorf("--families: %w", err)
	}
	o := f.o
	o.Families = fams
	return o, nil
}

func (f *installFlags) add(fs *pflag.FlagSet) {
	fs.BoolVar(&f.o.CertManager, "cert-manager", false, "let cert-manager issue the webhook's certificate (default: the webhook runs its own CA)")
	fs.BoolVar(&f.o.BundleServer, "bundle-server", false, "install the policy bundle server (needs SPIRE)")
	fs.BoolVar(&f.o.Dashboard, "dashboard", false, "install the read-only dashboard")
	fs.StringVar(&f.o.Image, "image", install.Image(version.Version), "the image every trustsync container runs")
	fs.StringVar(&f.families, "families", "kagenti", "the families whose CRDs and webhook selectors are installed, comma-separated: kagenti (agent.kagenti.dev, kagenti.io/*), rossoctl (agent.rossoctl.dev, rossoctl.io/*); also written into the installed platform file")
}

func newInstallCommand(k *kubeFlags) *cobra.Command {
	var f installFlags
	var export, wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install trustsync in the current cluster, or print what that applies",
		Long: `install applies trustsync's installation (the config/ bases built into this binary)
to the kubeconfig's current context by server-side apply: CRDs and the namespace first,
then the controller, the webhook and what the flags add, and waits until it all is
ready. Run it again to upgrade; objects already as wanted are left alone. With --export
it prints the manifests instead, for a GitOps repository or kubectl apply.

Run 'trustsync check --pre' before, and 'trustsync check' after.`,
		Example: `  trustsync check --pre && trustsync install
  trustsync install --cert-manager --dashboard
  trustsync install --export > trustsync.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			io, err := f.options()
			if err != nil {
				return err
			}
			objs, err := install.Manifests(io)
			if err != nil {
				return err
			}
			if export {
				return writeYAML(cmd.OutOrStdout(), objs)
			}
			c, err := k.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			fmt.Fprintf(cmd.ErrOrStderr(), "installing %d objects (%s)…\n", len(objs), f.o.Image)
			changes, err := install.Apply(ctx, c, objs, install.ApplyOptions{Wait: wait, Timeout: timeout})
			printChanges(cmd.OutOrStdout(), changes)
			if err != nil {
				return err
			}
			if wait {
				fmt.Fprintln(cmd.OutOrStdout(), "✔ trustsync is installed and ready; run trustsync check")
			}
			return nil
		},
	}
	f.add(cmd.Flags())
	cmd.Flags().BoolVar(&export, "export", false, "print the manifests instead of applying them")
	cmd.Flags().BoolVar(&wait, "wait", true, "wait until every object is ready")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait")
	return cmd
}

func newUninstallCommand(k *kubeFlags) *cobra.Command {
	var f installFlags
	var o install.RemoveOptions
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove what trustsync install made",
		Long: `uninstall deletes the objects trustsync install applied (those carrying its owner
labels) and the webhook's own certificate. It keeps the CRDs, and with them every
GitSource, Sync, AgentRuntime, AuthorizationPolicy and AgentCard, and trustsync's
namespace, unless --crds or --namespace say otherwise. What Syncs applied stays as it is.`,
		Example: `  trustsync uninstall
  trustsync uninstall --crds --namespace`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Every component and family is considered: uninstall need not be told what
			// install was.
			f.o.CertManager, f.o.BundleServer, f.o.Dashboard = true, true, true
			f.o.Families = agentv1.Families
			objs, err := install.Manifests(f.o)
			if err != nil {
				return err
			}
			c, err := k.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			changes, err := install.Remove(ctx, c, objs, o)
			printChanges(cmd.OutOrStdout(), changes)
			return err
		},
	}
	cmd.Flags().BoolVar(&o.CRDs, "crds", false, "delete the CRDs too, and with them every trustsync object in the cluster")
	cmd.Flags().BoolVar(&o.Namespace, "namespace", false, "delete the namespace "+install.Namespace+" too")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for the API server")
	return cmd
}

func newCheckCommand(k *kubeFlags) *cobra.Command {
	var f installFlags
	var pre bool
	var output, platformFile string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check that the cluster is ready for trustsync (--pre) and that trustsync runs",
		Long: `check prints one line per check, ✔ passed, ! a part of the security profile is
missing (trustsync runs without it, at the cost it names), ✗ failed, each with its fix,
and exits non-zero when a check failed.

--pre checks the cluster before install: the Kubernetes version, your RBAC to install,
cert-manager when --cert-manager, the SPIRE CSI driver and trust bundle, Istio ambient,
Keycloak. Without it, it also checks the installation: CRDs established, controller,
webhook (and bundle server, dashboard when given) ready, the webhooks' caBundle.`,
		Example: `  trustsync check --pre
  trustsync check -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("output %q: text or json", output)
			}
			checked, err := f.options()
			if err != nil {
				return err
			}
			var p *gitopsv1.Platform
			if platformFile != "" {
				if p, err = gitopsv1.LoadPlatform(platformFile); err != nil {
					return err
				}
			}
			cfg, err := k.config()
			if err != nil {
				return err
			}
			c, err := client.New(cfg, client.Options{Scheme: apischeme.New()})
			if err != nil {
				return err
			}
			cs, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			results, err := install.Check(ctx, install.Cluster{
				Client:  c,
				Version: cs.Discovery().ServerVersion,
				ServiceProxy: func(ctx context.Context, namespace, scheme, name, port, path string) ([]byte, error) {
					return cs.CoreV1().Services(namespace).ProxyGet(scheme, name, port, path, nil).DoRaw(ctx)
				},
			}, install.CheckOptions{Pre: pre, Install: checked, Platform: p})
			if err != nil {
				return err
			}
			if output == "json" {
				err = writeJSON(cmd.OutOrStdout(), results)
			} else {
				printResults(cmd.OutOrStdout(), results)
			}
			if err == nil && install.Failed(results) {
				return &exitError{code: 1}
			}
			return err
		},
	}
	f.add(cmd.Flags())
	cmd.Flags().BoolVar(&pre, "pre", false, "check only that the cluster can take the installation")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().StringVar(&platformFile, "platform", "", "the platform file to check with (default: the installed one)")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long all checks may take")
	return cmd
}

// printResults writes one line per check and, under a check that did not pass, its fix.
func printResults(w io.Writer, rs []install.Result) {
	marks := map[install.Status]string{install.Pass: "✔", install.Warn: "!", install.Fail: "✗"}
	for _, r := range rs {
		fmt.Fprintf(w, "%s %s: %s\n", marks[r.Status], r.Check, r.Detail)
		if r.Fix != "" && r.Status != install.Pass {
			fmt.Fprintf(w, "    fix: %s\n", r.Fix)
		}
	}
}

func printChanges(w io.Writer, cs []install.Change) {
	for _, c := range cs {
		if c.Action != "unchanged" && c.Action != "skipped" {
			fmt.Fprintf(w, "%s %s\n", c.Object, c.Action)
		}
	}
}

// writeYAML writes objs as one YAML stream.
func writeYAML(w io.Writer, objs []*unstructured.Unstructured) error {
	for _, o := range objs {
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			return fmt.Errorf("%s %s: %w", o.GetKind(), o.GetName(), err)
		}
		if _, err := fmt.Fprintf(w, "---\n%s", data); err != nil {
			return err
		}
	}
	return nil
}
