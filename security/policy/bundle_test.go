package policy

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/bundle"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

const platformNS = "trustsync-system"

func testSet(extra ...*agentv1.AuthorizationPolicy) *Set {
	return NewSet(platformNS, append([]*agentv1.AuthorizationPolicy{DefaultGlobalPolicy(platformNS, false)}, extra...))
}

func TestSetTiers(t *testing.T) {
	s := NewSet(platformNS, []*agentv1.AuthorizationPolicy{
		DefaultGlobalPolicy(platformNS, false),
		DefaultGlobalPolicy("team-a", false), // global outside the platform namespace: ignored
		ap("team-a", "ns-b", agentv1.ScopeNamespace, "inbound/request.rego", nsAllow),
		ap("team-a", "ns-a", agentv1.ScopeNamespace, "lib/x.rego", "package authbridge.ns.lib\nx := 1\n"),
		ap("team-a", "weather", agentv1.ScopeClient, "inbound/request.rego", "package authbridge.client.inbound.request\nallow := true\n"),
		ap("team-b", "weather", agentv1.ScopeClient, "inbound/request.rego", "package authbridge.client.inbound.request\nallow := true\n"),
	})
	tr := s.Tiers("team-a", "weather")
	if len(tr.Global) != 1 || tr.Global[0].Namespace != platformNS {
		t.Errorf("global tier = %v", tr.Global)
	}
	if len(tr.Namespace) != 2 || tr.Namespace[0].Name != "ns-a" || tr.Namespace[1].Name != "ns-b" {
		t.Errorf("namespace tier not both team-a policies in name order: %v", tr.Namespace)
	}
	if tr.Client == nil || tr.Client.Namespace != "team-a" {
		t.Errorf("client tier = %v", tr.Client)
	}
	if other := s.Tiers("team-a", "planner"); other.Client != nil {
		t.Errorf("planner got a client policy: %v", other.Client)
	}
	if len(s.Ignored) != 1 || s.Ignored[0].Namespace != "team-a" {
		t.Errorf("ignored = %v", s.Ignored)
	}
}

func TestBundleIsDeterministicAndReadByOPA(t *testing.T) {
	client := ap("team-a", "weather", agentv1.ScopeClient,
		"inbound/request.rego", "package authbridge.client.inbound.request\nallow := true\n",
		"inbound/request_test.rego", "package authbridge.client.inbound.request_test\ntest_x if true\n")
	b1, err := Build(testSet(client).Tiers("team-a", "weather"))
	if err != nil {
		t.Fatal(err)
	}
	b2, err := Build(testSet(client.DeepCopy()).Tiers("team-a", "weather"))
	if err != nil {
		t.Fatal(err)
	}
	a1, err := b1.Archive()
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := b2.Archive()
	if !bytes.Equal(a1, a2) {
		t.Fatal("two builds of the same policies differ byte for byte")
	}
	if !strings.HasPrefix(b1.ETag(), "sha256:") || len(b1.Revision) != 64 {
		t.Fatalf("etag %q revision %q", b1.ETag(), b1.Revision)
	}

	// OPA's own bundle reader accepts it: manifest, revision, roots, modules.
	read, err := bundle.NewReader(bytes.NewReader(a1)).Read()
	if err != nil {
		t.Fatalf("OPA cannot read the bundle: %v", err)
	}
	if read.Manifest.Revision != b1.Revision {
		t.Errorf("manifest revision %q, want %q", read.Manifest.Revision, b1.Revision)
	}
	if roots := *read.Manifest.Roots; len(roots) != 1 || roots[0] != Root {
		t.Errorf("roots = %v", roots)
	}
	var paths []string
	for _, m := range read.Modules {
		paths = append(paths, m.Path)
	}
	want := []string{
		"/authbridge/client/inbound/request.rego",
		"/authbridge/global/default/inbound/request.rego",
		"/authbridge/global/default/inbound/response.rego",
		"/authbridge/global/default/outbound/request.rego",
		"/authbridge/global/default/outbound/response.rego",
	}
	if strings.Join(paths, ",") != strings.Join(want, ",") {
		t.Errorf("modules %v, want %v (tests never in a bundle)", paths, want)
	}

	// A change in a client policy changes the revision.
	changed := client.DeepCopy()
	changed.Spec.Policies[0].Content = "package authbridge.client.inbound.request\nallow := false\n"
	b3, err := Build(testSet(changed).Tiers("team-a", "weather"))
	if err != nil {
		t.Fatal(err)
	}
	if b3.Revision == b1.Revision {
		t.Error("revision did not change with the policy")
	}
}

