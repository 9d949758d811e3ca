package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/internal/progress"
	"github.com/trustsync/trustsync/preview"
	"github.com/trustsync/trustsync/preview/report"
	"github.com/trustsync/trustsync/sources/git"
	commitstatus "github.com/trustsync/trustsync/sources/status"
)

type previewOptions struct {
	repo, platform, namespace string
	base, head                string
	format, failOn            string
	post                      postOptions
}

// postOptions say where --post puts the report.
type postOptions struct {
	enabled                      bool
	provider, repoURL, address   string
	tokenEnv                     string
	number                       int
	context, targetURL, markerID string
}

func newPreviewCommand() *cobra.Command {
	o := &previewOptions{}
	cmd := &cobra.Command{
		Use:   "preview PATH --base REF --head REF",
		Short: "Preview a change: who may call whom, the objects, the Rego tests; post it on the pull request",
		Long: `Preview renders PATH at two revisions of a Git repository, as the controller would, and
reports what the head changes: first who may call whom (every pair of agents and tools,
at inbound/request and outbound/request, in plain words, with the policy files that
caused each change), then the objects, then the head's Rego tests.

It fails (exit 1, and a failure status with --post) when the head does not render, a Rego
test fails, or a gate trips: --fail-on cross-namespace (default) fails on any new call
across namespaces, any-grant on any new call, none only on tests and render errors.

With --post it sets a commit status on the head and keeps one comment on the pull request
(found again by a hidden marker, edited in place on every new push).`,
		Example: `  # In a pull request's CI job
  trustsync preview clusters/prod --base origin/main --head HEAD

  # Post it on Gitea pull request 7
  GITEA_TOKEN=… trustsync preview clusters/prod --base main --head feature \
    --post --provider gitea --repo-url https://gitea.example/platform/agents.git --pr 7 --token-env GITEA_TOKEN`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.ExactArgs(1)(cmd, args); err != nil {
				return &exitError{code: 2, err: err}
			}
			return nil
		},
		// Exit 1 when the preview fails (with the reason), 2 when it could not be made.
		RunE: func(cmd *cobra.Command, args []string) error {
			err := o.run(cmd.Context(), cmd.OutOrStdout(), args[0])
			var failed *previewFailed
			switch {
			case err == nil:
				return nil
			case errors.As(err, &failed):
				return &exitError{code: 1, err: err}
			}
			return &exitError{code: 2, err: err}
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{code: 2, err: err} })
	f := cmd.Flags()
	f.StringVar(&o.base, "base", "", "base revision (the pull request's target): a branch, tag or commit, also with ancestry such as HEAD~1 (REV:path and other non-commit forms are refused)")
	f.StringVar(&o.head, "head", "HEAD", "head revision (the pull request's head), as --base")
	f.StringVar(&o.repo, "repo", "", "local Git repository (default: the work tree containing PATH)")
	f.StringVar(&o.platform, "platform", "", "platform configuration file (defaults apply when omitted)")
	f.StringVarP(&o.namespace, "namespace", "n", "", "namespace for namespaced objects (a Sync's targetNamespace)")
	f.StringVar(&o.format, "format", "markdown", "report format: markdown, json or text (the summary line)")
	f.StringVar(&o.failOn, "fail-on", string(report.GateCrossNamespace), "access changes that fail the preview: cross-namespace, any-grant or none")
	p := &o.post
	f.BoolVar(&p.enabled, "post", false, "post a commit status on the head and upsert one comment on the pull request")
	f.StringVar(&p.provider, "provider", "", "with --post: github, gitlab or gitea")
	f.StringVar(&p.repoURL, "repo-url", "", "with --post: the repository's clone URL (the API address and owner/name follow from it)")
	f.StringVar(&p.address, "address", "", "with --post: API base URL, when it does not follow from --repo-url")
	f.StringVar(&p.tokenEnv, "token-env", "", "with --post: environment variable holding the API token (never a flag: flags show in process lists)")
	f.IntVar(&p.number, "pr", 0, "with --post: pull request (GitLab: merge request iid) number")
	f.StringVar(&p.context, "context", "trustsync/preview", "with --post: commit status context")
	f.StringVar(&p.targetURL, "target-url", "", "with --post: link of the commit status")
	f.StringVar(&p.markerID, "marker", "", "with --post: id of the comment's hidden marker (default: PATH), so several previews of one pull request keep their own comments")
	return cmd
}

