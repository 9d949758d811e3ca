// Package clusters is the fleet's registry: it connects to each registered Cluster with
// the kubeconfig its Secret holds (Cluster API's shape), as the ServiceAccount it names,
// and reports on the Cluster whether, as whom and at which Kubernetes version the
// cluster answered.
//
// Registry gives the engine what reaches each Cluster a Sync selects (syncs.Members): a
// client configuration, a RESTMapper and a started object cache of the member's owned
// objects, kept per Cluster while its kubeconfig and ServiceAccount stay the same and
// stopped when they change or the Cluster is deleted or suspended. A Cluster the
// reconciler found unreachable, or whose kubeconfig is missing or refused, is listed
// with why instead.
//
// A kubeconfig is hostile input: Connect refuses exec and auth-provider plugins (a
// program run on the hub) and file references (the hub's own files, its token above
// all, sent to whatever server the kubeconfig names). Neither a kubeconfig nor its
// fingerprint is logged or put in an error.
package clusters