func TestBundleFailsClosedWithoutGlobalPolicy(t *testing.T) {
	s := NewSet(platformNS, []*agentv1.AuthorizationPolicy{
		ap("team-a", "weather", agentv1.ScopeClient, "inbound/request.rego", "package authbridge.client.inbound.request\nallow := true\n"),
	})
	b, err := Build(s.Tiers("team-a", "weather"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.FailClosed) != len(Points) {
		t.Fatalf("fail-closed points %v, want all four", b.FailClosed)
	}
	d, err := NewDecider(context.Background(), b, gitopsv1.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, pt := range Points {
		got := d.Decide(context.Background(), pt, map[string]any{})
		if got.Allow || !strings.Contains(got.Reason, "no global policy decides") {
			t.Errorf("%s: %+v, want a fail-closed deny", pt, got)
		}
	}
}

func TestBuildErrorNamesPolicyAndLine(t *testing.T) {
	// Two namespace policies that compile alone but not together in one bundle.
	s := testSet(
		ap("team-a", "one", agentv1.ScopeNamespace, "inbound/request.rego", "package authbridge.ns.inbound.request\ndefault allow := false\n"),
		ap("team-a", "two", agentv1.ScopeNamespace, "extra.rego", "package authbridge.ns.inbound.request\n\ndefault allow := true\n"),
	)
	_, err := Build(s.Tiers("team-a", "x"))
	if err == nil {
		t.Fatal("want a compile error")
	}
	msg := err.Error()
	if !strings.Contains(msg, "AuthorizationPolicy team-a/") || !strings.Contains(msg, "rego_type_error") {
		t.Errorf("error %q does not name the policy and the OPA error", msg)
	}
}

// TestBundleConfinesTiers: what reaches the cluster without the webhook's checks still
// cannot escape its tier in a bundle — a path that OPA would clean onto another tier's
// file, or a package of another tier.
func TestBundleConfinesTiers(t *testing.T) {
	traversal := ap("team-a", "sneaky", agentv1.ScopeNamespace, "x/../../../global/default/inbound/request.rego", "package authbridge.ns.zzz\nx := 1\n")
	if errs := Check([]*agentv1.AuthorizationPolicy{traversal}, CheckOptions{PlatformNamespace: platformNS}); len(errs) != 1 || errs[0].Field != "spec.policies[0].path" {
		t.Errorf("Check of a traversing path: %v", errs)
	}
	if _, err := Build(testSet(traversal).Tiers("team-a", "x")); err == nil || !strings.Contains(err.Error(), "leaves the policy's directory") {
		t.Errorf("Build with a traversing path: %v", err)
	}
	takeover := ap("team-a", "takeover", agentv1.ScopeNamespace, "inbound/x.rego", "package authbridge.inbound.request\nallow := true\n")
	if _, err := Build(NewSet(platformNS, []*agentv1.AuthorizationPolicy{takeover}).Tiers("team-a", "x")); err == nil || !strings.Contains(err.Error(), "outside the namespace tier") {
		t.Errorf("Build with a namespace policy declaring the global decision: %v", err)
	}
	for _, p := range []string{"a/./b.rego", "a//b.rego", "../a.rego", "a/../b.rego"} {
		if validPath(p) {
			t.Errorf("validPath(%q) = true", p)
		}
	}
}
