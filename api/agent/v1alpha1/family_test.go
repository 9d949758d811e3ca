package v1alpha1

import (
	"reflect"
	"testing"
)

// TestFamilyNames: every wire name that contains the family is spelled as upstream
// spells it, before and after the rename.
func TestFamilyNames(t *testing.T) {
	for _, tc := range []struct {
		f    Family
		name func(Family) string
		want string
	}{
		{Kagenti, Family.LabelType, "kagenti.io/type"},
		{Rossoctl, Family.LabelType, "rossoctl.io/type"},
		{Kagenti, Family.LabelInject, "kagenti.io/inject"},
		{Rossoctl, Family.LabelInject, "rossoctl.io/inject"},
		{Rossoctl, Family.LabelEnvoyProxyInject, "rossoctl.io/envoy-proxy-inject"},
		{Rossoctl, Family.LabelSpiffeHelperInject, "rossoctl.io/spiffe-helper-inject"},
		{Rossoctl, Family.LabelClientRegistrationInject, "rossoctl.io/client-registration-inject"},
		{Kagenti, Family.LabelEnabledNamespace, "kagenti-enabled"},
		{Rossoctl, Family.LabelEnabledNamespace, "rossoctl-enabled"},
		{Rossoctl, Family.LabelDefaults, "rossoctl.io/defaults"},
		{Kagenti, Family.LabelProtocolPrefix, "protocol.kagenti.io/"},
		{Rossoctl, Family.LabelProtocolPrefix, "protocol.rossoctl.io/"},
		{Kagenti, Family.LabelSignatureVerified, "agent.kagenti.dev/signature-verified"},
		{Rossoctl, Family.LabelSignatureVerified, "agent.rossoctl.dev/signature-verified"},
		{Kagenti, Family.AnnotationConfigHash, "kagenti.io/config-hash"},
		{Rossoctl, Family.AnnotationConfigHash, "rossoctl.io/config-hash"},
		{Rossoctl, Family.AnnotationMTLSMode, "rossoctl.io/mtls-mode"},
		{Rossoctl, Family.AnnotationSkills, "rossoctl.io/skills"},
		{Rossoctl, Family.AnnotationAuthBridgeMode, "rossoctl.io/authbridge-mode"},
		{Kagenti, Family.AnnotationClientCredentialsSecret, "kagenti.io/keycloak-client-credentials-secret-name"},
		{Rossoctl, Family.AnnotationClientCredentialsSecret, "rossoctl.io/keycloak-client-credentials-secret-name"},
		{Rossoctl, Family.AnnotationOutboundPortsExclude, "rossoctl.io/outbound-ports-exclude"},
		{Rossoctl, Family.AnnotationInboundPortsExclude, "rossoctl.io/inbound-ports-exclude"},
		{Rossoctl, Family.AnnotationIstioMesh, "rossoctl.io/istio-mesh"},
		{Kagenti, Family.ConfigMapFeatureGates, "kagenti-feature-gates"},
		{Rossoctl, Family.ConfigMapFeatureGates, "rossoctl-feature-gates"},
		{Kagenti, Family.SecretClientCredentialsPrefix, "kagenti-keycloak-client-credentials"},
		{Rossoctl, Family.SecretClientCredentialsPrefix, "rossoctl-keycloak-client-credentials"},
		{Kagenti, Family.APIVersion, "agent.kagenti.dev/v1alpha1"},
		{Rossoctl, Family.APIVersion, "agent.rossoctl.dev/v1alpha1"},
	} {
		if got := tc.name(tc.f); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.f, got, tc.want)
		}
	}
	if Kagenti.APIVersion() != GroupVersion.String() {
		t.Errorf("Kagenti's group %s is not the Go types' %s", Kagenti.APIVersion(), GroupVersion)
	}
}

func TestFamilyOf(t *testing.T) {
	for _, tc := range []struct {
		group string
		want  Family
		ok    bool
	}{
		{"agent.kagenti.dev", Kagenti, true},
		{"agent.rossoctl.dev", Rossoctl, true},
		{"agent.kagenti.io", Family{}, false},
		{"", Family{}, false},
		{"apps", Family{}, false},
	} {
		got, ok := FamilyOf(tc.group)
		if got != tc.want || ok != tc.ok {
			t.Errorf("FamilyOf(%q) = %v, %v; want %v, %v", tc.group, got, ok, tc.want, tc.ok)
		}
	}
	for _, tc := range []struct {
		name string
		want Family
		ok   bool
	}{{"kagenti", Kagenti, true}, {"rossoctl", Rossoctl, true}, {"Rossoctl", Family{}, false}, {"", Family{}, false}} {
		got, ok := FamilyByName(tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("FamilyByName(%q) = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestFamiliesOfLabels(t *testing.T) {
	for _, tc := range []struct {
		labels map[string]string
		want   []Family
	}{
		{nil, nil},
		{map[string]string{"app": "x"}, nil},
		{map[string]string{"kagenti.io/type": "agent"}, []Family{Kagenti}},
		{map[string]string{"rossoctl.io/type": "tool"}, []Family{Rossoctl}},
		{map[string]string{"rossoctl.io/type": "agent", "kagenti.io/type": "agent"}, []Family{Kagenti, Rossoctl}},
		{map[string]string{"rossoctl.io/inject": "disabled"}, nil}, // only the type label says the family
	} {
		if got := FamiliesOfLabels(tc.labels); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("FamiliesOfLabels(%v) = %v, want %v", tc.labels, got, tc.want)
		}
	}
}

func TestControllerName(t *testing.T) {
	if got := Kagenti.ControllerName("agentstatus"); got != "agentstatus" {
		t.Errorf("Kagenti's instance is %q, want the name it had", got)
	}
	if got := Rossoctl.ControllerName("agentstatus"); got != "agentstatus-rossoctl" {
		t.Errorf("Rossoctl's instance is %q", got)
	}
}
