package controller

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/trustsync/trustsync/internal/ctrlkit"
)

// lastKnownSecrets reads Secrets from the API server and, while it does not answer,
// serves the copy it last read of each: the commit status that says the API server is
// down must not need the API server to be posted.
type lastKnownSecrets struct {
	api  client.Reader
	mu   sync.Mutex
	last map[types.NamespacedName]*corev1.Secret
}

func newLastKnownSecrets(api client.Reader) *lastKnownSecrets {
	return &lastKnownSecrets{api: api, last: map[types.NamespacedName]*corev1.Secret{}}
}

func (l *lastKnownSecrets) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	secret, ok := obj.(*corev1.Secret)
	if !ok {
		return l.api.Get(ctx, key, obj, opts...)
	}
	err := l.api.Get(ctx, key, secret, opts...)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err == nil:
		l.last[key] = secret.DeepCopy()
	case ctrlkit.Unavailable(err) && l.last[key] != nil:
		l.last[key].DeepCopyInto(secret)
		return nil
	case apierrors.IsNotFound(err):
		delete(l.last, key)
	}
	return err
}

func (l *lastKnownSecrets) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return l.api.List(ctx, list, opts...)
}
