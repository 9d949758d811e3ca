package dashboard

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	toolscache "k8s.io/client-go/tools/cache"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/trustsync/trustsync/api/agent/kinds"
	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// CacheOptions are the dashboard's cache: every Sync, GitSource, Cluster, and AgentRuntime
// and AuthorizationPolicy of each family read, without their managedFields; of every other
// kind only the objects a Sync applied (by its owner label), and of those only what
// kstatus reads.
func CacheOptions(scheme *runtime.Scheme, families []agentv1.Family) crcache.Options {
	owned, err := labels.NewRequirement(gitopsv1.LabelSyncName, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant, valid label key
	}
	all := crcache.ByObject{Label: labels.Everything(), Transform: crcache.TransformStripManagedFields()}
	byObject := map[client.Object]crcache.ByObject{&gitopsv1.Sync{}: all, &gitopsv1.GitSource{}: all, &gitopsv1.Cluster{}: all}
	for _, f := range families {
		byObject[kinds.NewAgentRuntime(f)] = all
		byObject[kinds.NewAuthorizationPolicy(f)] = all
	}
	return crcache.Options{
		Scheme:               scheme,
		DefaultLabelSelector: labels.NewSelector().Add(*owned),
		DefaultTransform:     healthView,
		ByObject:             byObject,
	}
}

// healthSpec are the spec fields kstatus reads (replicas and rollout strategy of
// workloads, a Job's completions, a Service's type); the rest of a spec, a pod template
// above all, is dropped.
var healthSpec = []string{"replicas", "paused", "updateStrategy", "strategy", "type", "parallelism", "completions", "suspend"}

// healthView keeps of an applied object what its health is computed from: its identity,
// generation and deletion, its status, and healthSpec.
var healthView toolscache.TransformFunc = func(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	meta, _ := u.Object["metadata"].(map[string]any)
	keptMeta := map[string]any{}
	for _, k := range []string{"name", "namespace", "uid", "resourceVersion", "generation", "deletionTimestamp", "labels", "creationTimestamp"} {
		if v, ok := meta[k]; ok {
			keptMeta[k] = v
		}
	}
	kept := map[string]any{"apiVersion": u.Object["apiVersion"], "kind": u.Object["kind"], "metadata": keptMeta}
	if st, ok := u.Object["status"]; ok {
		kept["status"] = st
	}
	if spec, ok := u.Object["spec"].(map[string]any); ok {
		keptSpec := map[string]any{}
		for _, k := range healthSpec {
			if v, ok := spec[k]; ok {
				keptSpec[k] = v
			}
		}
		kept["spec"] = keptSpec
	}
	u.Object = kept
	return u, nil
}
