package secureprofile

import (
	"slices"
	"strings"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/manifest"
)

// enrolLabelled makes an agent of every workload that Kagenti's webhook would inject
// without an AgentRuntime: its pods are labelled <domain>/type agent or tool (kagenti.io,
// rossoctl.io), they do not opt out, its namespace is enabled, and no AgentRuntime of the
// build targets it. Such an agent runs with its namespace's defaults; trustsync
// generates the AgentRuntime that says so (annotated gitops.trustsync.dev/enrolment:
// label), in the group of the label's family, so the agent is configured, registered,
// shown and reported like any other, all from Git. With the platform's
// injection.requireAgentRuntime each such workload is an error instead. Pods labelled in
// both families, and a targeted workload labelled in another family than its
// AgentRuntime's, are errors: which family's names would apply is not said.
func (e *expansion) enrolLabelled() {
	targeted := map[*manifest.Object]*agent{}
	enabled := map[string]bool{}
	for _, a := range e.agents {
		enabled[a.family.Name+"/"+a.rt.Namespace] = true
		if a.target != nil {
			targeted[a.target.obj] = a
		}
	}
	// Only the objects of the repository: the loop adds AgentRuntimes to e.objs.
	objs := slices.Clone(e.objs)
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		kind, ok := kindOf(gvk.Group, gvk.Kind)
		if !ok || o.Source == "" {
			continue
		}
		labels := templateLabelsOf(o, kind)
		labelField := func(f agentv1.Family) string {
			return strings.Join(append(slices.Clone(kind.templatePath), "metadata", "labels", f.LabelType()), ".")
		}
		families := agentv1.FamiliesOfLabels(labels)
		if len(families) > 1 {
			e.fail(manifest.Errorf(o, labelField(families[1]), "the pods are labelled both %s and %s: one family's labels per workload, the family of its AgentRuntime (%s or %s)",
				families[0].LabelType(), families[1].LabelType(), families[0].Group, families[1].Group))
			continue
		}
		if a := targeted[o]; a != nil {
			if len(families) == 1 && families[0] != a.family {
				e.fail(manifest.Errorf(o, labelField(families[0]), "%s is %s's label, but AgentRuntime %s targeting %s %s/%s is of %s (%s): label the pods %s, or write the AgentRuntime in %s",
					families[0].LabelType(), families[0].Title, a.rt.Name, kind.kind, a.rt.Namespace, o.GetName(), a.family.Title, a.family.Group, a.family.LabelType(), families[0].APIVersion()))
				a.target = nil
			}
			continue
		}
		if len(families) == 0 {
			continue
		}
		f := families[0]
		typ := agentv1.AgentType(labels[f.LabelType()])
		if typ != agentv1.AgentTypeAgent && typ != agentv1.AgentTypeTool {
			continue
		}
		if labels[f.LabelInject()] == "disabled" {
			continue
		}
		namespace := o.GetNamespace()
		if namespace == "" {
			namespace = DefaultNamespace
		}
		if !enabled[f.Name+"/"+namespace] && !e.namespaceEnabled(namespace, f) {
			continue // the webhook is not called for its pods: not an agent, as upstream
		}
		if e.p.Injection.RequireAgentRuntime {
			e.fail(manifest.Errorf(o, labelField(f), "%s=%s makes the pods an agent, but no AgentRuntime targets %s %s/%s and the platform requires one (injection.requireAgentRuntime): declare an AgentRuntime, or label the pods %s=disabled",
				f.LabelType(), typ, kind.kind, namespace, o.GetName(), f.LabelInject()))
			continue
		}
		w, err := newWorkload(o, kind)
		if err != nil {
			e.fail(err)
			continue
		}
		rt := &agentv1.AgentRuntime{}
		rt.Name, rt.Namespace = o.GetName(), namespace
		rt.Spec.Type = typ
		rt.Spec.TargetRef = agentv1.TargetRef{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Name: o.GetName()}
		a := &agent{obj: o, rt: rt, target: w, family: f}
		a.rtObj = forAgent(f.APIVersion(), agentv1.AgentRuntimeKind, namespace, rt.Name, a)
		a.rtObj.SetAnnotations(map[string]string{gitopsv1.AnnotationEnrolment: gitopsv1.EnrolmentLabel})
		a.rtObj.Object["spec"] = map[string]any{
			"type":      string(typ),
			"targetRef": map[string]any{"apiVersion": rt.Spec.TargetRef.APIVersion, "kind": rt.Spec.TargetRef.Kind, "name": rt.Spec.TargetRef.Name},
		}
		e.add(a.rtObj)
		e.agents = append(e.agents, a)
	}
	slices.SortFunc(e.agents, func(a, b *agent) int {
		return strings.Compare(a.rt.Namespace+"/"+a.rt.Name, b.rt.Namespace+"/"+b.rt.Name)
	})
}

// namespaceEnabled reports whether the build's Namespace object lets the family's
// webhook inject into its pods (kagenti-enabled=true, rossoctl-enabled=true).
func (e *expansion) namespaceEnabled(name string, f agentv1.Family) bool {
	ns := e.index[manifest.Ref{Kind: "Namespace", Name: name}]
	return ns != nil && ns.GetLabels()[f.LabelEnabledNamespace()] == "true"
}

// labelOnly reports whether the agent was enrolled by its pods' label alone.
func (a *agent) labelOnly() bool { return a.rtObj != a.obj }

// describe names the agent in messages about another one.
func (a *agent) describe() string {
	if a.labelOnly() {
		return "label-only agent " + a.target.ref()
	}
	return "AgentRuntime " + a.rt.Name
}

func templateLabelsOf(o *manifest.Object, kind workloadKind) map[string]string {
	w := &workload{obj: o, kind: kind}
	return w.templateLabels()
}
