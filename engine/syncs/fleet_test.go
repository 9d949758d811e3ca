package syncs

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/engine/apply"
)

func TestInventoryEncoding(t *testing.T) {
	inv := apply.Inventory{{ID: "demo_assistant_apps_Deployment", V: "v1"}, {ID: "demo_assistant__Service", V: "v1"}}
	data, err := encodeInventory(inv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeInventory(data)
	if err != nil || len(got) != 2 || got[0] != inv[0] || got[1] != inv[1] {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	// A ConfigMap replaced by someone else: not gzip, or a bomb past the bound.
	if _, err := decodeInventory([]byte("not gzip")); err == nil {
		t.Error("a value that is not gzip decoded")
	}
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	_, _ = zw.Write([]byte("[" + strings.Repeat(" ", maxInventory) + "]"))
	_ = zw.Close()
	if _, err := decodeInventory(bomb.Bytes()); err == nil || !strings.Contains(err.Error(), "unzipped") {
		t.Errorf("an inventory past the bound: %v", err)
	}
}

func TestMemberKeys(t *testing.T) {
	sync := types.NamespacedName{Namespace: "fleet", Name: "agents"}
	m := map[types.NamespacedName]int{
		sync: 1, memberKey(sync, "prod"): 2, memberKey(sync, "dev"): 3,
		{Namespace: "fleet", Name: "agents-b"}: 4, memberKey(types.NamespacedName{Namespace: "other", Name: "agents"}, "prod"): 5,
	}
	forgetKeys(m, sync)
	if len(m) != 2 {
		t.Errorf("forgetKeys left %v; want only the other Syncs' entries", m)
	}
}

func TestAllAtOnce(t *testing.T) {
	p := allAtOnce(RolloutInput{Revision: "main@sha1:1", Clusters: []RolloutCluster{{Name: "a"}, {Name: "b", Hold: "maintenance"}}})
	if !p.Clusters["a"].Admit || p.Clusters["b"].Admit || p.Clusters["b"].Why != "held: maintenance" {
		t.Errorf("plan %+v", p)
	}
	st := waiting(gitopsv1.ClusterSyncStatus{Ready: "True", LastAppliedRevision: "main@sha1:0"}, "b", "main@sha1:1", p.Clusters["b"])
	if st.Result != gitopsv1.ClusterHeld || st.Ready != "False" || st.Message != "held: maintenance" || st.LastAppliedRevision != "main@sha1:0" {
		t.Errorf("a held cluster behind: %+v", st)
	}
	if st := waiting(gitopsv1.ClusterSyncStatus{Ready: "True", LastAppliedRevision: "main@sha1:1"}, "b", "main@sha1:1", p.Clusters["b"]); st.Ready != "True" {
		t.Errorf("a held cluster on the revision is no longer Ready: %+v", st)
	}
}
