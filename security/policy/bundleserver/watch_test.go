package bundleserver

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache/informertest"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllertest"

	rossoctlv1 "github.com/trustsync/trustsync/api/agent/rossoctl/v1alpha1"
	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	apischeme "github.com/trustsync/trustsync/api/scheme"
	"github.com/trustsync/trustsync/security/identity"
)

// TestWatchFamilies: with both families watched, a Rossoctl policy is in the tiers as a
// Kagenti one is, its deletion takes it out, and the index is synced only once every
// family's informer is.
func TestWatchFamilies(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Not synced until told: the index must wait for both.
	kagentiInf, rossoctlInf := controllertest.NewFakeInformer(), controllertest.NewFakeInformer()
	informers := &informertest.FakeInformers{Scheme: apischeme.New(), InformersByGVK: map[schema.GroupVersionKind]toolscache.SharedIndexInformer{
		agentv1.Kagenti.GroupVersion().WithKind(agentv1.AuthorizationPolicyKind):  kagentiInf,
		agentv1.Rossoctl.GroupVersion().WithKind(agentv1.AuthorizationPolicyKind): rossoctlInf,
	}}
	ix := NewIndex("trustsync-system")
	if err := Watch(ctx, informers, ix, agentv1.Kagenti, agentv1.Rossoctl); err != nil {
		t.Fatal(err)
	}
	ns := &agentv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "team"}, Spec: agentv1.AuthorizationPolicySpec{Scope: agentv1.ScopeNamespace}}
	client := &rossoctlv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "chat"}, Spec: agentv1.AuthorizationPolicySpec{Scope: agentv1.ScopeClient}}
	kagentiInf.Add(ns)
	rossoctlInf.Add(client)
	tiers, _ := ix.tiers(identity.Workload{Namespace: "team", ServiceAccount: "chat"})
	if len(tiers.Namespace) != 1 || tiers.Namespace[0].Name != "team" || tiers.Client == nil || tiers.Client.Name != "chat" {
		t.Fatalf("tiers %+v, want the Kagenti namespace policy and the Rossoctl client policy", tiers)
	}
	rossoctlInf.Delete(client)
	if tiers, _ := ix.tiers(identity.Workload{Namespace: "team", ServiceAccount: "chat"}); tiers.Client != nil {
		t.Fatal("the deleted Rossoctl policy is still in the tiers")
	}
	// Synced only when both informers are.
	kagentiInf.Synced()
	time.Sleep(200 * time.Millisecond)
	if ix.Synced() {
		t.Fatal("synced before the Rossoctl informer")
	}
	rossoctlInf.Synced()
	deadline := time.Now().Add(5 * time.Second)
	for !ix.Synced() {
		if time.Now().After(deadline) {
			t.Fatal("never synced")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
