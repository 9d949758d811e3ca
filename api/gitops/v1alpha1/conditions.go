package v1alpha1

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
)
