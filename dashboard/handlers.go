package dashboard

import (
	"cmp"
	"context"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/trustsync/trustsync/api/agent/kinds"
	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/dashboard/views"
)

// list reads every object of a kind from the cache, in place: pages only read them.
func list[T any, L client.ObjectList](ctx context.Context, c client.Reader, l L, items func(L) []T) ([]*T, error) {
	if err := c.List(ctx, l, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	all := items(l)
	out := make([]*T, len(all))
	for i := range all {
		out[i] = &all[i]
	}
	return out, nil
}

func (s *Server) syncs(ctx context.Context) ([]*gitopsv1.Sync, error) {
	return list(ctx, s.cache, &gitopsv1.SyncList{}, func(l *gitopsv1.SyncList) []gitopsv1.Sync { return l.Items })
}

// clusters is every registered member Cluster.
func (s *Server) clusters(ctx context.Context) ([]*gitopsv1.Cluster, error) {
	return list(ctx, s.cache, &gitopsv1.ClusterList{}, func(l *gitopsv1.ClusterList) []gitopsv1.Cluster { return l.Items })
}

// policiesList is every AuthorizationPolicy of the families the platform reads.
func (s *Server) policiesList(ctx context.Context) ([]*agentv1.AuthorizationPolicy, error) {
	return kinds.AuthorizationPoliciesOf(s.opts.Platform.EnabledFamilies(), s.listCached(ctx))
}

// agentRuntimes is every AgentRuntime of the families the platform reads.
func (s *Server) agentRuntimes(ctx context.Context) ([]*agentv1.AgentRuntime, error) {
	return kinds.AgentRuntimesOf(s.opts.Platform.EnabledFamilies(), s.listCached(ctx))
}

// listCached lists from the cache without copies: the views only read.
func (s *Server) listCached(ctx context.Context) func(runtime.Object) error {
	return func(l runtime.Object) error {
		return s.cache.List(ctx, l.(client.ObjectList), client.UnsafeDisableDeepCopy)
	}
}

// sources finds GitSources in the cache.
func (s *Server) sources(ctx context.Context) views.Sources {
	return func(namespace, name string) *gitopsv1.GitSource {
		src := &gitopsv1.GitSource{}
		if err := s.cache.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, src, client.UnsafeDisableDeepCopy); err != nil {
			return nil
		}
		return src
	}
}

func (s *Server) overview(ctx context.Context, r *http.Request) (page, error) {
	all, err := s.syncs(ctx)
	if err != nil {
		return page{}, fmt.Errorf("listing Syncs: %w", err)
	}
	return page{name: "overview", nav: "overview", title: "Syncs", data: views.NewOverview(all, s.sources(ctx), views.ParseQuery(r.URL.Query()))}, nil
}

func (s *Server) syncPage(ctx context.Context, r *http.Request) (page, error) {
	key := client.ObjectKey{Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}
	sync := &gitopsv1.Sync{}
	if err := s.cache.Get(ctx, key, sync, client.UnsafeDisableDeepCopy); err != nil {
		if apierrors.IsNotFound(err) {
			return page{}, notFound{"Sync " + key.String()}
		}
		return page{}, fmt.Errorf("reading Sync %s: %w", key, err)
	}
	src := s.sources(ctx)(cmp.Or(sync.Spec.SourceRef.Namespace, sync.Namespace), sync.Spec.SourceRef.Name)
	events := &corev1.EventList{}
	sel := fields.Set{"involvedObject.kind": "Sync", "involvedObject.name": sync.Name}.AsSelector()
	if err := s.opts.Events.List(ctx, events, client.InNamespace(sync.Namespace), client.MatchingFieldsSelector{Selector: sel}, client.Limit(views.MaxEvents*2)); err != nil {
		s.opts.Log.V(1).Info("listing a Sync's events", "sync", key, "error", err.Error())
	}
	var healths views.Healths
	if sync.Status.Inventory != nil {
		healths = s.health.of(ctx, sync.Status.Inventory.Entries)
	}
	p := views.NewSyncPage(sync, src, healths, events.Items)
	return page{name: "sync", nav: "overview", title: "Sync " + key.String(), data: p, sync: sync}, nil
}

func (s *Server) agents(ctx context.Context, r *http.Request) (page, error) {
	rts, err := s.agentRuntimes(ctx)
	if err != nil {
		return page{}, fmt.Errorf("listing AgentRuntimes: %w", err)
	}
	all, err := s.syncs(ctx)
	if err != nil {
		return page{}, fmt.Errorf("listing Syncs: %w", err)
	}
	p := views.NewAgentsPage(rts, all, views.ParseQuery(r.URL.Query()))
	p.AddDecisions(s.decisions.read(ctx))
	return page{name: "agents", nav: "agents", title: "Agents", data: p}, nil
}

func (s *Server) policies(ctx context.Context, r *http.Request) (page, error) {
	aps, err := s.policiesList(ctx)
	if err != nil {
		return page{}, fmt.Errorf("listing AuthorizationPolicies: %w", err)
	}
	return page{name: "policies", nav: "policies", title: "Policies", data: views.NewPoliciesPage(aps, views.ParseQuery(r.URL.Query()))}, nil
}

func (s *Server) accessPage(ctx context.Context, r *http.Request) (page, error) {
	all, err := s.syncs(ctx)
	if err != nil {
		return page{}, fmt.Errorf("listing Syncs: %w", err)
	}
	aps, err := s.policiesList(ctx)
	if err != nil {
		return page{}, fmt.Errorf("listing AuthorizationPolicies: %w", err)
	}
	p := s.access.page(ctx, all, aps, s.opts.Platform, views.ParseAccessQuery(r.URL.Query()))
	return page{name: "access", nav: "access", title: "Access", data: p}, nil
}

func (s *Server) clustersPage(ctx context.Context, r *http.Request) (page, error) {
	cls, err := s.clusters(ctx)
	if err != nil {
		return page{}, fmt.Errorf("listing Clusters: %w", err)
	}
	all, err := s.syncs(ctx)
	if err != nil {
		return page{}, fmt.Errorf("listing Syncs: %w", err)
	}
	return page{name: "clusters", nav: "clusters", title: "Clusters", data: views.NewClustersPage(cls, all, views.ParseQuery(r.URL.Query()))}, nil
}