func (o *previewOptions) run(ctx context.Context, out io.Writer, path string) error {
	if o.base == "" {
		return errors.New("--base is required")
	}
	if err := checkRevisionFlags(o.base, o.head); err != nil {
		return err
	}
	gate, err := report.ParseGate(o.failOn)
	if err != nil {
		return fmt.Errorf("--fail-on: %w", err)
	}
	switch o.format {
	case "markdown", "json", "text":
	default:
		return fmt.Errorf("--format %q: want markdown, json or text", o.format)
	}
	if o.post.enabled {
		if err := o.post.check(); err != nil {
			return err
		}
	}
	p, err := gitopsv1.LoadPlatform(o.platform)
	if err != nil {
		return err
	}
	repo, dir, err := sourceTree(o.repo, path)
	if err != nil {
		return err
	}
	line := progress.ForStderr()
	rep, err := preview.Run(ctx, git.LocalRevisions(repo), preview.Options{Path: dir, Base: o.base, Head: o.head, Platform: p, Namespace: o.namespace, Gate: gate, Progress: line.Phase})
	line.Done()
	if err != nil {
		return err
	}
	var body strings.Builder
	if err := rep.Markdown(&body); err != nil {
		return err
	}
	// Posted first, printed after: a preview that could not be posted is an error and,
	// as every error, prints nothing on stdout.
	if o.post.enabled {
		id := o.post.markerID
		if id == "" {
			id = dir
		}
		if err := o.post.send(ctx, rep, id, body.String()); err != nil {
			return err
		}
	}
	switch o.format {
	case "json":
		err = rep.JSON(out)
	case "text":
		_, err = fmt.Fprintln(out, rep.Summary())
	default:
		_, err = io.WriteString(out, body.String())
	}
	if err != nil {
		return err
	}
	if f := rep.Failed(); f != "" {
		return &previewFailed{reason: f}
	}
	return nil
}

// previewFailed is a preview that ran and found a reason to fail: exit 1 with the reason.
type previewFailed struct{ reason string }

func (e *previewFailed) Error() string { return "preview fails: " + e.reason }

func (p *postOptions) check() error {
	var errs []error
	if p.provider == "" {
		errs = append(errs, errors.New("--post needs --provider"))
	}
	if p.repoURL == "" && p.address == "" {
		errs = append(errs, errors.New("--post needs --repo-url (or --address)"))
	}
	if p.number <= 0 {
		errs = append(errs, errors.New("--post needs --pr"))
	}
	if p.tokenEnv == "" || os.Getenv(p.tokenEnv) == "" {
		errs = append(errs, errors.New("--post needs --token-env naming a set environment variable"))
	}
	return errors.Join(errs...)
}

// send sets the head's commit status and upserts the pull request's comment.
func (p *postOptions) send(ctx context.Context, rep *report.Report, markerID, body string) error {
	o := commitstatus.Options{Provider: commitstatus.Provider(p.provider), RepoURL: p.repoURL, Address: p.address, Token: os.Getenv(p.tokenEnv)}
	poster, err := commitstatus.New(o)
	if err != nil {
		return err
	}
	changes, err := commitstatus.NewChangeRequests(o)
	if err != nil {
		return err
	}
	st := commitstatus.Status{Context: p.context, State: commitstatus.Success, Description: rep.Summary(), TargetURL: p.targetURL}
	if f := rep.Failed(); f != "" {
		st.State, st.Description = commitstatus.Failure, f
	}
	if _, err := poster.Post(ctx, rep.Head.Commit, st); err != nil {
		return err
	}
	_, err = changes.UpsertComment(ctx, p.number, commitstatus.Marker(markerID), body)
	return err
}
