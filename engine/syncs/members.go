package syncs

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// Target is a member cluster as the engine applies to it.
type Target struct {
	// Config reaches the cluster's API server with the hub's credentials there
	// (impersonating the Cluster's ServiceAccount when it names one).
	Config *rest.Config
	// Mapper maps kinds to the cluster's resources.
	Mapper meta.RESTMapper
	// Objects is a started informer cache of the cluster's objects that carry the Sync
	// owner label (package objcache): what the engine applied there, read for no-ops,
	// drift and health.
	Objects cache.Cache
}

// Member is a Cluster a Sync's clusterSelector selected.
type Member struct {
	Cluster *gitopsv1.Cluster
	// Target reaches it; nil when it cannot be reached, and Err says why.
	Target *Target
	Err    error
}

// Members finds the Clusters a Sync targets, with what reaches them.
type Members interface {
	// Members lists the Clusters of namespace that selector selects, by name.
	Members(ctx context.Context, namespace string, selector labels.Selector) ([]Member, error)
}

// RolloutPlanner decides which selected clusters take a revision now.
type RolloutPlanner interface {
	Plan(in RolloutInput) RolloutPlan
}

// RolloutInput is what a rollout is planned from.
type RolloutInput struct {
	// Rollout of the Sync; nil: every cluster at once.
	Rollout *gitopsv1.RolloutSpec
	// Revision to roll out.
	Revision string
	Now      time.Time
	// Clusters selected, by name.
	Clusters []RolloutCluster
}

// RolloutCluster is one selected cluster as the planner sees it.
type RolloutCluster struct {
	Name   string
	Labels map[string]string
	// Hold is the cluster's hold annotation; set, the cluster takes no new revision.
	Hold string
	// Status is what the Sync last recorded of the cluster; zero for a new one.
	Status gitopsv1.ClusterSyncStatus
}

// RolloutPlan says, for each cluster, whether it takes the revision now.
type RolloutPlan struct {
	// Clusters by name.
	Clusters map[string]ClusterPlan
	// Halted says why the rollout stopped (a wave failed beyond its budget); empty while
	// it goes on.
	Halted string
	// Wave names the wave rolling out now, "" once all are done or without waves.
	Wave string
	// After is when to plan again though nothing changes (a soak that ends); 0: only
	// on a change.
	After time.Duration
}

// ClusterPlan is one cluster's part of a plan.
type ClusterPlan struct {
	// Wave is the cluster's wave ("" without waves).
	Wave string
	// Admit: the cluster takes the revision now (or has it already).
	Admit bool
	// Why the cluster waits, when it is not admitted.
	Why string
	// Failed: the cluster counts against its wave's failure budget (its attempt
	// failed, or outlasted the progress deadline).
	Failed bool
}
