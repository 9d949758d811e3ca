package controller

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/engine/syncs"
	"github.com/trustsync/trustsync/preview/pullrequests"
	"github.com/trustsync/trustsync/sources/git"
	"github.com/trustsync/trustsync/sources/gitsource"
	"github.com/trustsync/trustsync/sources/receiver"
	"github.com/trustsync/trustsync/sources/status"
)

// artifacts serves the GitSource store to the engine.
type artifacts struct{ store *gitsource.Store }

func (a artifacts) Latest(src types.NamespacedName) (*syncs.Artifact, bool) {
	art, ok := a.store.Latest(src)
	if !ok {
		return nil, false
	}
	return &syncs.Artifact{Revision: art.Revision, Commit: art.Commit, Digest: art.Digest, Dir: art.Dir}, true
}

// commitStatuses posts the engine's reports through the GitSource's provider.
type commitStatuses struct {
	secrets client.Reader
	// dashboard is the dashboard's public URL; a status without spec.commitStatus.targetURL
	// links to the Sync's page there.
	dashboard string
}

// StatusContext names a Sync's statuses on the Git host.
func StatusContext(s *gitopsv1.Sync) string { return "trustsync/" + s.Namespace + "/" + s.Name }

// ClusterStatusContext names a fleet Sync's statuses about one of its clusters, so the
// clusters do not overwrite each other's (Flux's notification-controller#194).
func ClusterStatusContext(s *gitopsv1.Sync, cluster string) string {
	return StatusContext(s) + "/" + cluster
}

func (c commitStatuses) Report(ctx context.Context, s *gitopsv1.Sync, src *gitopsv1.GitSource, commit string, r syncs.Report) error {
	opts, err := statusOptions(ctx, c.secrets, src)
	if err != nil {
		return err
	}
	poster, err := status.New(opts)
	if err != nil {
		return err
	}
	state := map[syncs.State]status.State{syncs.Pending: status.Pending, syncs.Success: status.Success, syncs.Failure: status.Failure}[r.State]
	context := StatusContext(s)
	if r.Cluster != "" {
		context = ClusterStatusContext(s, r.Cluster)
	}
	_, err = poster.Post(ctx, commit, status.Status{Context: context, State: state, Description: r.Description, TargetURL: targetURL(src, s, c.dashboard)})
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

// targetURL is where a Sync's commit status links: spec.commitStatus.targetURL with the
// Sync's namespace and name, else its page on the dashboard, else nowhere.
func targetURL(src *gitopsv1.GitSource, s *gitopsv1.Sync, dashboard string) string {
	if t := src.Spec.CommitStatus.TargetURL; t != "" {
		return strings.NewReplacer("{namespace}", s.Namespace, "{name}", s.Name).Replace(t)
	}
	if dashboard == "" {
		return ""
	}
	return strings.TrimSuffix(dashboard, "/") + "/syncs/" + url.PathEscape(s.Namespace) + "/" + url.PathEscape(s.Name)
}

// DashboardURL checks the dashboard's public URL: absolute http(s), without credentials,
// query or fragment, since every commit status shows it to whoever sees the commit.
func DashboardURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("the dashboard URL %q: %w", raw, err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return fmt.Errorf("the dashboard URL %q is not an absolute http(s) URL", raw)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("the dashboard URL %q has credentials, a query or a fragment: every commit status shows it", raw)
	}
	return nil
}

// previewHosts opens a GitSource's pull requests through its commit-status provider.
type previewHosts struct {
	secrets   client.Reader
	dashboard string
}

func (h previewHosts) Host(ctx context.Context, src *gitopsv1.GitSource) (pullrequests.Host, error) {
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
	return &previewHost{src: src, dashboard: h.dashboard, poster: poster, changes: changes}, nil
}

type previewHost struct {
	src       *gitopsv1.GitSource
	dashboard string
	poster    status.Poster
	changes   status.ChangeRequests
}

func (h *previewHost) OpenPullRequests(ctx context.Context) ([]pullrequests.PullRequest, error) {
	prs, err := h.changes.OpenPullRequests(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]pullrequests.PullRequest, len(prs))
	for i, pr := range prs {
		out[i] = pullrequests.PullRequest{Number: pr.Number, HeadSHA: pr.HeadSHA, BaseBranch: pr.BaseBranch}
	}
	return out, nil
}

// PreviewContext names a Sync's preview statuses, apart from its apply statuses.
func PreviewContext(s *gitopsv1.Sync) string {
	return "trustsync/preview/" + s.Namespace + "/" + s.Name
}

