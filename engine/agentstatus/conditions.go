package agentstatus

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/security/authbridge"
	"github.com/trustsync/trustsync/security/identity"
)

// Condition reasons, Kagenti's where it has one.
const (
	ReasonTargetFound      = "TargetFound"
	ReasonTargetNotFound   = "TargetNotFound"
	ReasonUnsupportedKind  = "UnsupportedKind"
	ReasonConfigResolved   = "ConfigResolved"
	ReasonConfigWarning    = "ConfigWarning"
	ReasonConfigError      = "ConfigError"
	ReasonNamespaceLabeled = "NamespaceLabeled"
	ReasonOptedOut         = "OptedOut"
	ReasonNotLabeled       = "NotLabeled"
	ReasonMTLSDisabled     = "MTLSDisabled"
	ReasonSPIREAvailable   = "SPIREAvailable"
	ReasonSPIREUnavailable = "SPIREUnavailable"
	ReasonWorkloadNotFound = "WorkloadNotFound"
	ReasonConfigNotReady   = "ConfigNotResolved"
	ReasonConfigured       = "Configured"
	ReasonConfigHashError  = "ConfigHashError"
)

// MessageSPIREUnavailable is Kagenti's message, word for word, so that runbooks written
// for it match.
const MessageSPIREUnavailable = "mTLS requires SPIRE; either deploy SPIRE or set mTLSMode: disabled"

// ConditionTypes are the conditions this package owns, in the order they are evaluated.
var ConditionTypes = []string{
	agentv1.ConditionTargetResolved,
	agentv1.ConditionConfigResolved,
	agentv1.ConditionIstioMeshEnrolled,
	agentv1.ConditionMTLSReady,
	agentv1.ConditionReady,
}

// target is the observed workload an AgentRuntime points at.
type target struct {
	// Found is false when the workload does not exist.
	Found bool
	// Unsupported explains a targetRef kind that cannot be read; empty when supported.
	Unsupported string
	// Ref names the workload for messages: Deployment team-a/chat.
	Ref            string
	PodLabels      map[string]string
	PodAnnotations map[string]string
	// Pods the workload selects; nil where they are not read (Sandbox).
	Pods []corev1.Pod
}

// observed is everything the conditions are computed from.
type observed struct {
	// Family of the AgentRuntime, which spells its pods' labels and annotations.
	Family    agentv1.Family
	Runtime   *agentv1.AgentRuntime
	Target    target
	Namespace *corev1.Namespace // nil when it does not exist
	// NamespaceRuntime is the namespace's authbridge-runtime-config document; nil when
	// the ConfigMap is missing (RuntimeMissing) or broken (RuntimeErr).
	NamespaceRuntime map[string]any
	RuntimeMissing   bool
	RuntimeErr       error
	Platform         *gitopsv1.Platform
	PlatformErr      error
	SPIREPresent     bool
}

// evaluation is the status computed from an observation.
type evaluation struct {
	Conditions []metav1.Condition
	// ConfiguredPods run with the current configuration: the config hash of the pod
	// template and, where the settings inject one, the AuthBridge sidecar.
	ConfiguredPods int32
}

