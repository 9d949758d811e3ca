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
	"github.com/trustsync/trustsync/engine/reconciler"
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
	cs := src.Spec.CommitStatus
	secret := &corev1.Secret{}
	key := types.NamespacedName{Namespace: src.Namespace, Name: cs.SecretRef.Name}
	if err := c.secrets.Get(ctx, key, secret); err != nil {
		return fmt.Errorf("reading the commit status Secret %s: %w", key, err)
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
	poster, err := status.New(opts)
	if err != nil {
		return err
	}
	state := map[reconciler.State]status.State{reconciler.Pending: status.Pending, reconciler.Success: status.Success, reconciler.Failure: status.Failure}[r.State]
	target := strings.NewReplacer("{namespace}", s.Namespace, "{name}", s.Name).Replace(cs.TargetURL)
	_, err = poster.Post(ctx, commit, status.Status{Context: StatusContext(s), State: state, Description: r.Description, TargetURL: target})
	return err
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