func (h *previewHost) Publish(ctx context.Context, s *gitopsv1.Sync, pr pullrequests.PullRequest, p pullrequests.Publication) error {
	st := status.Status{Context: PreviewContext(s), State: status.Success, Description: p.Description, TargetURL: targetURL(h.src, s, h.dashboard)}
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

func (r previewRevisions) Trees(ctx context.Context, src *gitopsv1.GitSource) (pullrequests.Repository, error) {
	auth, err := gitsource.Auth(ctx, r.secrets, src)
	if err != nil {
		return nil, err
	}
	// The base is the pull request's target branch, the head its commit SHA; one
	// resolution for the engine, `trustsync diff --repo` and `trustsync preview`.
	return git.RemoteRevisions{Fetcher: r.fetcher, URL: src.Spec.URL, Auth: auth}, nil
}

// receivers finds a GitSource's receiver settings for the push webhook handler. It answers
// from memory: GitSources from the manager's cache, Secrets from secretCache.
type receivers struct {
	sources client.Reader
	secrets *secretCache
}

func (r receivers) Receiver(ctx context.Context, namespace, name string) (receiver.Source, bool, error) {
	src := &gitopsv1.GitSource{}
	if err := r.sources.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, src); err != nil {
		if apierrors.IsNotFound(err) {
			return receiver.Source{}, false, nil
		}
		return receiver.Source{}, false, err
	}
	if src.Spec.Receiver == nil {
		return receiver.Source{}, false, nil
	}
	key := types.NamespacedName{Namespace: namespace, Name: src.Spec.Receiver.SecretRef.Name}
	token, err := r.secrets.token(ctx, key)
	if err != nil {
		return receiver.Source{}, false, err
	}
	return receiver.Source{Type: receiver.Type(src.Spec.Receiver.Type), Secret: token}, true, nil
}

// secretCache holds the tokens of receiver Secrets. It reads only Secrets a GitSource's
// spec.receiver names (the caller checks the GitSource first), each at most once per TTL
// however many requests arrive, so unsigned requests cost the API server nothing and the
// controller caches a handful of Secrets rather than every Secret of the cluster. A
// failed read is remembered too, for a shorter time. A rotated Secret takes effect within
// the TTL.
type secretCache struct {
	reader        client.Reader
	ttl, errorTTL time.Duration
	now           func() time.Time

	mu      sync.Mutex
	entries map[types.NamespacedName]secretEntry
	reads   singleflight.Group
}

type secretEntry struct {
	token []byte
	err   error
	until time.Time
}

// Receiver Secret cache lifetimes.
const (
	receiverSecretTTL      = 30 * time.Second
	receiverSecretErrorTTL = 10 * time.Second
)

func newSecretCache(reader client.Reader) *secretCache {
	return &secretCache{reader: reader, ttl: receiverSecretTTL, errorTTL: receiverSecretErrorTTL, now: time.Now,
		entries: map[types.NamespacedName]secretEntry{}}
}

// token is the Secret's key token; an error names the Secret and never holds its data.
func (c *secretCache) token(ctx context.Context, key types.NamespacedName) ([]byte, error) {
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && c.now().Before(e.until) {
		return e.token, e.err
	}
	// One read per Secret at a time, whatever the number of waiting requests; it is not
	// cut short by the request that started it.
	v, _, _ := c.reads.Do(key.String(), func() (any, error) {
		// A read that ended between this request's miss and its Do has filled the entry.
		c.mu.Lock()
		e, ok := c.entries[key]
		c.mu.Unlock()
		if ok && c.now().Before(e.until) {
			return e, nil
		}
		e = c.read(context.WithoutCancel(ctx), key)
		c.mu.Lock()
		defer c.mu.Unlock()
		now := c.now()
		for k, old := range c.entries { // GitSources come and go: drop what has expired
			if !now.Before(old.until) {
				delete(c.entries, k)
			}
		}
		c.entries[key] = e
		return e, nil
	})
	e = v.(secretEntry)
	return e.token, e.err
}

func (c *secretCache) read(ctx context.Context, key types.NamespacedName) secretEntry {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	secret := &corev1.Secret{}
	if err := c.reader.Get(ctx, key, secret); err != nil {
		return secretEntry{err: fmt.Errorf("reading the receiver Secret %s: %w", key, err), until: c.now().Add(c.errorTTL)}
	}
	token := secret.Data["token"]
	if len(token) == 0 {
		return secretEntry{err: fmt.Errorf("receiver Secret %s has no key token", key), until: c.now().Add(c.errorTTL)}
	}
	return secretEntry{token: token, until: c.now().Add(c.ttl)}
}
