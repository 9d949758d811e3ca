package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// SourceReference names the GitSource a Sync applies.
type SourceReference struct {
	// Kind of the source; only GitSource.
	// +kubebuilder:validation:Enum=GitSource
	// +kubebuilder:default=GitSource
	// +optional
	Kind string `json:"kind,omitempty"`
	// Name of the source.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Namespace of the source; the Sync's when empty.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// DriftMode says what happens when a live object differs from Git.
// +kubebuilder:validation:Enum=correct;warn
type DriftMode string

const (
	// DriftCorrect re-applies drifted objects.
	DriftCorrect DriftMode = "correct"
	// DriftWarn only reports drift (condition, event, commit status, metric).
	DriftWarn DriftMode = "warn"
)

// ObjectSelector selects objects by type, name and labels. Empty fields match everything;
// name and namespace are regular expressions.
type ObjectSelector struct {
	// +optional
	Group string `json:"group,omitempty"`
	// +optional
	Version string `json:"version,omitempty"`
	// +optional
	Kind string `json:"kind,omitempty"`
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// LabelSelector is a label query in kubectl syntax.
	// +optional
	LabelSelector string `json:"labelSelector,omitempty"`
	// AnnotationSelector is an annotation query in label-selector syntax.
	// +optional
	AnnotationSelector string `json:"annotationSelector,omitempty"`
}

// IgnoreRule leaves fields that others own out of drift detection and apply.
type IgnoreRule struct {
	// Paths are RFC 6901 JSON pointers, e.g. /spec/replicas.
	// +kubebuilder:validation:MinItems=1
	Paths []string `json:"paths"`
	// Target selects the objects the rule applies to; all when empty.
	// +optional
	Target *ObjectSelector `json:"target,omitempty"`
}

// DriftSpec configures drift detection.
type DriftSpec struct {
	// Mode is correct (re-apply) or warn (report only).
	// +kubebuilder:default=correct
	// +optional
	Mode DriftMode `json:"mode,omitempty"`
	// Ignore lists fields that never count as drift.
	// +optional
	Ignore []IgnoreRule `json:"ignore,omitempty"`
}

// SyncSpec says what of a source is applied, and how.
// +kubebuilder:validation:XValidation:rule="!has(self.rollout) || has(self.clusterSelector)",message="rollout orders the clusters clusterSelector selects; without clusterSelector the Sync applies to this cluster only"
// +kubebuilder:validation:XValidation:rule="!has(self.clusterOverlay) || has(self.clusterSelector)",message="clusterOverlay is chosen per selected cluster; without clusterSelector the Sync applies to this cluster only"
type SyncSpec struct {
	// SourceRef is the GitSource to apply.
	SourceRef SourceReference `json:"sourceRef"`

	// Path of the directory inside the repository to build.
	// +kubebuilder:default="./"
	// +optional
	Path string `json:"path,omitempty"`

	// Interval between reconciles, which also detect and correct drift.
	// +kubebuilder:default="5m"
	// +optional
	Interval metav1.Duration `json:"interval,omitempty"`

	// RetryInterval after a failure; Interval when empty.
	// +optional
	RetryInterval *metav1.Duration `json:"retryInterval,omitempty"`

	// Timeout of the wait for health (spec.wait), counted from the last change written.
	// +kubebuilder:default="5m"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// TargetNamespace is given to every namespaced object, overriding the namespaces in
	// Git, as kustomize's namespace field does.
	// +optional
	TargetNamespace string `json:"targetNamespace,omitempty"`

	// Prune deletes objects that were applied before and left Git.
	// +kubebuilder:default=true
	// +optional
	Prune bool `json:"prune"`

	// PruneNamespacesAndCRDs lets prune delete Namespaces and CustomResourceDefinitions,
	// which it otherwise keeps (deleting them deletes everything in them).
	// +optional
	PruneNamespacesAndCRDs bool `json:"pruneNamespacesAndCRDs,omitempty"`

	// ServiceAccountName is impersonated for every apply and prune, for multi-tenancy.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// Drift configures drift detection and correction.
	// +optional
	Drift *DriftSpec `json:"drift,omitempty"`

	// Wait makes the Sync Ready only once every applied object is healthy (kstatus
	// Current), within Timeout.
	// +kubebuilder:default=true
	// +optional
	Wait bool `json:"wait"`

	// Suspend stops reconciling; objects stay as they are.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// ClusterSelector selects the Clusters of the Sync's namespace it applies to, instead
	// of this cluster; {} selects every Cluster of the namespace. Unset: this cluster.
	// +optional
	ClusterSelector *metav1.LabelSelector `json:"clusterSelector,omitempty"`

	// ClusterOverlay is the directory built for a selected cluster instead of Path, when
	// the revision has it: ${cluster.name} and ${cluster.labels.<key>} are replaced by the
	// cluster's name and labels. Default <path>/clusters/${cluster.name}.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	ClusterOverlay string `json:"clusterOverlay,omitempty"`

	// Rollout orders the selected clusters in waves; unset: all at once.
	// +optional
	Rollout *RolloutSpec `json:"rollout,omitempty"`
}

// RolloutSpec rolls a revision out over the selected clusters in ordered waves. A wave
// starts only once every cluster of the waves before it reports the revision applied
// and healthy for the soak time.
type RolloutSpec struct {
	// Waves in order. A cluster belongs to the first wave that selects it; the clusters
	// no wave selects form a last wave of their own.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=20
	Waves []Wave `json:"waves"`
	// Soak is how long a wave's clusters stay applied and healthy before the next wave
	// starts. Default 0.
	// +optional
	Soak *metav1.Duration `json:"soak,omitempty"`
	// ProgressDeadline is how long a cluster may take to report the revision applied and
	// healthy before it counts as failed. Default 10m.
	// +optional
	ProgressDeadline *metav1.Duration `json:"progressDeadline,omitempty"`
	// FailureBudget is how many clusters of a wave may fail without halting the
	// rollout. Default 0: the first failure halts it.
	// +kubebuilder:validation:Minimum=0
	// +optional
	FailureBudget int32 `json:"failureBudget,omitempty"`
}

// Wave is one step of a rollout.
type Wave struct {
	// Name of the wave, in status and messages.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// ClusterSelector selects the wave's clusters among the Sync's.
	ClusterSelector metav1.LabelSelector `json:"clusterSelector"`
	// MaxUnavailable is how many of the wave's clusters take the revision at once, a
	// count or a percentage of the wave. Default 100%.
	// +kubebuilder:validation:XIntOrString
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}

// ClusterResult is where a revision stands on one cluster.
type ClusterResult string

const (
	// ClusterApplied: the revision is applied and healthy there.
	ClusterApplied ClusterResult = "Applied"
	// ClusterProgressing: applied, waiting for its objects to become healthy.
	ClusterProgressing ClusterResult = "Progressing"
	// ClusterFailed: the revision failed there.
	ClusterFailed ClusterResult = "Failed"
	// ClusterWaiting: its wave has not started.
	ClusterWaiting ClusterResult = "Waiting"
	// ClusterHeld: the cluster's hold annotation pauses it.
	ClusterHeld ClusterResult = "Held"
	// ClusterUnreachable: the hub could not reach it.
	ClusterUnreachable ClusterResult = "Unreachable"
)

// ClusterSyncStatus is a Sync's state on one selected cluster.
type ClusterSyncStatus struct {
	// Name of the Cluster.
	Name string `json:"name"`
	// Wave the cluster belongs to; empty without a rollout.
	// +optional
	Wave string `json:"wave,omitempty"`
	// LastAppliedRevision is the revision last applied whole there.
	// +optional
	LastAppliedRevision string `json:"lastAppliedRevision,omitempty"`
	// LastAttemptedRevision is the revision last tried there.
	// +optional
	LastAttemptedRevision string `json:"lastAttemptedRevision,omitempty"`
	// AttemptStartedAt is when LastAttemptedRevision was first tried there; the progress
	// deadline counts from it.
	// +optional
	AttemptStartedAt *metav1.Time `json:"attemptStartedAt,omitempty"`
	// HealthySince is when LastAppliedRevision became applied and healthy there; the
	// soak counts from it.
	// +optional
	HealthySince *metav1.Time `json:"healthySince,omitempty"`
	// Ready is True once the attempted revision is applied and healthy there.
	Ready metav1.ConditionStatus `json:"ready"`
	// Result is where the revision stands there.
	Result ClusterResult `json:"result"`
	// Message says why, for anything but Applied.
	// +optional
	Message string `json:"message,omitempty"`
	// Objects is how many objects the Sync owns there.
	// +optional
	Objects int32 `json:"objects,omitempty"`
	// Drifted counts the objects found drifted at the last check.
	// +optional
	Drifted int32 `json:"drifted,omitempty"`
	// Agents is "<ready>/<total>" of the revision's agents there.
	// +optional
	Agents string `json:"agents,omitempty"`
}

// InventoryEntry is one applied object: id <namespace>_<name>_<group>_<kind> and its version.
type InventoryEntry struct {
	ID string `json:"id"`
	V  string `json:"v"`
}

// Inventory is the set of objects a Sync applied and owns.
type Inventory struct {
	Entries []InventoryEntry `json:"entries"`
}

// AgentSummary is one agent or tool of the applied revision.
type AgentSummary struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Type is agent or tool.
	Type string `json:"type"`
	// Workload is <Kind>/<name>.
	Workload string `json:"workload"`
	// SPIFFEID of the agent's pods; empty without SPIRE.
	// +optional
	SPIFFEID string `json:"spiffeID,omitempty"`
	// ServiceAccount the pods run as.
	// +optional
	ServiceAccount string `json:"serviceAccount,omitempty"`
	// Host is how callers address the agent, <service>.<namespace>.svc:<port>.
	// +optional
	Host string `json:"host,omitempty"`
	// Injected says the pods get the AuthBridge sidecar; Mode is its mode and MTLS its
	// mTLS mode.
	// +optional
	Injected bool `json:"injected,omitempty"`
	// +optional
	Mode string `json:"mode,omitempty"`
	// +optional
	MTLS string `json:"mtls,omitempty"`
	// Ready mirrors the AgentRuntime's Ready condition.
	// +optional
	Ready string `json:"ready,omitempty"`
	// Message explains a condition that is not as it should be.
	// +optional
	Message string `json:"message,omitempty"`
}

