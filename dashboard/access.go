package dashboard

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/dashboard/views"
	"github.com/trustsync/trustsync/preview/access"
)

// accessMemo keeps the access graph of the applied revisions while what decides it is
// the same: the agents the Syncs report and the policies' specs (by generation). A
// Sync's status changing in other ways, or a policy's status, keeps every verdict.
type accessMemo struct {
	mu  sync.Mutex
	key string
	g   *access.Graph
}

func (m *accessMemo) graph(syncs []*gitopsv1.Sync, aps []*agentv1.AuthorizationPolicy, p *gitopsv1.Platform) *access.Graph {
	// The cache lists in no order: the revision's identities come sorted, the policies
	// are sorted here.
	aps = slices.Clone(aps)
	slices.SortFunc(aps, func(a, b *agentv1.AuthorizationPolicy) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	rev := views.AppliedRevision(syncs, aps, p)
	h := sha256.New()
	for _, a := range rev.Identities {
		fmt.Fprintf(h, "a\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%t\x00%s\x00%s\n", a.Namespace, a.Name, a.Type, a.ServiceAccount, a.ID, a.Host, a.Injected, a.Mode, a.MTLS)
	}
	for _, ap := range aps {
		fmt.Fprintf(h, "p\x00%s\x00%s\x00%s\x00%d\n", ap.Namespace, ap.Name, ap.UID, ap.Generation)
	}
	key := hex.EncodeToString(h.Sum(nil))
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.g == nil || m.key != key {
		m.key, m.g = key, access.NewGraph(rev)
	}
	return m.g
}
