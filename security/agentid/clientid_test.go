package agentid

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

func TestAgentClientID(t *testing.T) {
	off := false
	platform := func(edit func(*gitopsv1.Platform)) *gitopsv1.Platform {
		p := &gitopsv1.Platform{TrustDomain: "example.org"}
		if edit != nil {
			edit(p)
		}
		p.Default()
		return p
	}
	rt := func(td string) *agentv1.AgentRuntime {
		r := &agentv1.AgentRuntime{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "weather"}}
		if td != "" {
			r.Spec.Identity = &agentv1.AgentIdentity{SPIFFE: &agentv1.SPIFFEIdentity{TrustDomain: td}}
		}
		return r
	}
	for _, tc := range []struct {
		name   string
		p      *gitopsv1.Platform
		rt     *agentv1.AgentRuntime
		sa     string
		labels map[string]string
		want   string
	}{
		{"SPIFFE ID from the ServiceAccount", platform(nil), rt(""), "weather-sa", nil, "spiffe://example.org/ns/team-a/sa/weather-sa"},
		{"default ServiceAccount is replaced by the workload's name", platform(nil), rt(""), "default", nil, "spiffe://example.org/ns/team-a/sa/weather"},
		{"no ServiceAccount", platform(nil), rt(""), "", nil, "spiffe://example.org/ns/team-a/sa/weather"},
		{"the AgentRuntime's trust domain wins", platform(nil), rt("other.org"), "weather", nil, "spiffe://other.org/ns/team-a/sa/weather"},
		{"platform without SPIRE", platform(func(p *gitopsv1.Platform) { p.Spire.Enabled = &off }), rt("other.org"), "weather", nil, "team-a/weather"},
		{"pods opt out of SPIRE", platform(nil), rt(""), "weather", map[string]string{agentv1.Kagenti.LabelSpiffeHelperInject(): "false"}, "team-a/weather"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AgentClientID(tc.p, agentv1.Kagenti, tc.rt, "weather", tc.sa, tc.labels)
			if err != nil || got != tc.want {
				t.Errorf("AgentClientID = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := AgentClientID(platform(nil), agentv1.Kagenti, rt("Not A Domain"), "weather", "sa", nil); err == nil {
		t.Error("want an error for an invalid trust domain")
	}
}

func TestRegistered(t *testing.T) {
	p := gitopsv1.DefaultPlatform()
	if !Registered(p, agentv1.AgentTypeAgent) || Registered(p, agentv1.AgentTypeTool) {
		t.Error("agents, not tools, by default")
	}
	p.FeatureGates.InjectTools = true
	if !Registered(p, agentv1.AgentTypeTool) {
		t.Error("tools with injectTools")
	}
	off := false
	p.FeatureGates.ClientRegistration = &off
	if Registered(p, agentv1.AgentTypeAgent) {
		t.Error("nothing with clientRegistration off")
	}
}
