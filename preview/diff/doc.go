// Package diff compares two rendered revisions object by object and field by field, the
// way a reviewer needs it: objects added, removed and changed, each change with its field
// path (list items named by their merge key: containers[name=agent].image) and its old
// and new JSON values. It leaves out what does not change behaviour: map and keyed-list
// order, values equal after normalisation (80 and 80.0, null and absent), server-owned
// metadata and status, and generated hashes that only follow their inputs (the pod
// template's kagenti.io/config-hash) — those are noted on the object, not reported on
// their own. Secret values are never part of a result: a change to one is "data.<key>
// changed", redacted.
//
// Live compares the head against a cluster instead: a server-side dry-run of every head
// object, so defaulting and admission (trustsync's webhook included) take part, diffed
// against the live object. It writes nothing.
//
// It owns no rendering (callers pass renderers' objects) and must not import engine,
// webhook or sources.
package diff
