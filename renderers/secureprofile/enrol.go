package secureprofile

import (
	"slices"
	"strings"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/manifest"
)

// enrolLabelled makes an agent of every workload that Kagenti's webhook would inject
// without an AgentRuntime: its pods are labelled kagenti.io/type agent or tool, they do
// not opt out, its namespace is enabled, and no AgentRuntime of the build targets it.
// Such an agent runs with its namespace's defaults; trustsync generates the AgentRuntime
// that says so (annotated gitops.trustsync.dev/enrolment: label), so the agent is
// configured, registered, shown and reported like any other, all from Git. With the
// platform's injection.requireAgentRuntime each such workload is an error instead. A
// workload labelled with Rossoctl's rossoctl.io/type is an error: not read yet, it would
// silently run as no agent.
func (e *expansion) enrolLabelled() {
	targeted := map[*manifest.Object]bool{}
	enabled := map[string]bool{}
	for _, a := range e.agents {
		enabled[a.rt.Namespace] = true
		if a.target != nil {
			targeted[a.target.obj] = true
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
		if typ, ok := labels[rossoctlLabelType]; ok {
			// Rossoctl's spelling of kagenti.io/type: unread, the pods would run as no
			// agent at all, without their identity and policy.
			e.fail(manifest.Errorf(o, strings.Join(append(slices.Clone(kind.templatePath), "metadata", "labels", rossoctlLabelType), "."),
				"%s=%s is the label of Rossoctl (Kagenti's name since July 2026), which trustsync does not read yet: write %s=%s", rossoctlLabelType, typ, agentv1.LabelType, typ))
			continue
		}
		if targeted[o] {
			continue
		}
		typ := agentv1.AgentType(labels[agentv1.LabelType])
		if typ != agentv1.AgentTypeAgent && typ != agentv1.AgentTypeTool {
			continue
		}
		if labels[agentv1.LabelInject] == "disabled" {
			continue
		}
		namespace := o.GetNamespace()
		if namespace == "" {
			namespace = DefaultNamespace
		}
		if !enabled[namespace] && !e.namespaceEnabled(namespace) {
			continue // the webhook is not called for its pods: not an agent, as upstream
		}
		labelField := strings.Join(append(slices.Clone(kind.templatePath), "metadata", "labels", agentv1.LabelType), ".")
		if e.p.Injection.RequireAgentRuntime {
			e.fail(manifest.Errorf(o, labelField, "%s=%s makes the pods an agent, but no AgentRuntime targets %s %s/%s and the platform requires one (injection.requireAgentRuntime): declare an AgentRuntime, or label the pods %s=disabled",
				agentv1.LabelType, typ, kind.kind, namespace, o.GetName(), agentv1.LabelInject))
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
		a := &agent{obj: o, rt: rt, target: w}
		a.rtObj = forAgent(agentv1.GroupVersion.String(), agentv1.AgentRuntimeKind, namespace, rt.Name, a)
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

// rossoctlLabelType is Rossoctl's kagenti.io/type.
const rossoctlLabelType = "rossoctl.io/type"

// namespaceEnabled reports whether the build's Namespace object lets the webhook inject
// into its pods (kagenti-enabled=true).
func (e *expansion) namespaceEnabled(name string) bool {
	ns := e.index[manifest.Ref{Kind: "Namespace", Name: name}]
	return ns != nil && ns.GetLabels()[agentv1.LabelEnabledNamespace] == "true"
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
