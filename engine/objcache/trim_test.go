package objcache

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func object(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func trimmed(t *testing.T, u *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	out, err := Trim("trustsync")(u.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	return out.(*unstructured.Unstructured)
}

func TestTrimKeepsWhatTheEngineReads(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{{
		name: "a ConfigMap keeps no data",
		in: `{apiVersion: v1, kind: ConfigMap, metadata: {name: a, namespace: n, resourceVersion: "7", labels: {o: s},
  annotations: {"trustsync.dev/applied": h, "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
  data: {config.yaml: big}, binaryData: {b: AA==}}`,
		want: `{apiVersion: v1, kind: ConfigMap, metadata: {name: a, namespace: n, resourceVersion: "7", labels: {o: s},
  annotations: {"trustsync.dev/applied": h}}}`,
	}, {
		name: "a Deployment keeps its spec's scalars and its status",
		in: `{apiVersion: apps/v1, kind: Deployment, metadata: {name: d, generation: 3},
  spec: {replicas: 3, progressDeadlineSeconds: 60, paused: false, selector: {matchLabels: {a: b}}, template: {spec: {containers: [{name: c, image: i}]}}},
  status: {observedGeneration: 3, readyReplicas: 1, conditions: [{type: Available, status: "False"}]}}`,
		want: `{apiVersion: apps/v1, kind: Deployment, metadata: {name: d, generation: 3},
  spec: {replicas: 3, progressDeadlineSeconds: 60, paused: false},
  status: {observedGeneration: 3, readyReplicas: 1, conditions: [{type: Available, status: "False"}]}}`,
	}, {
		name: "a StatefulSet keeps its update strategy",
		in: `{apiVersion: apps/v1, kind: StatefulSet, metadata: {name: s},
  spec: {replicas: 2, serviceName: s, updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 1}}, volumeClaimTemplates: [{metadata: {name: v}}]}}`,
		want: `{apiVersion: apps/v1, kind: StatefulSet, metadata: {name: s},
  spec: {replicas: 2, serviceName: s, updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 1}}}}`,
	}, {
		name: "a Role keeps no rules, a binding no subjects",
		in: `{apiVersion: rbac.authorization.k8s.io/v1, kind: RoleBinding, metadata: {name: r},
  roleRef: {kind: Role, name: r}, subjects: [{kind: ServiceAccount, name: a}]}`,
		want: `{apiVersion: rbac.authorization.k8s.io/v1, kind: RoleBinding, metadata: {name: r}}`,
	}, {
		name: "managedFields: the manager's, and the others' on the main resource since its last apply",
		in: `{apiVersion: v1, kind: ConfigMap, metadata: {name: a, managedFields: [
  {manager: old, operation: Update, time: "2026-01-01T00:00:00Z", fieldsV1: {f:data: {}}},
  {manager: trustsync, operation: Apply, time: "2026-01-02T00:00:00Z", fieldsV1: {f:data: {f:key: {}}}},
  {manager: trustsync, operation: Apply, subresource: status, time: "2026-01-02T00:00:00Z", fieldsV1: {f:status: {}}},
  {manager: kubectl-edit, operation: Update, time: "2026-01-03T00:00:00Z", fieldsV1: {f:data: {f:key: {}}}},
  {manager: kubelet, operation: Update, subresource: status, time: "2026-01-03T00:00:00Z", fieldsV1: {f:status: {}}},
  {manager: untimed, operation: Update, fieldsV1: {f:data: {}}}]}}`,
		want: `{apiVersion: v1, kind: ConfigMap, metadata: {name: a, managedFields: [
  {manager: trustsync, operation: Apply, time: "2026-01-02T00:00:00Z", fieldsV1: '{"f:data":{"f:key":{}}}'},
  {manager: trustsync, operation: Apply, subresource: status, time: "2026-01-02T00:00:00Z", fieldsV1: '{"f:status":{}}'},
  {manager: kubectl-edit, operation: Update, time: "2026-01-03T00:00:00Z", fieldsV1: '{"f:data":{"f:key":{}}}'},
  {manager: untimed, operation: Update, fieldsV1: '{"f:data":{}}'}]}}`,
	}, {
		name: "managedFields: before any apply of the manager, every entry on the main resource",
		in: `{apiVersion: v1, kind: ConfigMap, metadata: {name: a, managedFields: [
  {manager: kubectl, operation: Update, time: "2026-01-01T00:00:00Z", fieldsV1: {f:data: {}}},
  {manager: kubelet, operation: Update, subresource: status, time: "2026-01-03T00:00:00Z", fieldsV1: {f:status: {}}}]}}`,
		want: `{apiVersion: v1, kind: ConfigMap, metadata: {name: a, managedFields: [
  {manager: kubectl, operation: Update, time: "2026-01-01T00:00:00Z", fieldsV1: '{"f:data":{}}'}]}}`,
	}, {
		name: "managedFields: none kept, none left",
		in: `{apiVersion: v1, kind: ConfigMap, metadata: {name: a, managedFields: [
  {manager: kubelet, operation: Update, subresource: status, fieldsV1: {f:status: {}}}]}}`,
		want: `{apiVersion: v1, kind: ConfigMap, metadata: {name: a}}`,
	}, {
		name: "a spec that is not an object is dropped",
		in:   `{apiVersion: example.dev/v1, kind: Odd, metadata: {name: o}, spec: [1, 2]}`,
		want: `{apiVersion: example.dev/v1, kind: Odd, metadata: {name: o}}`,
	}} {
		t.Run(tt.name, func(t *testing.T) {
			got, want := trimmed(t, object(t, tt.in)), object(t, tt.want)
			if !reflect.DeepEqual(got.Object, want.Object) {
				a, _ := yaml.Marshal(got.Object)
				t.Errorf("got\n%s", a)
			}
		})
	}
}

// Health is assessed from the cache: kstatus must find the same status in a trimmed
// object as in the whole one, for each kind whose spec it reads.
func TestTrimKeepsWhatHealthReads(t *testing.T) {
	for _, doc := range []string{
		`{apiVersion: apps/v1, kind: Deployment, metadata: {name: d, generation: 2}, spec: {replicas: 3, template: {}},
  status: {observedGeneration: 2, replicas: 3, updatedReplicas: 3, readyReplicas: 1, availableReplicas: 1,
  conditions: [{type: Progressing, status: "True", reason: NewReplicaSetAvailable}, {type: Available, status: "True"}]}}`,
		`{apiVersion: apps/v1, kind: Deployment, metadata: {name: d, generation: 2}, spec: {progressDeadlineSeconds: 1, template: {}},
  status: {observedGeneration: 2, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1,
  conditions: [{type: Progressing, status: "False", reason: ProgressDeadlineExceeded}]}}`,
		`{apiVersion: apps/v1, kind: StatefulSet, metadata: {name: s, generation: 1},
  spec: {replicas: 3, updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 2}}, template: {}},
  status: {observedGeneration: 1, replicas: 3, readyReplicas: 3, currentReplicas: 2, updatedReplicas: 1, currentRevision: a, updateRevision: b}}`,
		`{apiVersion: apps/v1, kind: StatefulSet, metadata: {name: s, generation: 1}, spec: {updateStrategy: {type: OnDelete}},
  status: {observedGeneration: 1, replicas: 1, readyReplicas: 1}}`,
		`{apiVersion: apps/v1, kind: ReplicaSet, metadata: {name: r, generation: 1}, spec: {replicas: 2, template: {}},
  status: {observedGeneration: 1, replicas: 2, readyReplicas: 1, availableReplicas: 1, fullyLabeledReplicas: 2}}`,
		`{apiVersion: batch/v1, kind: Job, metadata: {name: j, generation: 1}, spec: {parallelism: 2, completions: 4, template: {}},
  status: {startTime: "2026-01-01T00:00:00Z", succeeded: 2, active: 2}}`,
		`{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {type: LoadBalancer, clusterIP: 10.0.0.1, ports: [{port: 80}]}, status: {}}`,
		`{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {type: ClusterIP, clusterIP: 10.0.0.1, ports: [{port: 80}]}}`,
		`{apiVersion: v1, kind: PersistentVolumeClaim, metadata: {name: p}, spec: {resources: {}}, status: {phase: Pending}}`,
		`{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: c}]},
  status: {phase: Running, conditions: [{type: Ready, status: "False"}], containerStatuses: [{name: c, ready: false, state: {waiting: {reason: CrashLoopBackOff}}}]}}`,
		`{apiVersion: policy/v1, kind: PodDisruptionBudget, metadata: {name: b, generation: 1}, spec: {minAvailable: 2, selector: {}},
  status: {observedGeneration: 1, currentHealthy: 1, desiredHealthy: 2}}`,
		`{apiVersion: agent.kagenti.dev/v1alpha1, kind: AgentRuntime, metadata: {name: a, generation: 4}, spec: {type: agent, targetRef: {kind: Deployment, name: a}},
  status: {observedGeneration: 3, conditions: [{type: Ready, status: "True"}]}}`,
	} {
		whole := object(t, doc)
		want, werr := status.Compute(whole)
		got, gerr := status.Compute(trimmed(t, whole))
		if (werr == nil) != (gerr == nil) || (werr == nil && (got.Status != want.Status || got.Message != want.Message)) {
			t.Errorf("%s %s: whole %v %v, trimmed %v %v", whole.GetKind(), whole.GetName(), want, werr, got, gerr)
		}
	}
}

// The engine compares what it owns as text: the cache's and the API server's forms of
// one entry must read alike, and differ when the fields do.
func TestOwnedTextAlikeInBothForms(t *testing.T) {
	doc := `{apiVersion: v1, kind: ConfigMap, metadata: {name: a, managedFields: [
  {manager: kubectl, operation: Update, fieldsV1: {f:data: {}}},
  {manager: trustsync, operation: Apply, subresource: status, fieldsV1: {f:status: {}}},
  {manager: trustsync, operation: Apply, fieldsV1: {f:metadata: {f:labels: {f:o: {}}}, f:data: {f:b: {}, f:a: {}}}}]}}`
	fromServer := object(t, doc)
	want := `{"f:data":{"f:a":{},"f:b":{}},"f:metadata":{"f:labels":{"f:o":{}}}}`
	if got := OwnedText(fromServer.Object, "trustsync"); got != want {
		t.Errorf("from the API server: %s", got)
	}
	if got := OwnedText(trimmed(t, fromServer).Object, "trustsync"); got != want {
		t.Errorf("from the cache: %s", got)
	}
	other := object(t, strings.Replace(doc, "f:b: {}, ", "", 1))
	if OwnedText(trimmed(t, other).Object, "trustsync") == want {
		t.Error("fewer fields read alike")
	}
	if got := OwnedText(fromServer.Object, "nobody"); got != "" {
		t.Errorf("a manager without an entry: %q", got)
	}
}

func TestTrimTypedObjects(t *testing.T) {
	m := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "me"},
		ManagedFields: []metav1.ManagedFieldsEntry{
			{Manager: "old", Operation: metav1.ManagedFieldsOperationUpdate, Time: &metav1.Time{Time: metav1.Now().Add(-time.Hour)}},
			{Manager: "trustsync", Operation: metav1.ManagedFieldsOperationApply, Time: &metav1.Time{Time: metav1.Now().Time}},
			{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status"},
		}}}
	if _, err := Trim("trustsync")(m); err != nil {
		t.Fatal(err)
	}
	if len(m.ManagedFields) != 1 || m.ManagedFields[0].Manager != "trustsync" {
		t.Errorf("managedFields %+v", m.ManagedFields)
	}
	if !reflect.DeepEqual(m.Annotations, map[string]string{"keep": "me"}) {
		t.Errorf("annotations %v", m.Annotations)
	}
}
