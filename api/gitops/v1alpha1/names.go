package v1alpha1

// Labels, annotations and finalizers of trustsync's own API.
const (
	// LabelSyncName and LabelSyncNamespace mark every object a Sync applied; nothing
	// without them is ever pruned.
	LabelSyncName      = "sync.gitops.trustsync.dev/name"
	LabelSyncNamespace = "sync.gitops.trustsync.dev/namespace"

	// LabelInventoryOf marks the ConfigMaps holding a fleet Sync's inventories, one per
	// member cluster, with the Sync's name.
	LabelInventoryOf = "sync.gitops.trustsync.dev/inventory-of"

	// AnnotationApplied is the content hash of the object as a Sync last applied it
	// (Secrets excepted), so an engine that restarted knows without a dry-run whether Git
	// changed the object since.
	AnnotationApplied = "sync.gitops.trustsync.dev/applied"

	// AnnotationReconcileRequestedAt asks for an immediate reconcile when its value
	// changes; status.lastHandledReconcileAt echoes the value once handled.
	AnnotationReconcileRequestedAt = "gitops.trustsync.dev/reconcile-requested-at"

	// Finalizer lets a Sync prune what it applied before it goes away.
	Finalizer = "gitops.trustsync.dev/finalizer"

	// LabelShardKey assigns a Sync, and the GitSource it reads, to the controller shard
	// whose --watch-label-selector selects it, in Flux's convention; a Sync passes it on
	// to every object it applies, so a shard caches only its own.
	LabelShardKey = "sharding.fluxcd.io/key"

	// AnnotationHold on a Cluster pauses it in every rollout: it takes no new revision
	// until the annotation is gone, and a wave it is part of waits for it. Its value
	// says why, shown in the Syncs' status.
	AnnotationHold = "fleet.gitops.trustsync.dev/hold"

	// AnnotationEnrolment on an AgentRuntime trustsync generated says how its agent was
	// enrolled: EnrolmentLabel for a workload whose pods carry kagenti.io/type and that no
	// AgentRuntime of the repository targets. It runs with its namespace's defaults.
	AnnotationEnrolment = "gitops.trustsync.dev/enrolment"
	EnrolmentLabel      = "label"

	// FieldManager is the server-side apply field manager of everything trustsync applies.
	FieldManager = "trustsync"
)
