package controller

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/engine/previews"
	"github.com/trustsync/trustsync/engine/reconciler"
	"github.com/trustsync/trustsync/preview"
	"github.com/trustsync/trustsync/sources/git"
	"github.com/trustsync/trustsync/sources/gitsource"
	"github.com/trustsync/trustsync/sources/receiver"
	"github.com/trustsync/trustsync/sources/status"
)

// artifacts serves the GitSource store to the engine.
type artifacts struct{ store *gitsource.Store }

func (a artifacts) Latest(src types.NamespacedName) (*reconciler.Artifact, bool) {
	art, ok := a.store.Latest(src)
	if !ok {
		return nil, false
	}
	return &reconciler.Artifact{Revision: art.Revision, Commit: art.Commit, Digest: art.Digest, Dir: art.Dir}, true
}

// commitStatuses posts the engine's reports through the GitSource's provider.
type commitStatuses struct {
	secrets client.Reader
}

// StatusContext names a Sync's statuses on the Git host.
func StatusContext(s *gitopsv1.Sync) string { return "trustsync/" + s.Namespace + "/" + s.Name }

func (c commitStatuses) Report(ctx context.Context, s *gitopsv1.Sync, src *gitopsv1.GitSource, commit string, r reconciler.Report) error {
	opts, err := statusOptions(ctx, c.secrets, src)
	if err != nil {
		return err
	}
	poster, err := status.New(opts)
	if err != nil {
		return err
	}
	state := map[reconciler.State]status.State{reconciler.Pending: status.Pending, reconciler.Success: status.Success, reconciler.Failure: status.Failure}[r.State]
	_, err = poster.Post(ctx, commit, status.Status{Context: StatusContext(s), State: state, Description: r.Description, TargetURL: targetURL(src, s)})
	return err
}

// statusOptions are the commit-status options of a GitSource, its token read from
// spec.commitStatus.secretRef.
func statusOptions(ctx context.Context, secrets client.Reader, src *gitopsv1.GitSource) (status.Options, error) {
	cs := src.Spec.CommitStatus
	if cs == nil {
		return status.Options{}, fmt.Errorf("GitSource %s/%s has no spec.commitStatus", src.Namespace, src.Name)
	}
	secret := &corev1.Secret{}
	key := types.NamespacedName{Namespace: src.Namespace, Name: cs.SecretRef.Name}
	if err := secrets.Get(ctx, key, secret); err != nil {
		return status.Options{}, fmt.Errorf("reading the commit status Secret %s: %w", key, err)
	}
	opts := status.Options{
		Provider:   status.Provider(cs.Provider),
		Address:    cs.Address,
		Repository: cs.Repository,
		RepoURL:    src.Spec.URL,
		Token:      string(secret.Data["token"]),
	}
	if cs.Provider == gitopsv1.ProviderBitbucket || cs.Provider == gitopsv1.ProviderBitbucketServer {
		opts.Username = string(secret.Data["username"]) // app-password auth; other hosts take the token alone
	}
	return opts, nil
}

func targetURL(src *gitopsv1.GitSource, s *gitopsv1.Sync) string {
	return strings.NewReplacer("{namespace}", s.Namespace, "{name}", s.Name).Replace(src.Spec.CommitStatus.TargetURL)
}

// previewHosts opens a GitSource's pull requests through its commit-status provider.
type previewHosts struct{ secrets client.Reader }

func (h previewHosts) Host(ctx context.Context, src *gitopsv1.GitSource) (previews.Host, error) {
	opts, err := statusOptions(ctx, h.secrets, src)
	if err != nil {
		return nil, err
	}
	poster, err := status.New(opts)
	if err != nil {
		return nil, err
	}
	changes, err := status.NewChangeRequests(opts)
	if err != nil {
		return nil, err
	}
	return &previewHost{src: src, poster: poster, changes: changes}, nil
}

type previewHost struct {
	src     *gitopsv1.GitSource
	poster  status.Poster
	changes status.ChangeRequests
}

func (h *previewHost) OpenPullRequests(ctx context.Context) ([]previews.PullRequest, error) {
	prs, err := h.changes.OpenPullRequests(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]previews.PullRequest, len(prs))
	for i, pr := range prs {
		out[i] = previews.PullRequest{Number: pr.Number, HeadSHA: pr.HeadSHA, BaseBranch: pr.BaseBranch}
	}
	return out, nil
}

// PreviewContext names a Sync's preview statuses, apart from its apply statuses.
func PreviewContext(s *gitopsv1.Sync) string {
	return "trustsync/preview/" + s.Namespace + "/" + s.Name
}

func (h *previewHost) Publish(ctx context.Context, s *gitopsv1.Sync, pr previews.PullRequest, p previews.Publication) error {
	st := status.Status{Context: PreviewContext(s), State: status.Success, Description: p.Description, TargetURL: targetURL(h.src, s)}
	if p.Failed {
		st.State = status.Failure
	}
	if _, err := h.poster.Post(ctx, pr.HeadSHA, st); err != nil {
		return err
	}
	_, err := h.changes.UpsertComment(ctx, pr.Number, status.Marker(s.Namespace+"/"+s.Name), p.Comment)
	return err
}

// previewRevisions fetches for previews into a cache of their own, so preview checkouts
// never push out the trees the Syncs apply from.
type previewRevisions struct {
	fetcher *git.Fetcher
	secrets client.Reader
}

func (r previewRevisions) Trees(ctx context.Context, src *gitopsv1.GitSource) (preview.Trees, error) {
	auth, err := gitsource.Auth(ctx, r.secrets, src)
	if err != nil {
		return nil, err
	}
	// The base is the pull request's target branch, the head its commit SHA; one
	// resolution for the engine, `trustsync diff --repo` and `trustsync preview`.
	return git.RemoteRevisions{Fetcher: r.fetcher, URL: src.Spec.URL, Auth: auth}, nil
}

// receivers finds a GitSource's receiver settings for the push webhook handler.
type receivers struct {
	client  client.Reader
	secrets client.Reader
}

func (r receivers) Receiver(ctx context.Context, namespace, name string) (receiver.Source, bool, error) {
	src := &gitopsv1.GitSource{}
	if err := r.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, src); err != nil {
		if apierrors.IsNotFound(err) {
			return receiver.Source{}, false, nil
		}
		return receiver.Source{}, false, err
	}
	if src.Spec.Receiver == nil {
		return receiver.Source{}, false, nil
	}
	secret := &corev1.Secret{}
	key := types.NamespacedName{Namespace: namespace, Name: src.Spec.Receiver.SecretRef.Name}
	if err := r.secrets.Get(ctx, key, secret); err != nil {
		return receiver.Source{}, false, fmt.Errorf("reading the receiver Secret %s: %w", key, err)
	}
	token := secret.Data["token"]
	if len(token) == 0 {
		return receiver.Source{}, false, fmt.Errorf("receiver Secret %s has no key token", key)
	}
	return receiver.Source{Type: receiver.Type(src.Spec.Receiver.Type), Secret: token}, true, nil
}
