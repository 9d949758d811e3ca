package v1alpha1

// Labels, annotations and finalizers of trustsync's own API.
const (
	// LabelSyncName and LabelSyncNamespace mark every object a Sync applied; nothing
	// without them is ever pruned.
	LabelSyncName      = "sync.gitops.trustsync.dev/name"
	LabelSyncNamespace = "sync.gitops.trustsync.dev/namespace"

	// AnnotationReconcileRequestedAt asks for an immediate reconcile when its value
	// changes; status.lastHandledReconcileAt echoes the value once handled.
	AnnotationReconcileRequestedAt = "gitops.trustsync.dev/reconcile-requested-at"

	// Finalizer lets a Sync prune what it applied before it goes away.
	Finalizer = "gitops.trustsync.dev/finalizer"

	// FieldManager is the server-side apply field manager of everything trustsync applies.
	FieldManager = "trustsync"
)
