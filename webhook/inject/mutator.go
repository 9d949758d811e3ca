package inject

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/security/agentid"
	"github.com/trustsync/trustsync/security/authbridge"
)

// Cluster is what the mutator reads from the cluster; informer caches answer it.
type Cluster interface {
	// AgentRuntime returns the AgentRuntime of the family whose targetRef names the
	// workload, nil when there is none.
	AgentRuntime(ctx context.Context, f agentv1.Family, namespace string, w agentid.Workload) (*agentv1.AgentRuntime, error)
	// NamespaceRuntime is the namespace's authbridge-runtime-config document, nil when
	// the namespace has none.
	NamespaceRuntime(ctx context.Context, namespace string) (map[string]any, error)
	// Platform is the platform with the live gates of the family's feature-gates
	// ConfigMap (kagenti-feature-gates, rossoctl-feature-gates) applied.
	Platform(ctx context.Context, f agentv1.Family) (*gitopsv1.Platform, error)
	// SPIREPresent reports whether the SPIFFE CSI driver is installed.
	SPIREPresent(ctx context.Context) (bool, error)
}

// Mutator injects AuthBridge into agent pods.
type Mutator struct {
	cluster  Cluster
	families []agentv1.Family
}

// NewMutator returns a mutator reading the cluster through c, for pods of the given
// families (the platform's families); Kagenti's alone when none are given.
func NewMutator(c Cluster, families ...agentv1.Family) *Mutator {
	if len(families) == 0 {
		families = []agentv1.Family{agentv1.Kagenti}
	}
	return &Mutator{cluster: c, families: families}
}

// Denial is a pod the webhook refuses, with the reason the user sees.
type Denial struct{ Reason string }

func (d *Denial) Error() string { return d.Reason }

func deny(format string, args ...any) error { return &Denial{Reason: fmt.Sprintf(format, args...)} }

// Decision is the outcome for one pod.
type Decision struct {
	// Patch turns the pod as admitted into the mutated pod; empty when nothing changes.
	Patch []jsonpatch.JsonPatchOperation
	// Reason says why nothing was injected, for the admission response.
	Reason   string
	Warnings []string
}

// Handle answers an admission request for a Pod.
func (m *Mutator) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create || req.Kind.Group != "" || req.Kind.Kind != "Pod" {
		// Fail closed: the configuration sends only pod creations, so anything else (an
		// AdmissionReview without a request, too) is malformed, not harmless.
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("not a pod creation: operation %q on kind %q", req.Operation, req.Kind.Kind))
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the pod: %w", err))
	}
	if pod.Namespace == "" {
		pod.Namespace = req.Namespace
	}
	d, err := m.Mutate(ctx, &pod)
	if err != nil {
		if denial := (*Denial)(nil); errors.As(err, &denial) {
			return admission.Denied(denial.Reason)
		}
		// Fail closed: a pod is never admitted without what its agent needs.
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if len(d.Patch) == 0 {
		return admission.Allowed(d.Reason).WithWarnings(d.Warnings...)
	}
	return admission.Patched("", d.Patch...).WithWarnings(d.Warnings...)
}

