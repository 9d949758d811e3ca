package agentid

import (
	"testing"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

func TestTargetOf(t *testing.T) {
	tests := []struct {
		apiVersion, kind, name string
		want                   Workload
		key                    string
	}{
		{"apps/v1", "Deployment", "web", Workload{Group: "apps", Kind: "Deployment", Name: "web"}, "apps/Deployment/web"},
		{"v1", "ReplicationController", "rc", Workload{Kind: "ReplicationController", Name: "rc"}, "/ReplicationController/rc"},
		{"agents.x-k8s.io/v1alpha1", "Sandbox", "box", Workload{Group: "agents.x-k8s.io", Kind: "Sandbox", Name: "box"}, "agents.x-k8s.io/Sandbox/box"},
	}
	for _, tt := range tests {
		rt := &agentv1.AgentRuntime{Spec: agentv1.AgentRuntimeSpec{TargetRef: agentv1.TargetRef{APIVersion: tt.apiVersion, Kind: tt.kind, Name: tt.name}}}
		if got := TargetOf(rt); got != tt.want || got.Key() != tt.key {
			t.Errorf("%s %s: got %+v key %q, want %+v key %q", tt.apiVersion, tt.kind, got, got.Key(), tt.want, tt.key)
		}
	}
}

func TestServiceAccountOf(t *testing.T) {
	for sa, want := range map[string]string{"": "web", "default": "web", "runner": "runner"} {
		if got := ServiceAccountOf("web", sa); got != want {
			t.Errorf("ServiceAccountOf(web, %q) = %q, want %q", sa, got, want)
		}
	}
}

func TestRegisteredByType(t *testing.T) {
	off, tools := false, gitopsv1.DefaultPlatform()
	tools.FeatureGates.InjectTools = true
	noRegistration := gitopsv1.DefaultPlatform()
	noRegistration.FeatureGates.ClientRegistration = &off
	tests := []struct {
		name string
		p    *gitopsv1.Platform
		typ  agentv1.AgentType
		want bool
	}{
		{"agent", gitopsv1.DefaultPlatform(), agentv1.AgentTypeAgent, true},
		{"tool without injectTools", gitopsv1.DefaultPlatform(), agentv1.AgentTypeTool, false},
		{"tool with injectTools", tools, agentv1.AgentTypeTool, true},
		{"registration off", noRegistration, agentv1.AgentTypeAgent, false},
	}
	for _, tt := range tests {
		if got := Registered(tt.p, tt.typ); got != tt.want {
			t.Errorf("%s: Registered = %v, want %v", tt.name, got, tt.want)
		}
	}
}