// evaluate computes the status. It is a pure function: the same observation always gives
// the same status (without transition times, which apply sets).
func evaluate(o observed) evaluation {
	rt := o.Runtime
	cond := func(t string, s metav1.ConditionStatus, reason, format string, args ...any) metav1.Condition {
		return metav1.Condition{Type: t, Status: s, Reason: reason, Message: fmt.Sprintf(format, args...), ObservedGeneration: rt.Generation}
	}
	var out []metav1.Condition
	add := func(c metav1.Condition) { out = append(out, c) }

	// TargetResolved.
	switch {
	case o.Target.Unsupported != "":
		add(cond(agentv1.ConditionTargetResolved, metav1.ConditionFalse, ReasonUnsupportedKind, "%s", o.Target.Unsupported))
	case !o.Target.Found:
		add(cond(agentv1.ConditionTargetResolved, metav1.ConditionFalse, ReasonTargetNotFound, "%s not found", o.Target.Ref))
	default:
		add(cond(agentv1.ConditionTargetResolved, metav1.ConditionTrue, ReasonTargetFound, "%s found", o.Target.Ref))
	}
	targetOK := o.Target.Unsupported == "" && o.Target.Found

	// ConfigResolved: the settings the pods get, resolved as the webhook resolves them.
	var settings authbridge.Settings
	configOK := false
	configMsg := ""
	switch {
	case !targetOK:
		add(cond(agentv1.ConditionConfigResolved, metav1.ConditionUnknown, ReasonTargetNotFound, "the settings depend on the pod template of %s", o.Target.Ref))
	case o.PlatformErr != nil:
		configMsg = "platform: " + o.PlatformErr.Error()
		add(cond(agentv1.ConditionConfigResolved, metav1.ConditionFalse, ReasonConfigError, "%s", configMsg))
	case o.RuntimeErr != nil:
		configMsg = runtimeConfigRef(rt.Namespace) + " data." + agentv1.KeyConfigYAML + ": " + o.RuntimeErr.Error()
		add(cond(agentv1.ConditionConfigResolved, metav1.ConditionFalse, ReasonConfigError, "%s", configMsg))
	default:
		s, err := authbridge.Resolve(o.Family, rt, o.NamespaceRuntime, o.Target.PodLabels, o.Target.PodAnnotations, o.Platform)
		if err != nil {
			configMsg = settingError(rt, err)
			add(cond(agentv1.ConditionConfigResolved, metav1.ConditionFalse, ReasonConfigError, "%s", configMsg))
			break
		}
		settings, configOK = s, true
		if warnings := configWarnings(o, s); len(warnings) > 0 {
			add(cond(agentv1.ConditionConfigResolved, metav1.ConditionTrue, ReasonConfigWarning, "%s; %s", describe(s), strings.Join(warnings, "; ")))
		} else {
			add(cond(agentv1.ConditionConfigResolved, metav1.ConditionTrue, ReasonConfigResolved, "%s", describe(s)))
		}
	}

	// IstioMeshEnrolled: observed, never patched (see the package doc).
	add(meshCondition(o, cond))

	// MTLSReady: informational.
	switch {
	case !targetOK:
		add(cond(agentv1.ConditionMTLSReady, metav1.ConditionFalse, ReasonWorkloadNotFound, "%s not found", o.Target.Ref))
	case !configOK:
		add(cond(agentv1.ConditionMTLSReady, metav1.ConditionUnknown, ReasonConfigNotReady, "the mTLS mode is not resolved: %s", configMsg))
	case settings.MTLS == agentv1.MTLSDisabled:
		add(cond(agentv1.ConditionMTLSReady, metav1.ConditionTrue, ReasonMTLSDisabled, "mTLS between sidecars is disabled"))
	case o.SPIREPresent:
		add(cond(agentv1.ConditionMTLSReady, metav1.ConditionTrue, ReasonSPIREAvailable, "SPIRE is installed (CSIDriver %s); mTLS %s with X.509-SVIDs", identity.CSIDriver, settings.MTLS))
	default:
		add(cond(agentv1.ConditionMTLSReady, metav1.ConditionFalse, ReasonSPIREUnavailable, "%s", MessageSPIREUnavailable))
	}

	// Ready: the workload is there, its settings resolve, and its pod template carries
	// the configuration trustsync rendered for it.
	hash := o.Target.PodAnnotations[o.Family.AnnotationConfigHash()]
	switch {
	case o.Target.Unsupported != "":
		add(cond(agentv1.ConditionReady, metav1.ConditionFalse, ReasonUnsupportedKind, "%s", o.Target.Unsupported))
	case !o.Target.Found:
		add(cond(agentv1.ConditionReady, metav1.ConditionFalse, ReasonTargetNotFound, "%s not found", o.Target.Ref))
	case !configOK:
		add(cond(agentv1.ConditionReady, metav1.ConditionFalse, ReasonConfigError, "%s", configMsg))
	case hash == "":
		add(cond(agentv1.ConditionReady, metav1.ConditionFalse, ReasonConfigHashError, "the pod template of %s has no annotation %s: it was not rendered by trustsync for this AgentRuntime", o.Target.Ref, o.Family.AnnotationConfigHash()))
	default:
		add(cond(agentv1.ConditionReady, metav1.ConditionTrue, ReasonConfigured, "%s configured with config-hash %s", o.Target.Ref, short(hash)))
	}
	ev := evaluation{Conditions: out}
	if configOK && hash != "" {
		ev.ConfiguredPods = configuredPods(o.Family, o.Target.Pods, hash, settings.Injected)
	}
	return ev
}

