package install

import (
	"context"
	"fmt"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/pkg/ssa"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/trustsync/trustsync/webhook/certs"
)

// Owner is the field manager of what install applies and the prefix of the labels that
// mark it: install.trustsync.dev/name and install.trustsync.dev/namespace.
var Owner = ssa.Owner{Field: "trustsync-install", Group: "install.trustsync.dev"}

// ownerName is the installation's name in its owner labels; one per cluster.
const ownerName = "trustsync"

// OwnerLabels are the labels every object install applies carries.
func OwnerLabels() map[string]string {
	return map[string]string{Owner.Group + "/name": ownerName, Owner.Group + "/namespace": Namespace}
}

// ApplyOptions tune Apply. A zero field takes its default.
type ApplyOptions struct {
	// Wait for every object to be ready (kstatus Current) after applying; CRDs and
	// namespaces are always waited for, before what needs them is applied.
	Wait bool
	// Timeout bounds each wait. Default 5m.
	Timeout time.Duration
	// Interval between status polls. Default 2s.
	Interval time.Duration
}

func (o ApplyOptions) withDefaults() ApplyOptions {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	return o
}

// Change is what Apply or Remove did to one object.
type Change struct {
	// Object is Kind/namespace/name.
	Object string `json:"object"`
	// Action is created, configured, unchanged, deleted or skipped.
	Action string `json:"action"`
}

func changes(cs *ssa.ChangeSet) []Change {
	out := make([]Change, 0, len(cs.Entries))
	for _, e := range cs.Entries {
		out = append(out, Change{Object: e.Subject, Action: e.Action.String()})
	}
	return out
}

func manager(c client.Client) *ssa.ResourceManager {
	return ssa.NewResourceManager(c, polling.NewStatusPoller(c, c.RESTMapper(), polling.Options{}), Owner)
}

// Apply installs objs by server-side apply, in stages: CRDs, cluster roles and
// namespaces first, waited for, then the rest; with o.Wait it then waits until all of
// it is ready. Objects whose live copy already matches are left alone.
func Apply(ctx context.Context, c client.Client, objs []*unstructured.Unstructured, o ApplyOptions) ([]Change, error) {
	o = o.withDefaults()
	rm := manager(c)
	objs = copies(objs)
	rm.SetOwnerLabels(objs, ownerName, Namespace)
	opts := ssa.DefaultApplyOptions()
	opts.WaitInterval, opts.WaitTimeout = o.Interval, o.Timeout
	cs, err := rm.ApplyAllStaged(ctx, objs, opts)
	if err != nil {
		return changes(cs), fmt.Errorf("applying the installation: %w", err)
	}
	if o.Wait {
		if err := rm.WaitForSetWithContext(ctx, cs.ToObjMetadataSet(), ssa.WaitOptions{Interval: o.Interval, Timeout: o.Timeout, FailFast: true}); err != nil {
			return changes(cs), fmt.Errorf("waiting for the installation to be ready: %w", err)
		}
	}
	return changes(cs), nil
}

// RemoveOptions choose what Remove deletes beyond trustsync's workloads and RBAC.
type RemoveOptions struct {
	// CRDs deletes the CustomResourceDefinitions too, and with them every GitSource,
	// Sync, AgentRuntime, AuthorizationPolicy and AgentCard in the cluster.
	CRDs bool
	// Namespace deletes trustsync's namespace too, with whatever else is in it.
	Namespace bool
}

// Remove deletes what Apply made of objs: only live objects that carry the owner
// labels, so an object of the same name someone else made stays. CRDs and the namespace
// stay unless o says otherwise, and so every user object does.
func Remove(ctx context.Context, c client.Client, objs []*unstructured.Unstructured, o RemoveOptions) ([]Change, error) {
	var doomed []*unstructured.Unstructured
	for _, obj := range objs {
		switch {
		case IsCRD(obj) && !o.CRDs:
		case obj.GetKind() == "Namespace" && obj.GroupVersionKind().Group == "" && !o.Namespace:
		case !served(c, obj):
			// A kind the cluster does not serve (cert-manager's, SPIRE's) has no objects.
		default:
			doomed = append(doomed, obj)
		}
	}
	opts := ssa.DefaultDeleteOptions()
	opts.Inclusions = OwnerLabels()
	rm := manager(c)
	cs, err := rm.DeleteAll(ctx, doomed, opts)
	if err != nil {
		return changes(cs), fmt.Errorf("removing the installation: %w", err)
	}
	// The webhook made its CA and serving certificate itself; its CA key must not
	// outlive the installation.
	out := changes(cs)
	tls := &corev1.Secret{}
	key := client.ObjectKey{Namespace: Namespace, Name: certs.DefaultOptions().SecretName}
	switch err := c.Get(ctx, key, tls); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return out, fmt.Errorf("removing the webhook's certificate: %w", err)
	case tls.Labels[certs.LabelName] == certs.LabelValue:
		if err := c.Delete(ctx, tls); client.IgnoreNotFound(err) != nil {
			return out, fmt.Errorf("removing the webhook's certificate: %w", err)
		}
		out = append(out, Change{Object: "Secret/" + key.String(), Action: ssa.DeletedAction.String()})
	}
	return out, nil
}

// served reports whether the cluster serves obj's kind.
func served(c client.Client, obj *unstructured.Unstructured) bool {
	gvk := obj.GroupVersionKind()
	_, err := c.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
	return err == nil
}

func copies(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		out[i] = o.DeepCopy()
	}
	return out
}
