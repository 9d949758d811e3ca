// Package fleet owns multi-cluster delivery: the registry of clusters, selecting the
// clusters a Sync targets, and rolling a revision out across them in waves.
//
// It builds on engine. It must not import webhook.
package fleet
