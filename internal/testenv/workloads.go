package testenv

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// MarkRolledOut writes the status a Deployment or StatefulSet has once all its replicas
// are updated and available. envtest runs no controllers, so tests that need healthy
// workloads stand in for them with this.
func MarkRolledOut(ctx context.Context, c client.Client, obj *unstructured.Unstructured) error {
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(obj.GroupVersionKind())
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), live); err != nil {
		return err
	}
	replicas, found, _ := unstructured.NestedInt64(live.Object, "spec", "replicas")
	if !found {
		replicas = 1
	}
	status := map[string]any{
		"observedGeneration": live.GetGeneration(),
		"replicas":           replicas,
		"readyReplicas":      replicas,
		"availableReplicas":  replicas,
		"updatedReplicas":    replicas,
	}
	switch live.GetKind() {
	case "Deployment":
		status["conditions"] = []any{
			map[string]any{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
			map[string]any{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
		}
	case "StatefulSet":
		status["currentReplicas"] = replicas
		status["currentRevision"] = "r1"
		status["updateRevision"] = "r1"
	default:
		return fmt.Errorf("%s is not a Deployment or StatefulSet", live.GetKind())
	}
	live.Object["status"] = status
	return c.Status().Update(ctx, live)
}
