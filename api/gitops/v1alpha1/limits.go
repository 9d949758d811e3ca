package v1alpha1

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Limit defaults: generous for real repositories (a 1,000-agent repository reads about
// 3 MiB in 2,000 files), small enough that a hostile one cannot exhaust the engine.
const (
	DefaultLimitFileSize         = 4 << 20
	DefaultLimitRevisionSize     = 128 << 20
	DefaultLimitFiles            = 20000
	DefaultLimitObjects          = 20000
	DefaultLimitObjectsPerBuild  = 5000
	DefaultLimitYAMLDepth        = 100
	DefaultLimitYAMLNodes        = 1000000
	DefaultLimitSymlinkHops      = 40
	DefaultLimitRenderTimeout    = 2 * time.Minute
	DefaultLimitPolicySize       = 256 << 10
	DefaultLimitPolicyRules      = 2000
	DefaultLimitRegoTimeout      = time.Second
	DefaultLimitRegoMemory       = 64 << 20
	DefaultLimitRegoTestsTimeout = time.Minute
)

// Default fills every unset limit with its default.
func (l *Limits) Default() {
	setQuantity(&l.FileSize, DefaultLimitFileSize)
	setQuantity(&l.RevisionSize, DefaultLimitRevisionSize)
	setInt(&l.Files, DefaultLimitFiles)
	setInt(&l.Objects, DefaultLimitObjects)
	setInt(&l.ObjectsPerBuild, DefaultLimitObjectsPerBuild)
	setInt(&l.YAMLDepth, DefaultLimitYAMLDepth)
	setInt(&l.YAMLNodes, DefaultLimitYAMLNodes)
	setInt(&l.SymlinkHops, DefaultLimitSymlinkHops)
	setDuration(&l.RenderTimeout, DefaultLimitRenderTimeout)
	setQuantity(&l.PolicySize, DefaultLimitPolicySize)
	setInt(&l.PolicyRules, DefaultLimitPolicyRules)
	setDuration(&l.RegoTimeout, DefaultLimitRegoTimeout)
	setQuantity(&l.RegoMemory, DefaultLimitRegoMemory)
	setDuration(&l.RegoTestsTimeout, DefaultLimitRegoTestsTimeout)
}

// validate reports limits that are not positive.
func (l *Limits) validate(bad func(field, format string, args ...any)) {
	for field, q := range map[string]*resource.Quantity{
		"limits.fileSize": l.FileSize, "limits.revisionSize": l.RevisionSize,
		"limits.policySize": l.PolicySize, "limits.regoMemory": l.RegoMemory,
	} {
		if q != nil && q.Sign() <= 0 {
			bad(field, "must be positive, got %s", q.String())
		}
	}
	for field, n := range map[string]int{
		"limits.files": l.Files, "limits.objects": l.Objects, "limits.objectsPerBuild": l.ObjectsPerBuild, "limits.yamlDepth": l.YAMLDepth,
		"limits.yamlNodes": l.YAMLNodes, "limits.symlinkHops": l.SymlinkHops, "limits.policyRules": l.PolicyRules,
	} {
		if n < 0 {
			bad(field, "must be positive, got %d", n)
		}
	}
	for field, d := range map[string]*metav1.Duration{
		"limits.renderTimeout": l.RenderTimeout, "limits.regoTimeout": l.RegoTimeout, "limits.regoTestsTimeout": l.RegoTestsTimeout,
	} {
		if d != nil && d.Duration <= 0 {
			bad(field, "must be positive, got %s", d.Duration)
		}
	}
}

// FileBytes is the FileSize bound in bytes.
func (l *Limits) FileBytes() int64 { return quantityOr(l.FileSize, DefaultLimitFileSize) }

// RevisionBytes is the RevisionSize bound in bytes.
func (l *Limits) RevisionBytes() int64 { return quantityOr(l.RevisionSize, DefaultLimitRevisionSize) }

// MaxFiles is the Files bound.
func (l *Limits) MaxFiles() int { return intOr(l.Files, DefaultLimitFiles) }

// MaxObjects is the Objects bound.
func (l *Limits) MaxObjects() int { return intOr(l.Objects, DefaultLimitObjects) }

// MaxObjectsPerBuild is the ObjectsPerBuild bound.
func (l *Limits) MaxObjectsPerBuild() int {
	return intOr(l.ObjectsPerBuild, DefaultLimitObjectsPerBuild)
}

// MaxYAMLDepth is the YAMLDepth bound.
func (l *Limits) MaxYAMLDepth() int { return intOr(l.YAMLDepth, DefaultLimitYAMLDepth) }

// MaxYAMLNodes is the YAMLNodes bound.
func (l *Limits) MaxYAMLNodes() int { return intOr(l.YAMLNodes, DefaultLimitYAMLNodes) }

// MaxSymlinkHops is the SymlinkHops bound.
func (l *Limits) MaxSymlinkHops() int { return intOr(l.SymlinkHops, DefaultLimitSymlinkHops) }

// RenderDeadline is the RenderTimeout bound.
func (l *Limits) RenderDeadline() time.Duration {
	return durationOr(l.RenderTimeout, DefaultLimitRenderTimeout)
}

// PolicyBytes is the PolicySize bound in bytes.
func (l *Limits) PolicyBytes() int64 { return quantityOr(l.PolicySize, DefaultLimitPolicySize) }

// MaxPolicyRules is the PolicyRules bound.
func (l *Limits) MaxPolicyRules() int { return intOr(l.PolicyRules, DefaultLimitPolicyRules) }

// RegoDeadline is the RegoTimeout bound.
func (l *Limits) RegoDeadline() time.Duration {
	return durationOr(l.RegoTimeout, DefaultLimitRegoTimeout)
}

// RegoBytes is the RegoMemory bound in bytes.
func (l *Limits) RegoBytes() int64 { return quantityOr(l.RegoMemory, DefaultLimitRegoMemory) }

// RegoTestsDeadline is the RegoTestsTimeout bound.
func (l *Limits) RegoTestsDeadline() time.Duration {
	return durationOr(l.RegoTestsTimeout, DefaultLimitRegoTestsTimeout)
}

// LimitError is a bound a revision exceeded. It names the Platform field that sets it,
// so the message says what to raise.
type LimitError struct {
	// Limit is the Platform field, e.g. "limits.fileSize".
	Limit string
	// Max is the bound, as people read it ("4Mi", "100", "2m0s").
	Max string
	// What exceeded it, e.g. "the file is 5.1 MiB".
	What string
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s, over the bound %s (Platform %s)", e.What, e.Max, e.Limit)
}

func setQuantity(q **resource.Quantity, def int64) {
	if *q == nil {
		*q = resource.NewQuantity(def, resource.BinarySI)
	}
}

func setInt(n *int, def int) {
	if *n == 0 {
		*n = def
	}
}

func setDuration(d **metav1.Duration, def time.Duration) {
	if *d == nil {
		*d = &metav1.Duration{Duration: def}
	}
}

func quantityOr(q *resource.Quantity, def int64) int64 {
	if q == nil || q.Sign() <= 0 {
		return def
	}
	return q.Value()
}

func intOr(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

func durationOr(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil || d.Duration <= 0 {
		return def
	}
	return d.Duration
}
