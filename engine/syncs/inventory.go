package syncs

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/engine/apply"
)

// inventoryKey is the ConfigMap key of a member cluster's inventory, gzipped JSON: a
// thousand agents' seven thousand entries are some 400 KB as JSON, a few tens gzipped.
const inventoryKey = "inventory.json.gz"

// maxInventory bounds an inventory read back, unzipped: it is written by trustsync, but
// whoever may write ConfigMaps in the namespace could replace it.
const maxInventory = 64 << 20

// memberInventory is the inventory of the Sync on a member cluster: from memory, else
// from its ConfigMap; empty when there is none.
func (r *Reconciler) memberInventory(ctx context.Context, key types.NamespacedName, s *gitopsv1.Sync, cluster string) (apply.Inventory, error) {
	r.mu.Lock()
	inv, ok := r.inventories[key]
	r.mu.Unlock()
	if ok {
		return inv, nil
	}
	cm := &corev1.ConfigMap{}
	name := gitopsv1.InventoryConfigMap(s.Name, cluster)
	if err := r.inventoryReader().Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: name}, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading the inventory ConfigMap %s/%s: %w", s.Namespace, name, err)
	}
	inv, err := decodeInventory(cm.BinaryData[inventoryKey])
	if err != nil {
		return nil, fmt.Errorf("the inventory ConfigMap %s/%s, key %s: %w", s.Namespace, name, inventoryKey, err)
	}
	r.remember(key, inv)
	return inv, nil
}

func (r *Reconciler) inventoryReader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}

func (r *Reconciler) remember(key types.NamespacedName, inv apply.Inventory) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inventories == nil {
		r.inventories = map[types.NamespacedName]apply.Inventory{}
	}
	r.inventories[key] = inv
}

// saveMemberInventory writes the inventory into its ConfigMap, owned by the Sync, when
// it differs from the previous one.
func (r *Reconciler) saveMemberInventory(ctx context.Context, key types.NamespacedName, s *gitopsv1.Sync, cluster string, previous, inv apply.Inventory) error {
	if slices.Equal(previous, inv) {
		return nil
	}
	data, err := encodeInventory(inv)
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: gitopsv1.InventoryConfigMap(s.Name, cluster)}}
	cm.Labels = map[string]string{gitopsv1.LabelInventoryOf: s.Name}
	cm.OwnerReferences = []metav1.OwnerReference{{APIVersion: gitopsv1.GroupVersion.String(), Kind: gitopsv1.SyncKind, Name: s.Name, UID: s.UID}}
	cm.BinaryData = map[string][]byte{inventoryKey: data}
	err = r.Client.Update(ctx, cm)
	if apierrors.IsNotFound(err) {
		cm.ResourceVersion = ""
		err = r.Client.Create(ctx, cm)
	}
	if err != nil {
		return fmt.Errorf("saving the inventory of cluster %s: %w", cluster, err)
	}
	r.remember(key, inv)
	return nil
}

// deleteInventories deletes the Sync's inventory ConfigMaps: the Sync is going, and
// garbage collection is not something every API server runs.
// They are listed and deleted one by one: deletecollection is a right the controller
// does not ask for.
func (r *Reconciler) deleteInventories(ctx context.Context, s *gitopsv1.Sync) error {
	var list corev1.ConfigMapList
	if err := r.inventoryReader().List(ctx, &list, client.InNamespace(s.Namespace), client.MatchingLabels{gitopsv1.LabelInventoryOf: s.Name}); err != nil {
		return err
	}
	for i := range list.Items {
		if err := r.Client.Delete(ctx, &list.Items[i]); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return nil
}

func encodeInventory(inv apply.Inventory) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(inv); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func decodeInventory(data []byte) (apply.Inventory, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(io.LimitReader(zr, maxInventory+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxInventory {
		return nil, fmt.Errorf("more than %d bytes unzipped", maxInventory)
	}
	var inv apply.Inventory
	if err := json.Unmarshal(raw, &inv); err != nil {
		return nil, err
	}
	return inv, nil
}