// configuredPods counts the running pods with the template's config hash and, when
// injection is due, the sidecar: a pod admitted while the webhook was down or before the
// agent was declared has the hash but not the sidecar, and is not configured.
func configuredPods(f agentv1.Family, pods []corev1.Pod, hash string, injected bool) int32 {
	var n int32
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || p.Annotations[f.AnnotationConfigHash()] != hash {
			continue
		}
		if injected && !slices.ContainsFunc(p.Spec.Containers, func(c corev1.Container) bool { return slices.Contains(authbridge.SidecarContainers, c.Name) }) {
			continue
		}
		n++
	}
	return n
}

func meshCondition(o observed, cond func(string, metav1.ConditionStatus, string, string, ...any) metav1.Condition) metav1.Condition {
	const t = agentv1.ConditionIstioMeshEnrolled
	ns := o.Runtime.Namespace
	if o.Namespace == nil {
		return cond(t, metav1.ConditionFalse, ReasonNotLabeled, "namespace %s not found", ns)
	}
	if o.Namespace.Annotations[o.Family.AnnotationIstioMesh()] == "disabled" {
		return cond(t, metav1.ConditionFalse, ReasonOptedOut, "namespace %s opts out of the mesh (annotation %s: disabled)", ns, o.Family.AnnotationIstioMesh())
	}
	want := []struct{ key, value string }{{agentv1.LabelIstioDiscovery, "enabled"}, {agentv1.LabelIstioDataplaneMode, "ambient"}}
	var missing []string
	for _, l := range want {
		if o.Namespace.Labels[l.key] != l.value {
			missing = append(missing, l.key+"="+l.value)
		}
	}
	if len(missing) > 0 {
		return cond(t, metav1.ConditionFalse, ReasonNotLabeled, "namespace %s lacks the label %s, which trustsync renders from Git; is the namespace applied by a Sync?", ns, strings.Join(missing, ", "))
	}
	return cond(t, metav1.ConditionTrue, ReasonNamespaceLabeled, "namespace %s is enrolled in Istio ambient", ns)
}

// configWarnings are settings that resolve but not to what was asked.
func configWarnings(o observed, s authbridge.Settings) []string {
	var w []string
	if o.RuntimeMissing {
		w = append(w, fmt.Sprintf("%s is missing (trustsync renders it with the agent); the platform defaults apply", runtimeConfigRef(o.Runtime.Namespace)))
	}
	if asked := o.Runtime.Spec.MTLSMode; asked != "" && asked != agentv1.MTLSDisabled && s.MTLS == agentv1.MTLSDisabled {
		why := "the platform turns SPIRE off"
		switch {
		case !s.Injected:
			why = "no AuthBridge sidecar is injected"
		case o.Target.PodLabels[o.Family.LabelSpiffeHelperInject()] == "false":
			why = "the pods opt out of SPIRE (label " + o.Family.LabelSpiffeHelperInject() + "=false)"
		}
		w = append(w, fmt.Sprintf("mtlsMode %s runs as disabled: %s", asked, why))
	}
	return w
}

func describe(s authbridge.Settings) string {
	if !s.Injected {
		return fmt.Sprintf("authBridgeMode %s, nothing injected", s.Mode)
	}
	msg := fmt.Sprintf("authBridgeMode %s, mTLS %s", s.Mode, s.MTLS)
	if s.Egress != "" {
		msg += ", egress " + string(s.Egress)
	}
	if s.TLSBridge {
		msg += ", TLS bridge"
	}
	return msg
}

// settingError names where a bad setting is: the AgentRuntime or the namespace's
// ConfigMap.
func settingError(rt *agentv1.AgentRuntime, err error) string {
	var se *authbridge.SettingError
	if errors.As(err, &se) {
		if se.InNamespaceConfig {
			return fmt.Sprintf("%s data.%s: %s: %v", runtimeConfigRef(rt.Namespace), agentv1.KeyConfigYAML, se.Field, se.Err)
		}
		return fmt.Sprintf("%s: %v", se.Field, se.Err)
	}
	return err.Error()
}

func runtimeConfigRef(ns string) string {
	return "ConfigMap " + ns + "/" + agentv1.ConfigMapAuthBridgeRuntimeConfig
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}

// bad says whether a condition reports a problem. Opting out of the mesh is a choice, not
// a problem.
func bad(c metav1.Condition) bool {
	return c.Status != metav1.ConditionTrue && c.Reason != ReasonOptedOut
}
