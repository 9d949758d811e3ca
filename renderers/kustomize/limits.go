package kustomize

import (
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Limits bound one build. Zero fields take the defaults below, which match the
// Platform's (api/gitops/v1alpha1 limits.go); the renderer passes the Platform's own.
type Limits struct {
	// FileBytes bounds one file, RevisionBytes all the files read.
	FileBytes, RevisionBytes int64
	// Files bounds the distinct files and directories visited.
	Files int
	// Objects bounds the objects of the whole build; ObjectsPerBuild those of one
	// kustomize run, whose cost grows with their square.
	Objects, ObjectsPerBuild int
	// YAMLDepth and YAMLNodes bound each YAML file (nodes with aliases expanded).
	YAMLDepth, YAMLNodes int
	// SymlinkHops bounds the links followed to resolve one path.
	SymlinkHops int
	// Deadline, when set, ends the build; Timeout is how it was set, for the message.
	Deadline time.Time
	Timeout  time.Duration
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def64 := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	def64(&l.FileBytes, 4<<20)
	def64(&l.RevisionBytes, 128<<20)
	def(&l.Files, 20000)
	def(&l.Objects, 20000)
	def(&l.ObjectsPerBuild, 5000)
	def(&l.YAMLDepth, 100)
	def(&l.YAMLNodes, 1000000)
	def(&l.SymlinkHops, 40)
	return l
}

// quantity prints bytes the way the Platform takes them ("4Mi").
func quantity(n int64) string {
	return resource.NewQuantity(n, resource.BinarySI).String()
}
