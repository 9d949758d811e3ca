// Package clusters is the fleet's registry: it connects to each registered Cluster with
// the kubeconfig its Secret holds (Cluster API's shape), as the ServiceAccount it names,
// and reports on the Cluster whether, as whom and at which Kubernetes version the
// cluster answered.
//
// A kubeconfig is hostile input: Connect refuses exec and auth-provider plugins (a
// program run on the hub) and file references (the hub's own files, its token above
// all, sent to whatever server the kubeconfig names).
package clusters