// Mutate injects into the pod in place and returns the patch that does the same.
func (m *Mutator) Mutate(ctx context.Context, pod *corev1.Pod) (Decision, error) {
	for _, c := range pod.Spec.Containers {
		if slices.Contains(authbridge.SidecarContainers, c.Name) {
			return Decision{Reason: "already injected"}, nil
		}
	}
	// The pod's family is its type label's: it spells the rest of its labels, the group
	// of its AgentRuntime and what is injected.
	families := agentv1.FamiliesOfLabels(pod.Labels)
	switch {
	case len(families) == 0:
		return Decision{Reason: "not an agent or tool"}, nil
	case len(families) > 1:
		return Decision{}, deny("pod %s/%s is labelled both %s and %s: one family's labels per pod, the family of its AgentRuntime (%s or %s)",
			pod.Namespace, podNameOf(pod), families[0].LabelType(), families[1].LabelType(), families[0].Group, families[1].Group)
	}
	f := families[0]
	if !slices.Contains(m.families, f) {
		// Never as if it were no agent: its policies and identity would silently be missing.
		return Decision{}, deny("pod %s/%s is labelled %s, which is %s's, and the platform does not read %s: add %s to the Platform's families", pod.Namespace, podNameOf(pod), f.LabelType(), f.Title, f.Title, f.Name)
	}
	typ := agentv1.AgentType(pod.Labels[f.LabelType()])
	if typ != agentv1.AgentTypeAgent && typ != agentv1.AgentTypeTool {
		return Decision{Reason: "not an agent or tool"}, nil
	}
	p, err := m.cluster.Platform(ctx, f)
	if err != nil {
		return Decision{}, err
	}
	switch {
	case !p.InjectionEnabled():
		return Decision{Reason: "injection is off (featureGates.globalEnabled: false)"}, nil
	case typ == agentv1.AgentTypeTool && !p.FeatureGates.InjectTools:
		return Decision{Reason: "tools are not injected (featureGates.injectTools: false)"}, nil
	case pod.Labels[f.LabelInject()] == "disabled":
		return Decision{Reason: "the pod opts out (" + f.LabelInject() + "=disabled)"}, nil
	}

	w, ok := workloadOf(pod)
	podName := describe(pod, w, ok)
	if !ok {
		return Decision{}, deny("%s has label %s=%s but no controller; trustsync injects agents declared by an AgentRuntime that targets their Deployment, StatefulSet or Sandbox", podName, f.LabelType(), typ)
	}
	rt, err := m.cluster.AgentRuntime(ctx, f, pod.Namespace, w)
	if err != nil {
		return Decision{}, err
	}
	var warnings []string
	switch {
	case rt == nil && p.Injection.RequireAgentRuntime:
		// Fail closed: without its AgentRuntime the pod would run unprotected, or with
		// settings nobody declared.
		return Decision{}, deny("%s has label %s=%s but no AgentRuntime in namespace %s targets %s, and the platform requires one (injection.requireAgentRuntime); declare one in Git (or label the pod %s=disabled)", podName, f.LabelType(), typ, pod.Namespace, w, f.LabelInject())
	case rt == nil:
		// Label-only enrolment is rendered from Git, which generates the agent's
		// AgentRuntime and configuration: a pod no Sync enrolled would run unprotected.
		return Decision{}, deny("%s has label %s=%s but no AgentRuntime in namespace %s targets %s, and no Sync enrolled it by its label: declare an AgentRuntime in Git, or keep the workload in a Sync's repository with its Namespace labelled %s=true there (or label the pod %s=disabled)", podName, f.LabelType(), typ, pod.Namespace, w, f.LabelEnabledNamespace(), f.LabelInject())
	case rt.Annotations[gitopsv1.AnnotationEnrolment] == gitopsv1.EnrolmentLabel && p.Injection.RequireAgentRuntime:
		return Decision{}, deny("%s is enrolled by its label %s=%s only (AgentRuntime %s/%s was generated for it), and the platform requires an AgentRuntime of the repository (injection.requireAgentRuntime); declare one in Git", podName, f.LabelType(), typ, rt.Namespace, rt.Name)
	case rt.Annotations[gitopsv1.AnnotationEnrolment] == gitopsv1.EnrolmentLabel:
		warnings = append(warnings, fmt.Sprintf("%s has no AgentRuntime of its own: it is enrolled by its label %s=%s with the namespace's defaults; declare an AgentRuntime in Git to choose its settings", podName, f.LabelType(), typ))
	}
	nsRuntime, err := m.cluster.NamespaceRuntime(ctx, pod.Namespace)
	if err != nil {
		return Decision{}, err
	}
	settings, err := authbridge.Resolve(f, rt, nsRuntime, pod.Labels, pod.Annotations, p)
	if err != nil {
		var se *authbridge.SettingError
		if errors.As(err, &se) && se.InNamespaceConfig {
			return Decision{}, deny("%s: ConfigMap %s/%s %s: %v", podName, pod.Namespace, agentv1.ConfigMapAuthBridgeRuntimeConfig, se.Field, se.Err)
		}
		return Decision{}, deny("%s: AgentRuntime %s/%s: %v", podName, rt.Namespace, rt.Name, err)
	}
	if !settings.Injected {
		return Decision{Reason: "AgentRuntime " + rt.Name + " injects nothing into this pod"}, nil
	}
	present := false
	if settings.SPIRE {
		if present, err = m.cluster.SPIREPresent(ctx); err != nil {
			return Decision{}, err
		}
	}
	inj, err := authbridge.Inject(&pod.Spec, authbridge.InjectInput{
		Family:               f,
		Settings:             settings,
		Ports:                authbridge.PlanPorts(&pod.Spec),
		Workload:             w.Name,
		Namespace:            pod.Namespace,
		Registered:           agentid.Registered(p, rt.Spec.Type),
		OwnRoutes:            authbridge.HasOwnRoutes(rt),
		SPIREPresent:         present,
		OutboundPortsExclude: pod.Annotations[f.AnnotationOutboundPortsExclude()],
		InboundPortsExclude:  pod.Annotations[f.AnnotationInboundPortsExclude()],
		Platform:             p,
	})
	if err != nil {
		var pc *authbridge.PortConflict
		if errors.As(err, &pc) {
			return Decision{}, deny("%s: spec.%s: %v", podName, pc.Field, pc)
		}
		return Decision{}, deny("%s: AgentRuntime %s/%s: %v", podName, rt.Namespace, rt.Name, err)
	}
	if inj.Empty() {
		return Decision{Reason: "AgentRuntime " + rt.Name + " injects nothing into this pod"}, nil
	}
	if err := ownVolumes(pod, inj); err != nil {
		return Decision{}, deny("%s: %v", podName, err)
	}
	d := Decision{Warnings: warnings}
	if settings.SPIRE && !present {
		d.Warnings = append(d.Warnings, fmt.Sprintf("SPIRE is not installed (no CSIDriver %s): %s runs without a SPIFFE identity and without mTLS", authbridge.SPIFFECSIDriver, podName))
	}
	d.Patch = apply(pod, inj, map[string]string{f.AnnotationMTLSMode(): string(inj.MTLS)})
	return d, nil
}

