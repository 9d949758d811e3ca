package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/progress"
	"github.com/trustsync/trustsync/manifest"
	"github.com/trustsync/trustsync/renderers"
)

type renderOptions struct {
	platform  string
	root      string
	namespace string
	output    string
}

func newRenderCommand() *cobra.Command {
	o := &renderOptions{}
	cmd := &cobra.Command{
		Use:   "render PATH",
		Short: "Render a directory into its secure-profile manifests",
		Long: `Render builds PATH with kustomize, expands every AgentRuntime into its secure profile
and compiles every AuthorizationPolicy, exactly as the controller would for a commit.
The manifests go to stdout; problems go to stderr, one per line, naming the file, the
object and the field, and nothing is printed to stdout.

PATH is read inside a source tree: by default the Git work tree that contains it (so
kustomizations may refer to ../bases), else PATH itself. Nothing outside the tree is
read, and remote bases are refused unless the platform allows them.`,
		Example: `  # Render an example repository with the default platform
  trustsync render examples/multi-tenant

  # With a platform file, as JSON
  trustsync render examples/multi-tenant --platform examples/platform.yaml -o json

  # What a revision contains: agents, identities, policies, objects per kind
  trustsync render examples/multi-tenant -o summary`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.OutOrStdout(), args[0])
		},
	}
	cmd.Flags().StringVar(&o.platform, "platform", "", "platform configuration file (defaults apply when omitted)")
	cmd.Flags().StringVar(&o.root, "root", "", "root of the source tree (default: the enclosing Git work tree, else PATH)")
	cmd.Flags().StringVarP(&o.namespace, "namespace", "n", "", "namespace for namespaced objects, overriding the kustomizations' (a Sync's targetNamespace)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "yaml", "output format: yaml, json or summary")
	return cmd
}

func (o *renderOptions) run(out io.Writer, path string) error {
	switch o.output {
	case "yaml", "json", "summary":
	default:
		return fmt.Errorf("--output %q: want yaml, json or summary", o.output)
	}
	line := progress.ForStderr()
	res, _, err := renderTree(o.platform, o.root, path, renderers.Options{Namespace: o.namespace, Progress: line.Phase})
	line.Done()
	if err != nil {
		return err
	}
	switch o.output {
	case "json":
		return manifest.WriteJSON(out, res.Objects)
	case "summary":
		return writeSummary(out, path, res)
	}
	return manifest.WriteYAML(out, res.Objects)
}

// renderTree renders path inside its source tree (root, else the enclosing Git work
// tree) with the platform file (defaults when empty), as render does.
func renderTree(platformFile, root, path string, o renderers.Options) (*renderers.Result, *gitopsv1.Platform, error) {
	p, err := gitopsv1.LoadPlatform(platformFile)
	if err != nil {
		return nil, nil, err
	}
	root, dir, err := sourceTree(root, path)
	if err != nil {
		return nil, nil, err
	}
	tree, err := os.OpenRoot(root)
	if err != nil {
		return nil, nil, err
	}
	defer tree.Close()
	o.Platform = p
	res, err := renderers.Render(tree.FS(), dir, o)
	return res, p, err
}

// sourceTree works out the tree root and PATH's place in it.
func sourceTree(root, path string) (string, string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", "", err
	}
	if info, err := os.Stat(abs); err != nil {
		return "", "", err
	} else if !info.IsDir() {
		return "", "", fmt.Errorf("%s is not a directory", path)
	}
	if root == "" {
		root = gitWorkTree(abs)
	}
	if root, err = filepath.Abs(root); err != nil {
		return "", "", err
	}
	dir, err := filepath.Rel(root, abs)
	if err != nil || dir == ".." || strings.HasPrefix(dir, ".."+string(filepath.Separator)) {
		return "", "", fmt.Errorf("%s is not inside the source tree %s", path, root)
	}
	return root, filepath.ToSlash(dir), nil
}

// gitWorkTree returns the nearest directory at or above dir that holds .git, else dir.
func gitWorkTree(dir string) string {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return dir
		}
		d = parent
	}
}

func writeSummary(out io.Writer, path string, res *renderers.Result) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s: %d agents, %d policies, %d objects\n", path, len(res.Agents), len(res.Policies), len(res.Objects))

	fmt.Fprintf(tw, "\nAGENTS\nNAMESPACE\tNAME\tTYPE\tWORKLOAD\tDATA PLANE\tMTLS\tIDENTITY\n")
	for _, a := range res.Agents {
		plane := a.Mode
		if !a.Injected && a.Mode != "waypoint" {
			plane = "none" // not injected: a tool without injectTools, or opted out
		}
		if a.TLSBridge {
			plane += "+tls-bridge"
		}
		id := a.SPIFFEID
		if id == "" {
			id = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Namespace, a.Name, a.Type, a.Workload, plane, a.MTLS, id)
	}

	fmt.Fprintf(tw, "\nPOLICIES\nNAMESPACE\tNAME\tSCOPE\tFILES\n")
	for _, p := range res.Policies {
		name := p.Name
		if p.Generated {
			name += " (generated)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Namespace, name, p.Scope, strings.Join(p.Files, ","))
	}

	fmt.Fprintf(tw, "\nOBJECTS\nKIND\tCOUNT\n")
	counts := res.Summary()
	kinds := make([]string, 0, len(counts))
	for k := range counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(tw, "%s\t%d\n", k, counts[k])
	}
	return errors.Join(tw.Flush())
}
