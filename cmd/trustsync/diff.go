package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	apischeme "github.com/trustsync/trustsync/api/scheme"
	"github.com/trustsync/trustsync/manifest"
	"github.com/trustsync/trustsync/preview"
	"github.com/trustsync/trustsync/preview/diff"
	"github.com/trustsync/trustsync/renderers"
	"github.com/trustsync/trustsync/sources/git"
)

type diffOptions struct {
	base, head          string
	repo, authSecret    string
	platform, namespace string
	output              string
	kube                kubeFlags
	timeout             time.Duration
}

func newDiffCommand() *cobra.Command {
	o := &diffOptions{}
	cmd := &cobra.Command{
		Use:   "diff PATH --base REF --head REF",
		Short: "Show what a change does to the rendered objects",
		Long: `Diff renders PATH at two revisions of a Git repository, as the controller would, and
prints the objects the head adds, removes and changes, with the path and the old and new
value of every changed field. Ordering, values equal after normalisation and generated
hashes that only follow their inputs (kagenti.io/config-hash) are not reported on their
own; Secret values are never printed.

The revisions are read from the repository, not the work tree: a local one (the work
tree containing PATH), or with --repo a remote one, fetched with the credentials of a
GitSource's Secret (--auth-secret, a Secret manifest file). PATH is then the path inside
that repository.

With --kubeconfig (or --context) the head is compared with a cluster instead of the
base: every head object is applied as a server-side dry run, so defaulting and admission
(trustsync's webhook included) take part, and the answer is compared with the live
object. Base objects the head drops show as removed when they are live. Nothing is
written.

Exit status: 0 when there is no difference, 1 when there is, 2 on errors.`,
		Example: `  # What the last commit changed
  trustsync diff examples/multi-tenant --base HEAD~1 --head HEAD

  # A pull request's branch against main, of a remote repository
  trustsync diff clusters/prod --repo https://git.example/agents.git --auth-secret creds.yaml \
    --base main --head feature

  # What applying the head would change in the cluster, as JSON
  trustsync diff clusters/prod --base main --head HEAD --kubeconfig ~/.kube/config -o json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.ExactArgs(1)(cmd, args); err != nil {
				return &exitError{code: 2, err: err}
			}
			return nil
		},
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			differs, err := o.run(cmd.Context(), cmd.OutOrStdout(), args[0])
			switch {
			case err != nil:
				return &exitError{code: 2, err: err}
			case differs:
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{code: 2, err: err} })
	f := cmd.Flags()
	f.StringVar(&o.base, "base", "", "base revision: a branch, tag or commit, locally also with ancestry such as HEAD~1 (a path, tree or blob form such as REV:path is refused)")
	f.StringVar(&o.head, "head", "HEAD", "head revision, as --base")
	f.StringVar(&o.repo, "repo", "", "URL of a remote repository to fetch the revisions from (default: the local work tree containing PATH)")
	f.StringVar(&o.authSecret, "auth-secret", "", "with --repo: file holding a Secret manifest with the Git credentials (the keys a GitSource's secretRef has)")
	f.StringVar(&o.platform, "platform", "", "platform configuration file (defaults apply when omitted)")
	f.StringVarP(&o.namespace, "namespace", "n", "", "namespace for namespaced objects, overriding the kustomizations' (a Sync's targetNamespace)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	f.StringVar(&o.kube.kubeconfig, "kubeconfig", "", "compare the head with this cluster (server-side dry-run) instead of the base")
	f.StringVar(&o.kube.context, "context", "", "kubeconfig context; implies a cluster comparison")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "bound on fetching and on the cluster comparison")
	return cmd
}

// diffRevision is one rendered side.
type diffRevision struct {
	Ref    string `json:"ref"`
	Commit string `json:"commit"`
	res    *renderers.Result
}

func (o *diffOptions) run(ctx context.Context, out io.Writer, p string) (bool, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := o.validate(); err != nil {
		return false, err
	}
	platform, err := gitopsv1.LoadPlatform(o.platform)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	trees, dir, cleanup, err := o.openRevisions(p)
	if err != nil {
		return false, err
	}
	defer cleanup()
	ro := renderers.Options{Platform: platform, Namespace: o.namespace, SkipPolicyTests: true}
	base, head, err := o.renderBoth(ctx, trees, dir, ro)
	if err != nil {
		return false, err
	}
	res, err := o.compare(ctx, base, head)
	if err != nil {
		return false, err
	}
	err = o.write(out, base, head, res)
	return !res.Empty(), err
}

// validate checks the flags before anything is read.
func (o *diffOptions) validate() error {
	if o.base == "" || o.head == "" {
		return errors.New("--base and --head are required")
	}
	if err := checkRevisionFlags(o.base, o.head); err != nil {
		return err
	}
	switch o.output {
	case "text", "json":
	default:
		return fmt.Errorf("--output %q: want text or json", o.output)
	}
	if o.authSecret != "" && o.repo == "" {
		return errors.New("--auth-secret needs --repo")
	}
	return nil
}

// openRevisions finds the revisions to read, of the local work tree holding p or of
// --repo, and p's place in them; cleanup removes what fetching --repo left behind.
func (o *diffOptions) openRevisions(p string) (trees preview.Trees, dir string, cleanup func(), err error) {
	if o.repo == "" {
		repo, dir, err := localPath(p)
		if err != nil {
			return nil, "", nil, err
		}
		return git.LocalRevisions(repo), dir, func() {}, nil
	}
	if dir, err = repoPath(p); err != nil {
		return nil, "", nil, err
	}
	if trees, cleanup, err = o.remoteTrees(); err != nil {
		return nil, "", nil, err
	}
	return trees, dir, cleanup, nil
}

// renderBoth renders dir at --base and at --head; at least one of them must have it.
func (o *diffOptions) renderBoth(ctx context.Context, trees preview.Trees, dir string, ro renderers.Options) (base, head diffRevision, err error) {
	if base, err = renderRevision(ctx, trees, "base", o.base, dir, ro); err != nil {
		return base, head, err
	}
	if head, err = renderRevision(ctx, trees, "head", o.head, dir, ro); err != nil {
		return base, head, err
	}
	if base.res == nil && head.res == nil {
		return base, head, fmt.Errorf("%s is in neither revision", dir)
	}
	return base, head, nil
}

// compare diffs the head with the base or, with --kubeconfig or --context, with the
// cluster.
func (o *diffOptions) compare(ctx context.Context, base, head diffRevision) (diff.Result, error) {
	if o.kube.kubeconfig == "" && o.kube.context == "" {
		return diff.Objects(base.objects(), head.objects()), nil
	}
	c, err := o.clusterClient()
	if err != nil {
		return diff.Result{}, err
	}
	return diff.Live(ctx, c, base.objects(), head.objects(), diff.LiveOptions{Timeout: o.timeout})
}

func (o *diffOptions) clusterClient() (client.Client, error) {
	cfg, err := o.kube.config()
	if err != nil {
		return nil, err
	}
	if cfg.QPS == 0 && cfg.RateLimiter == nil {
		// client-go's default of 5 requests a second would make a large head take
		// minutes; requests in flight are bounded by Live, fairness is the API
		// server's (as controller-runtime's config does).
		cfg.QPS = -1
	}
	return client.New(cfg, client.Options{Scheme: apischeme.New()})
}

// write prints the result as text, or as JSON together with the revisions compared.
func (o *diffOptions) write(out io.Writer, base, head diffRevision, res diff.Result) error {
	if o.output != "json" {
		return res.WriteText(out)
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Base    diffRevision `json:"base"`
		Head    diffRevision `json:"head"`
		Summary string       `json:"summary"`
		diff.Result
	}{base, head, res.Summary(), res})
}

// checkRevisionFlags refuses, before anything is read, a --base or --head that does not
// name a commit (REV:path, REV^{blob}, a range ...): previewing something else in its
// place would be worse than failing.
func checkRevisionFlags(base, head string) error {
	var errs []error
	for _, f := range []struct{ flag, rev string }{{"--base", base}, {"--head", head}} {
		if err := git.CheckRevision(f.rev); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", f.flag, f.rev, err))
		}
	}
	return errors.Join(errs...)
}

// renderRevision renders dir at rev. A revision without dir renders to nothing (res
// nil), so a directory the head adds or removes diffs as all added or all removed.
// Errors name the side and revision.
func renderRevision(ctx context.Context, trees preview.Trees, side, rev, dir string, ro renderers.Options) (diffRevision, error) {
	r := diffRevision{Ref: rev}
	fsys, commit, err := trees.Tree(ctx, rev)
	if err != nil {
		return r, fmt.Errorf("%s: %w", side, err)
	}
	r.Commit = commit
	if info, err := fs.Stat(fsys, dir); errors.Is(err, fs.ErrNotExist) {
		return r, nil
	} else if err != nil {
		return r, fmt.Errorf("%s %s: %w", side, rev, err)
	} else if !info.IsDir() {
		return r, fmt.Errorf("%s %s: %s is not a directory", side, rev, dir)
	}
	res, err := renderers.Render(fsys, dir, ro)
	if err != nil {
		// One line per problem, each naming the revision.
		var errs []error
		for _, e := range manifest.Errors(err) {
			errs = append(errs, fmt.Errorf("%s %s: %w", side, rev, e))
		}
		return r, errors.Join(errs...)
	}
	r.res = res
	return r, nil
}

func (r diffRevision) objects() []*manifest.Object {
	if r.res == nil {
		return nil
	}
	return r.res.Objects
}

// localPath finds the work tree holding p and p's place in it. p need not exist in the
// work tree (it may only exist in one of the revisions).
func localPath(p string) (repo, dir string, err error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", "", err
	}
	existing := abs
	for {
		if _, err := os.Stat(existing); err == nil {
			break
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			break
		}
		existing = parent
	}
	repo = gitWorkTree(existing)
	if _, err := os.Stat(filepath.Join(repo, ".git")); err != nil {
		return "", "", fmt.Errorf("%s is not inside a Git work tree (use --repo for a remote repository)", p)
	}
	rel, err := filepath.Rel(repo, abs)
	if err != nil {
		return "", "", err
	}
	return repo, filepath.ToSlash(rel), nil
}

// repoPath checks a path inside a remote repository.
func repoPath(p string) (string, error) {
	clean := path.Clean(filepath.ToSlash(p))
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("with --repo, PATH %q must be a path inside the repository", p)
	}
	return clean, nil
}

// remoteTrees reads revisions of --repo, fetched into a temporary cache.
func (o *diffOptions) remoteTrees() (preview.Trees, func(), error) {
	var auth *git.Auth
	if o.authSecret != "" {
		var err error
		if auth, err = authFromSecretFile(o.authSecret); err != nil {
			return nil, nil, err
		}
	}
	cacheDir, err := os.MkdirTemp("", "trustsync-diff-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { _ = os.RemoveAll(cacheDir) }
	return git.RemoteRevisions{Fetcher: &git.Fetcher{CacheDir: cacheDir}, URL: o.repo, Auth: auth}, cleanup, nil
}

// authFromSecretFile reads Git credentials from a file holding a Secret manifest (data
// base64-encoded, or stringData), as a GitSource's secretRef names in the cluster.
func authFromSecretFile(file string) (*git.Auth, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	s := &corev1.Secret{}
	if err := yaml.UnmarshalStrict(b, s); err != nil {
		return nil, fmt.Errorf("%s: not a Secret manifest: %s", file, firstLine(err))
	}
	if s.Kind != "Secret" {
		return nil, fmt.Errorf("%s: kind %q, want a Secret manifest", file, s.Kind)
	}
	data := map[string][]byte{}
	for k, v := range s.Data {
		data[k] = v
	}
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	auth, err := git.AuthFromSecret(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return auth, nil
}

// firstLine keeps only the first line of a decoding error: later ones can quote the
// document, credentials included.
func firstLine(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return msg
}
