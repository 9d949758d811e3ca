package spire

import (
	"context"
	"fmt"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/trustsync/trustsync/security/identity"
)

// Present reports whether SPIRE runs in the cluster, judged by its CSI driver: the
// one thing an injected pod needs from it. A identity.CSIDriver is what the socket volume of the
// pod names, so its absence is exactly what would leave pods stuck in ContainerCreating.
func Present(ctx context.Context, r client.Reader) (bool, error) {
	var d storagev1.CSIDriver
	err := r.Get(ctx, types.NamespacedName{Name: identity.CSIDriver}, &d)
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("reading identity.CSIDriver %s: %w", identity.CSIDriver, err)
	}
	return true, nil
}

// TrustBundleError is a trust bundle ConfigMap that exists but cannot be used.
type TrustBundleError struct {
	Namespace string
	Err       error
}

func (e *TrustBundleError) Error() string {
	return fmt.Sprintf("ConfigMap %s/%s data.%s: %v", e.Namespace, identity.TrustBundleConfigMap, identity.TrustBundleKey, e.Err)
}

func (e *TrustBundleError) Unwrap() error { return e.Err }

// TrustBundle reads the trust domain's bundle from the spire-bundle ConfigMap of a
// namespace (SPIRE's own). It returns nil and no error when there is no such ConfigMap or
// it has no bundle.spiffe key — SPIRE is absent or publishes PEM only — so that callers
// can tell "no SPIRE" from "SPIRE with a broken bundle", which is a *TrustBundleError.
func TrustBundle(ctx context.Context, r client.Reader, namespace string, td spiffeid.TrustDomain) (*spiffebundle.Bundle, error) {
	var cm corev1.ConfigMap
	err := r.Get(ctx, types.NamespacedName{Namespace: namespace, Name: identity.TrustBundleConfigMap}, &cm)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading ConfigMap %s/%s: %w", namespace, identity.TrustBundleConfigMap, err)
	}
	data, ok := cm.Data[identity.TrustBundleKey]
	if !ok {
		if b, ok := cm.BinaryData[identity.TrustBundleKey]; ok {
			data = string(b)
		} else {
			return nil, nil
		}
	}
	b, err := identity.ParseTrustBundle(td, []byte(data))
	if err != nil {
		return nil, &TrustBundleError{Namespace: namespace, Err: err}
	}
	return b, nil
}
