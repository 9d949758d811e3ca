package agentstatus

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

func TestEvaluate(t *testing.T) {
	platform := gitopsv1.DefaultPlatform()
	noSPIRE := gitopsv1.DefaultPlatform()
	noSPIRE.Spire.Enabled = ptr.To(false)
	meshed := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team", Labels: map[string]string{agentv1.LabelIstioDiscovery: "enabled", agentv1.LabelIstioDataplaneMode: "ambient"}}}
	found := target{Found: true, Ref: "Deployment team/chat", PodAnnotations: map[string]string{agentv1.Kagenti.AnnotationConfigHash(): configHash}}

	type want struct{ status, reason, message string }
	for _, tc := range []struct {
		name string
		mod  func(*observed)
		want map[string]want // by condition type; message is a substring
	}{
		{
			name: "permissive with SPIRE installed",
			mod:  func(o *observed) { o.SPIREPresent = true },
			want: map[string]want{
				agentv1.ConditionTargetResolved:    {"True", ReasonTargetFound, "Deployment team/chat found"},
				agentv1.ConditionConfigResolved:    {"True", ReasonConfigResolved, "authBridgeMode proxy-sidecar, mTLS permissive, egress enforce-redirect"},
				agentv1.ConditionIstioMeshEnrolled: {"True", ReasonNamespaceLabeled, ""},
				agentv1.ConditionMTLSReady:         {"True", ReasonSPIREAvailable, "CSIDriver csi.spiffe.io"},
				agentv1.ConditionReady:             {"True", ReasonConfigured, "configured with config-hash 0123456789ab"},
			},
		},
		{
			name: "permissive without SPIRE: reported, Ready all the same",
			want: map[string]want{
				agentv1.ConditionMTLSReady: {"False", ReasonSPIREUnavailable, MessageSPIREUnavailable},
				agentv1.ConditionReady:     {"True", ReasonConfigured, ""},
			},
		},
		{
			name: "the platform turns SPIRE off: permissive runs as disabled, and says so",
			mod:  func(o *observed) { o.Platform = noSPIRE },
			want: map[string]want{
				agentv1.ConditionConfigResolved: {"True", ReasonConfigWarning, "mtlsMode permissive runs as disabled: the platform turns SPIRE off"},
				agentv1.ConditionMTLSReady:      {"True", ReasonMTLSDisabled, ""},
			},
		},
		{
			name: "strict where the platform has no SPIRE is a configuration error",
			mod: func(o *observed) {
				o.Platform = noSPIRE
				o.Runtime.Spec.MTLSMode = agentv1.MTLSStrict
			},
			want: map[string]want{
				agentv1.ConditionConfigResolved: {"False", ReasonConfigError, "spec.mtlsMode: strict needs SPIRE"},
				agentv1.ConditionMTLSReady:      {"Unknown", ReasonConfigNotReady, ""},
				agentv1.ConditionReady:          {"False", ReasonConfigError, "spec.mtlsMode"},
			},
		},
		{
			name: "waypoint injects nothing",
			mod:  func(o *observed) { o.Runtime.Spec.AuthBridgeMode = agentv1.AuthBridgeWaypoint },
			want: map[string]want{
				agentv1.ConditionConfigResolved: {"True", ReasonConfigWarning, "authBridgeMode waypoint, nothing injected; mtlsMode permissive runs as disabled: no AuthBridge sidecar is injected"},
				agentv1.ConditionMTLSReady:      {"True", ReasonMTLSDisabled, ""},
			},
		},
		{
			name: "a broken namespace ConfigMap",
			mod:  func(o *observed) { o.RuntimeErr = errors.New("yaml: line 1: did not find expected key") },
			want: map[string]want{
				agentv1.ConditionConfigResolved: {"False", ReasonConfigError, "ConfigMap team/authbridge-runtime-config data.config.yaml: yaml: line 1"},
				agentv1.ConditionReady:          {"False", ReasonConfigError, ""},
			},
		},
		{
			name: "the target is missing",
			mod:  func(o *observed) { o.Target = target{Ref: "Deployment team/chat"} },
			want: map[string]want{
				agentv1.ConditionTargetResolved:    {"False", ReasonTargetNotFound, "Deployment team/chat not found"},
				agentv1.ConditionConfigResolved:    {"Unknown", ReasonTargetNotFound, ""},
				agentv1.ConditionIstioMeshEnrolled: {"True", ReasonNamespaceLabeled, ""},
				agentv1.ConditionMTLSReady:         {"False", ReasonWorkloadNotFound, ""},
				agentv1.ConditionReady:             {"False", ReasonTargetNotFound, "Deployment team/chat not found"},
			},
		},
		{
			name: "an unsupported kind",
			mod: func(o *observed) {
				o.Target = target{Ref: "CronJob team/chat", Unsupported: "targetRef batch/v1 CronJob is not a workload trustsync reads"}
			},
			want: map[string]want{
				agentv1.ConditionTargetResolved: {"False", ReasonUnsupportedKind, "CronJob"},
				agentv1.ConditionReady:          {"False", ReasonUnsupportedKind, ""},
			},
		},
		{
			name: "a pod template trustsync did not render",
			mod:  func(o *observed) { o.Target.PodAnnotations = nil },
			want: map[string]want{
				agentv1.ConditionReady: {"False", ReasonConfigHashError, "has no annotation kagenti.io/config-hash"},
			},
		},
		{
			name: "a namespace that opts out of the mesh",
			mod: func(o *observed) {
				o.Namespace = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team", Annotations: map[string]string{agentv1.Kagenti.AnnotationIstioMesh(): "disabled"}}}
			},
			want: map[string]want{
				agentv1.ConditionIstioMeshEnrolled: {"False", ReasonOptedOut, "annotation kagenti.io/istio-mesh: disabled"},
			},
		},
		{
			name: "a namespace with one label of two",
			mod: func(o *observed) {
				o.Namespace = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team", Labels: map[string]string{agentv1.LabelIstioDiscovery: "enabled"}}}
			},
			want: map[string]want{
				agentv1.ConditionIstioMeshEnrolled: {"False", ReasonNotLabeled, "lacks the label istio.io/dataplane-mode=ambient,"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := observed{
				Family: agentv1.Kagenti,
				Runtime: &agentv1.AgentRuntime{
					ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "chat", Generation: 3},
					Spec:       agentv1.AgentRuntimeSpec{Type: agentv1.AgentTypeAgent, MTLSMode: agentv1.MTLSPermissive},
				},
				Target:           found,
				Namespace:        meshed,
				NamespaceRuntime: map[string]any{},
				Platform:         platform,
			}
			if tc.mod != nil {
				tc.mod(&o)
			}
			got := evaluate(o).Conditions
			if len(got) != len(ConditionTypes) {
				t.Fatalf("%d conditions: %+v", len(got), got)
			}
			for i, c := range got {
				if c.Type != ConditionTypes[i] || c.ObservedGeneration != 3 {
					t.Errorf("condition %d: %s generation %d", i, c.Type, c.ObservedGeneration)
				}
				w, ok := tc.want[c.Type]
				if !ok {
					continue
				}
				if string(c.Status) != w.status || c.Reason != w.reason || !strings.Contains(c.Message, w.message) {
					t.Errorf("%s = %s %s %q, want %s %s containing %q", c.Type, c.Status, c.Reason, c.Message, w.status, w.reason, w.message)
				}
			}
		})
	}
}
