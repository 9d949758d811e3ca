package dashboard

import (
	"cmp"
	"context"
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
	// pages are the access pages made from g, by query: among 1,000 agents a page
	// visits a million pairs, which a live stream would otherwise do on every change.
	pages map[views.AccessQuery]views.AccessPage
}

// maxAccessPages bounds the pages kept per graph.
const maxAccessPages = 32

// page is the access page of q over the applied revisions, made once per graph.
func (m *accessMemo) page(ctx context.Context, syncs []*gitopsv1.Sync, aps []*agentv1.AuthorizationPolicy, p *gitopsv1.Platform, q views.AccessQuery) views.AccessPage {
	g := m.graph(syncs, aps, p)
	m.mu.Lock()
	page, ok := m.pages[q]
	m.mu.Unlock()
	if ok {
		return page
	}
	page = views.NewAccessPage(ctx, g, q)
	if ctx.Err() != nil || q.Ask {
		return page // cut short, or a what-if: not kept
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.g == g {
		if len(m.pages) >= maxAccessPages {
			clear(m.pages)
		}
		m.pages[q] = page
	}
	return page
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
		m.key, m.g, m.pages = key, access.NewGraph(rev), map[views.AccessQuery]views.AccessPage{}
	}
	return m.g
}
