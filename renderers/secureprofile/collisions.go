package secureprofile

import (
	"fmt"
	"strings"

	"github.com/trustsync/trustsync/manifest"
)

// objectKey identifies an object as the API server does: a namespaced object without a
// namespace lands in the default one; cluster-scoped objects have no namespace.
type objectKey struct{ group, kind, namespace, name string }

func keyOf(o *manifest.Object, namespace string) objectKey {
	gvk := o.GroupVersionKind()
	return objectKey{gvk.Group, gvk.Kind, namespace, o.GetName()}
}

// checkCollisions refuses objects of the repository that trustsync generates itself, and
// generated objects two agents would share. The set is what this expansion generated plus
// the platform objects every revision renders, so it follows the generators and cannot go
// stale. Objects the expansion reads from the build instead of generating them (an agent's
// ServiceAccount, a namespace's authbridge-config or authbridge-runtime-config, its
// Namespace) are inputs, not collisions.
func (e *expansion) checkCollisions() {
	generatedBy := map[objectKey]*manifest.Object{}
	shared := map[*agent]bool{} // one error per agent is enough
	reserve := func(o *manifest.Object) {
		k := keyOf(o, o.GetNamespace())
		prev, dup := generatedBy[k]
		if !dup {
			generatedBy[k] = o
			return
		}
		if prev == o || owner(prev) == owner(o) {
			return
		}
		// Two agents would get one object: their workloads share a name.
		if a := e.agentOf(o); a != nil && !shared[a] {
			shared[a] = true
			field := "spec.targetRef"
			if a.labelOnly() {
				field = "metadata.name"
			}
			e.fail(manifest.Errorf(a.obj, field, "trustsync would generate %s for this agent and %s; the workloads of two agents in one namespace need different names", o.Ref(), owner(prev)))
		}
	}
	for _, o := range e.objs {
		if o.Source == "" {
			reserve(o)
		}
	}
	platform, err := platformObjects(e.p, true, e.p.Kuadrant.Enabled)
	if err != nil {
		e.fail(err)
		return
	}
	for _, o := range platform {
		if _, dup := generatedBy[keyOf(o, o.GetNamespace())]; !dup {
			generatedBy[keyOf(o, o.GetNamespace())] = o
		}
	}
	for _, o := range e.objs {
		if o.Source == "" {
			continue
		}
		ns := o.GetNamespace()
		if ns == "" {
			ns = DefaultNamespace
		}
		g := generatedBy[keyOf(o, ns)]
		if g == nil {
			// A cluster-scoped generated object (a ClusterSPIFFEID, a Namespace) collides
			// whatever namespace kustomize gave the repository's copy.
			g = generatedBy[keyOf(o, "")]
		}
		if g != nil {
			e.fail(manifest.Errorf(o, "metadata.name", "trustsync generates this object %s; a repository cannot bring its own, so rename or remove it", owner(g)))
		}
	}
}

// owner says whom trustsync generated an object for, from the labels it gave it.
func owner(o *manifest.Object) string {
	l := o.GetLabels()
	switch l[LabelComponent] {
	case componentAgent:
		return fmt.Sprintf("for AgentRuntime %s/%s", l[LabelAgentRuntimeNamespace], l[LabelAgentRuntime])
	case componentNamespace:
		return "for namespace " + o.GetNamespace()
	default:
		return "for the platform (every Sync renders the same one)"
	}
}

func (e *expansion) agentOf(o *manifest.Object) *agent {
	l := o.GetLabels()
	for _, a := range e.agents {
		if l[LabelComponent] == componentAgent && a.rt.Name == l[LabelAgentRuntime] && a.rt.Namespace == l[LabelAgentRuntimeNamespace] {
			return a
		}
	}
	return nil
}

// isGeneratedClusterScopedName reports whether a cluster-scoped name has the form of the
// ones trustsync generates per agent (clusterScopedName joins namespace and workload with
// a dot): such a name may be another revision's.
func isGeneratedClusterScopedName(name string) bool { return strings.Contains(name, ".") }
