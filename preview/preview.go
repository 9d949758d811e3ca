package preview

import (
	"context"
	"fmt"
	"io/fs"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/manifest"
	"github.com/trustsync/trustsync/preview/access"
	"github.com/trustsync/trustsync/preview/diff"
	"github.com/trustsync/trustsync/preview/report"
	"github.com/trustsync/trustsync/renderers"
	"github.com/trustsync/trustsync/security/policy"
)

// Trees gives the file tree of a revision, and the commit it resolves to.
type Trees interface {
	Tree(ctx context.Context, rev string) (fs.FS, string, error)
}

// Options say what to compare.
type Options struct {
	// Path inside the repository to render, as a Sync's spec.path.
	Path string
	// Base and Head revisions (branch, tag, commit).
	Base, Head string
	// Platform the revisions are rendered with; the defaults when nil.
	Platform *gitopsv1.Platform
	// Namespace for namespaced objects, as a Sync's targetNamespace.
	Namespace string
	// Gate decides which access changes fail the preview; cross-namespace when empty.
	Gate report.Gate
	// Progress, when set, is told each phase as it starts (a terminal shows it).
	Progress func(phase string)
}

func (o *Options) phase(name string) {
	if o.Progress != nil {
		o.Progress(name)
	}
}

// Run renders both revisions and reports what the head changes: who may call whom, the
// objects, and the head's Rego tests. A head that does not render is a report (with its
// problems), not an error; an error means the comparison could not be made at all.
func Run(ctx context.Context, trees Trees, o Options) (*report.Report, error) {
	if o.Platform == nil {
		o.Platform = gitopsv1.DefaultPlatform()
	}
	if o.Gate == "" {
		o.Gate = report.GateCrossNamespace
	}
	r := &report.Report{Path: o.Path, Gate: o.Gate}
	// The head renders anew only what the pull request changed.
	cache := &renderers.Cache{}
	base, baseRes, err := render(ctx, trees, o, o.Base, cache)
	r.Base = base
	if err != nil {
		if base.Commit == "" {
			return nil, fmt.Errorf("base %s: %w", o.Base, err)
		}
		// A base that does not render is compared as empty: everything is new.
		baseRes = &renderers.Result{}
		for _, e := range manifest.Errors(err) {
			r.BaseErrors = append(r.BaseErrors, e.Error())
		}
	}
	head, headRes, err := render(ctx, trees, o, o.Head, cache)
	r.Head = head
	if err != nil {
		if head.Commit == "" {
			return nil, fmt.Errorf("head %s: %w", o.Head, err)
		}
		for _, e := range manifest.Errors(err) {
			r.HeadErrors = append(r.HeadErrors, e.Error())
		}
		return r, nil
	}
	policies := headRes.AuthorizationPolicies()
	set := policy.NewSet(o.Platform.Namespace, policies)
	tests, testErrs := policy.Test(ctx, set, policies, o.Platform.Limits)
	r.Tests = tests
	for _, e := range testErrs {
		r.TestErrors = append(r.TestErrors, e.Error())
	}
	o.phase("deciding who may call whom, before and after")
	if r.Access, err = access.Compare(ctx, access.FromRender(baseRes, o.Platform), access.FromRender(headRes, o.Platform)); err != nil {
		return nil, err
	}
	r.Objects = diff.Objects(baseRes.Objects, headRes.Objects)
	return r, nil
}

// render renders o.Path at rev. The tests are run by Run, to report each.
func render(ctx context.Context, trees Trees, o Options, rev string, cache *renderers.Cache) (report.Revision, *renderers.Result, error) {
	fsys, commit, err := trees.Tree(ctx, rev)
	if err != nil {
		return report.Revision{Ref: rev}, nil, err
	}
	var progress func(string)
	if o.Progress != nil {
		progress = func(phase string) { o.Progress(rev + ": " + phase) }
	}
	res, err := renderers.Render(fsys, o.Path, renderers.Options{Platform: o.Platform, Namespace: o.Namespace, SkipPolicyTests: true, Cache: cache, Progress: progress})
	return report.Revision{Ref: rev, Commit: commit}, res, err
}
