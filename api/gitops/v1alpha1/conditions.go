package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Condition types of GitSource and Sync, in the vocabulary of Flux and kstatus.
const (
	// ReadyCondition is True when the last revision was applied and is healthy.
	ReadyCondition = "Ready"
	// ReconcilingCondition is True while a revision is being worked on.
	ReconcilingCondition = "Reconciling"
	// StalledCondition is True when the object cannot progress without a change from the user.
	StalledCondition = "Stalled"
	// DriftedCondition is True when live objects differ from what Git says.
	DriftedCondition = "Drifted"
)

// Condition reasons.
const (
	ReasonSucceeded           = "ReconciliationSucceeded"
	ReasonFailed              = "ReconciliationFailed"
	ReasonProgressing         = "Progressing"
	ReasonArtifactFailed      = "ArtifactFailed"
	ReasonBuildFailed         = "BuildFailed"
	ReasonValidationFailed    = "ValidationFailed"
	ReasonDryRunFailed        = "DryRunFailed"
	ReasonApplyFailed         = "ApplyFailed"
	ReasonPruneFailed         = "PruneFailed"
	ReasonHealthCheckFailed   = "HealthCheckFailed"
	ReasonDependencyNotReady  = "DependencyNotReady"
	ReasonSuspended           = "Suspended"
	ReasonDriftDetected       = "DriftDetected"
	ReasonDriftCorrected      = "DriftCorrected"
	ReasonNoDrift             = "NoDrift"
	ReasonImpersonationDenied = "ImpersonationDenied"

	// A fleet Sync's Ready reasons.
	ReasonRolloutHalted  = "RolloutHalted"
	ReasonNoClusters     = "NoClusters"
	ReasonClustersFailed = "ClustersFailed"

	// A Cluster's Ready reasons.
	ReasonConnected         = "Connected"
	ReasonUnreachable       = "Unreachable"
	ReasonKubeConfigMissing = "KubeConfigMissing"
	ReasonKubeConfigInvalid = "KubeConfigInvalid"
)

// GetConditions returns the conditions of the GitSource.
func (in *GitSource) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions sets the conditions of the GitSource.
func (in *GitSource) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// GetConditions returns the conditions of the Sync.
func (in *Sync) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions sets the conditions of the Sync.
func (in *Sync) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// GetConditions returns the conditions of the Cluster.
func (in *Cluster) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions sets the conditions of the Cluster.
func (in *Cluster) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }
