// Package ctrlkit is the skeleton every trustsync reconciler shares: a status written
// only when it changed, under an optimistic lock, and the end of a reconcile that writes
// it (FinishStatus: a stale object runs again soon, a deleted one ends); and one
// reconcile request per object of a list, for the watches that map one object to many.
//
// It knows no trustsync kind; it must not import anything of trustsync.
package ctrlkit