// ownVolumes lets the sidecars use the pod's own shared-data or spire-agent-socket where
// it is of the kind AuthBridge would inject (upstream's demos declare them), so nothing is
// added twice, and refuses a pod whose other volumes or init containers carry names
// AuthBridge needs: merging them would hand the sidecar the application's data or the
// reverse.
func ownVolumes(pod *corev1.Pod, inj *authbridge.Injection) error {
	var add []corev1.Volume
	for _, v := range inj.Volumes {
		i := slices.IndexFunc(pod.Spec.Volumes, func(x corev1.Volume) bool { return x.Name == v.Name })
		if i < 0 {
			add = append(add, v)
			continue
		}
		if err := authbridge.CheckOwnVolume(pod.Spec.Volumes[i]); err != nil {
			return fmt.Errorf("spec.volumes[%d]: %w", i, err)
		}
	}
	inj.Volumes = add
	for _, c := range inj.InitContainers {
		if slices.ContainsFunc(pod.Spec.InitContainers, func(x corev1.Container) bool { return x.Name == c.Name }) {
			return fmt.Errorf("spec.initContainers: container name %q is reserved for AuthBridge; rename the pod's init container", c.Name)
		}
	}
	return nil
}

// workloadOf finds the pod's workload from its controller: a ReplicaSet stands for its
// Deployment, whose name is the ReplicaSet's minus the pod-template-hash suffix, so no
// ReplicaSet needs to be read or cached.
func workloadOf(pod *corev1.Pod) (agentid.Workload, bool) {
	for _, o := range pod.OwnerReferences {
		if o.Controller == nil || !*o.Controller {
			continue
		}
		w := agentid.WorkloadOf(o.APIVersion, o.Kind, o.Name)
		if w.Group == "apps" && w.Kind == "ReplicaSet" {
			if hash := pod.Labels["pod-template-hash"]; hash != "" && strings.HasSuffix(w.Name, "-"+hash) {
				return agentid.Workload{Group: "apps", Kind: "Deployment", Name: strings.TrimSuffix(w.Name, "-"+hash)}, true
			}
		}
		return w, true
	}
	return agentid.Workload{}, false
}

// podNameOf is the pod's name, or its generateName prefix before it has one.
func podNameOf(pod *corev1.Pod) string {
	if pod.Name != "" {
		return pod.Name
	}
	return pod.GenerateName + "*"
}

func describe(pod *corev1.Pod, w agentid.Workload, ok bool) string {
	name := pod.Name
	if name == "" && ok {
		return fmt.Sprintf("pod of %s %s/%s", w.Kind, pod.Namespace, w.Name)
	}
	if name == "" {
		name = pod.GenerateName + "*"
	}
	return fmt.Sprintf("pod %s/%s", pod.Namespace, name)
}
