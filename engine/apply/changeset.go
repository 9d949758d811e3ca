package apply

import (
	"fmt"
	"strings"

	"github.com/trustsync/trustsync/manifest"
)

// Action is what happened to one object.
type Action string

const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
	Pruned     Action = "pruned"
	// Drifted marks an object that differs from Git and was left so (drift mode warn).
	Drifted Action = "drifted"
	// Skipped marks an object left alone on purpose (a Namespace or CRD not pruned).
	Skipped Action = "skipped"
)

// Change is the outcome for one object.
type Change struct {
	Object manifest.Ref
	// Version is the API version the object was applied with.
	Version string
	Action  Action
	// Drift lists the fields others changed (JSON pointers), when the object drifted;
	// "/" means the object was deleted.
	Drift []string
	// Manager that made the drifting change, when known.
	Manager string
	// Diffs show what Git wants and what the cluster has, for the first MaxDiffs fields
	// of Drift.
	Diffs []FieldDiff
}

// MaxDiffs bounds the fields of one drifted object whose values a Change shows.
const MaxDiffs = 10

// MaxDiffValue bounds, in bytes, each value a FieldDiff shows.
const MaxDiffValue = 256

// FieldDiff is one drifted field: its JSON pointer and its value as JSON on each side,
// cut at MaxDiffValue bytes. A side without the field has "". A Secret's values are
// never shown: Hidden says so and both sides are "".
type FieldDiff struct {
	Field         string
	Desired, Live string
	Hidden        bool
}

// ChangeSet is the outcome of one run, in apply order.
type ChangeSet struct {
	Changes []Change
}

// Count returns how many objects had the action.
func (c *ChangeSet) Count(a Action) int {
	n := 0
	for _, ch := range c.Changes {
		if ch.Action == a {
			n++
		}
	}
	return n
}

// Drifted returns the changes that found drift, whether corrected or not.
func (c *ChangeSet) Drifted() []Change {
	var out []Change
	for _, ch := range c.Changes {
		if len(ch.Drift) > 0 {
			out = append(out, ch)
		}
	}
	return out
}

// Summary is a short account, e.g. "3 created, 1 configured, 40 unchanged".
func (c *ChangeSet) Summary() string {
	var parts []string
	for _, a := range []Action{Created, Configured, Pruned, Drifted, Unchanged} {
		if n := c.Count(a); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, a))
		}
	}
	if len(parts) == 0 {
		return "nothing to apply"
	}
	return strings.Join(parts, ", ")
}