// DriftedObject is one object whose live state differs from Git.
type DriftedObject struct {
	// ID of the object, as in the inventory.
	ID string `json:"id"`
	// Fields are the JSON pointers that differ.
	Fields []string `json:"fields"`
	// Manager is the field manager that made the change, when known.
	// +optional
	Manager string `json:"manager,omitempty"`
	// Diffs show what Git wants and what the cluster has, for the first ten fields.
	// +optional
	Diffs []FieldDiff `json:"diffs,omitempty"`
}

// FieldDiff is one drifted field with its value on each side, as JSON cut at 256 bytes;
// a side without the field is empty. A Secret's values are never shown (hidden).
type FieldDiff struct {
	// Field is a JSON pointer.
	Field string `json:"field"`
	// +optional
	Desired string `json:"desired,omitempty"`
	// +optional
	Live string `json:"live,omitempty"`
	// +optional
	Hidden bool `json:"hidden,omitempty"`
}

// DriftReport lists the drifted objects.
type DriftReport struct {
	// +optional
	DetectedAt *metav1.Time `json:"detectedAt,omitempty"`
	// +optional
	Objects []DriftedObject `json:"objects,omitempty"`
}

// HistoryEntry records one attempted revision.
type HistoryEntry struct {
	Revision string `json:"revision"`
	// Result is Applied, Failed, or Progressing while the revision rolls out.
	Result string `json:"result"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	StartedAt metav1.Time `json:"startedAt"`
	// +optional
	Duration metav1.Duration `json:"duration"`
}

// SyncStatus is the observed state of a Sync.
type SyncStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready, Reconciling, Stalled, Drifted.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastAppliedRevision is the revision last applied whole.
	// +optional
	LastAppliedRevision string `json:"lastAppliedRevision,omitempty"`
	// LastAttemptedRevision is the revision last tried.
	// +optional
	LastAttemptedRevision string `json:"lastAttemptedRevision,omitempty"`
	// Inventory of the applied objects.
	// +optional
	Inventory *Inventory `json:"inventory,omitempty"`
	// Agents of the applied revision.
	// +optional
	Agents []AgentSummary `json:"agents,omitempty"`
	// Drift found at the last check.
	// +optional
	Drift *DriftReport `json:"drift,omitempty"`
	// History of the last revisions, newest first.
	// +optional
	History []HistoryEntry `json:"history,omitempty"`
	// Clusters is the Sync's state on each cluster its clusterSelector selects; the
	// objects each owns there are in a ConfigMap beside the Sync (InventoryConfigMap).
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=1000
	// +optional
	Clusters []ClusterSyncStatus `json:"clusters,omitempty"`
	// LastHandledReconcileAt echoes the reconcile-requested-at annotation last handled.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.status.lastAppliedRevision`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Drifted",type=string,JSONPath=`.status.conditions[?(@.type=="Drifted")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Sync renders a path of a GitSource into the secure-profile manifests and keeps the
// cluster converged on them.
type Sync struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   SyncSpec   `json:"spec,omitempty"`
	Status SyncStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// SyncList is a list of Syncs.
type SyncList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Sync `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Sync{}, &SyncList{})
}
