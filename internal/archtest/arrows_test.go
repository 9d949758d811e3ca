package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/trustsync/trustsync"

// rule forbids packages matching pkgs to depend, directly or not, on any of forbid.
// Patterns are module-relative ("engine/...", "manifest") unless their first
// element has a dot (a third-party path); "x/..." matches x and everything below it.
type rule struct {
	pkgs   string
	except []string // packages of pkgs the rule does not hold for
	forbid []string
	allow  []string // packages of forbid that are allowed after all
	why    string
}

// Heavy machinery a pure package must not link: it talks to clusters or runs controllers.
var controllerMachinery = []string{
	"sigs.k8s.io/controller-runtime/pkg/manager/...", "sigs.k8s.io/controller-runtime/pkg/builder/...",
	"sigs.k8s.io/controller-runtime/pkg/reconcile/...", "sigs.k8s.io/controller-runtime/pkg/webhook/...",
	"k8s.io/client-go/rest/...", "k8s.io/client-go/dynamic/...", "k8s.io/client-go/kubernetes", "k8s.io/client-go/kubernetes/typed/...",
	"github.com/Nerzal/gocloak/...",
}

// controllerProcess is what only a process's assembly links: the manager and builder
// that run controllers, and the Keycloak client.
var controllerProcess = []string{
	"sigs.k8s.io/controller-runtime/pkg/manager/...", "sigs.k8s.io/controller-runtime/pkg/builder/...",
	"sigs.k8s.io/controller-runtime/pkg/reconcile/...", "github.com/Nerzal/gocloak/...",
}

// testSupport are packages for tests only.
var testSupport = []string{
	"internal/gittest/...", "internal/giteatest/...", "internal/keycloaktest/...", "internal/spiretest/...",
	"internal/x509test/...", "internal/testenv/...", "internal/stack/...", "internal/hostile/...", "internal/archtest/...",
	"internal/sidecartest/...", "internal/headless/...", "internal/promtest/...",
}

var rules = []rule{
	// The tiers, never upwards.
	{pkgs: "api/...", forbid: []string{"..."}, allow: []string{"api/...", "internal/redact"}, why: "api holds types only (and refuses credentials in URLs with the stdlib-only redact)"},
	{pkgs: "api/...", forbid: []string{"sigs.k8s.io/controller-runtime/...", "sigs.k8s.io/kustomize/...", "github.com/open-policy-agent/..."}, why: "api links no controller-runtime, kustomize or OPA: the sidecar links the API types too"},
	{pkgs: "manifest/...", forbid: []string{"..."}, why: "the object model is the rules layer"},
	{pkgs: "manifest/...", forbid: controllerMachinery, why: "the object model links no client"},
	{pkgs: "internal/confine", forbid: []string{"..."}, why: "the symlink walker is a leaf: renderers and sources both use it"},
	{pkgs: "security/identity", forbid: []string{"..."}, allow: []string{"api/..."}, why: "identity rules are the rules layer"},
	{pkgs: "security/agentid", forbid: []string{"..."}, allow: []string{"api/...", "security/identity", "internal/redact"}, why: "agent rules are the rules layer"},
	{pkgs: "security/identity", forbid: controllerMachinery, why: "identity rules link no client"},
	{pkgs: "security/authbridge/sidecarconfig", forbid: []string{"..."}, allow: []string{"api/...", "security/identity", "security/agentid"}, why: "the sidecar's configuration is read alike by the renderer and the data plane: rules packages only"},
	{pkgs: "security/authbridge/sidecarconfig", forbid: append([]string{"sigs.k8s.io/controller-runtime/...", "k8s.io/client-go/..."}, controllerMachinery...), why: "the sidecar's configuration links no client"},
	{pkgs: "security/agentid", forbid: append([]string{"sigs.k8s.io/controller-runtime/pkg/client/..."}, controllerMachinery...), why: "agent rules link no client"},
	{pkgs: "api/...", forbid: controllerProcess, why: "api links no controller machinery"},
	{pkgs: "sources/...", forbid: []string{"engine/...", "webhook/...", "fleet/...", "preview/...", "dashboard/...", "dataplane/...", "cmd/...", "internal/app/..."}, why: "sources sit below the processes"},
	{pkgs: "renderers/...", forbid: []string{"engine/...", "webhook/...", "fleet/...", "preview/...", "dashboard/...", "dataplane/...", "cmd/...", "internal/app/..."}, why: "renderers sit below the processes"},
	{pkgs: "security/...", forbid: []string{"engine/...", "webhook/...", "fleet/...", "preview/...", "dashboard/...", "dataplane/...", "cmd/...", "internal/app/..."}, why: "security sits below the processes"},
	{pkgs: "...", except: []string{"cmd/..."}, forbid: []string{"cmd/..."}, why: "nothing imports the binary"},
	{pkgs: "...", except: []string{"cmd/...", "internal/app/...", "bench/..."}, forbid: []string{"internal/app/..."}, why: "only the binary (and the benchmarks that measure its processes) assembles processes"},
	{pkgs: "...", except: append([]string{"bench/...", "hack/..."}, testSupport...), forbid: testSupport, why: "test support is for tests and harnesses only"},

	// Sideways, within the middle tier.
	{pkgs: "sources/...", forbid: []string{"renderers/...", "security/..."}, why: "sources own nothing about what the files mean"},
	{pkgs: "renderers/...", forbid: []string{"sources/..."}, why: "a render reads the tree it is given"},
	{pkgs: "renderers/kustomize", forbid: []string{"..."}, allow: []string{"manifest", "internal/confine", "internal/generations"}, why: "the kustomize build is self-contained"},
	{pkgs: "security/...", forbid: []string{"renderers/...", "sources/..."}, why: "security rules do not render or fetch"},

	// Sideways, within the processes' tier.
	{pkgs: "engine/...", forbid: []string{"webhook/...", "fleet/...", "dashboard/...", "dataplane/...", "sources/status/...", "sources/receiver/..."}, why: "the engine knows no Git host's API"},
	{pkgs: "engine/apply/...", forbid: []string{"renderers/..."}, why: "apply works on objects, not renders"},
	{pkgs: "engine/health/...", forbid: []string{"renderers/..."}, why: "health works on objects, not renders"},
	{pkgs: "webhook/...", forbid: []string{"engine/...", "fleet/...", "sources/...", "preview/...", "dashboard/..."}, why: "the webhook runs alone"},
	{pkgs: "preview/...", forbid: []string{"engine/...", "webhook/..."}, why: "previews post nothing and apply nothing"},
	{pkgs: "dashboard/...", forbid: []string{"engine/...", "webhook/...", "sources/...", "dataplane/...", "fleet/..."}, why: "the dashboard reads API objects, not the code that writes them"},
	{pkgs: "dashboard/views", forbid: append([]string{"sigs.k8s.io/controller-runtime/pkg/client/...", "sigs.k8s.io/controller-runtime/pkg/cache/..."}, controllerMachinery...), why: "views are pure functions of the objects they are given"},
	{pkgs: "dashboard/live", forbid: []string{"..."}, why: "the stream hub knows nothing but its signal and its renderer"},
	{pkgs: "dashboard/signin", forbid: append([]string{"...", "sigs.k8s.io/controller-runtime/..."}, controllerMachinery...), why: "sign-in knows who the user is and how to act as them, not what the dashboard shows or does"},
	{pkgs: "fleet/...", forbid: []string{"webhook/..."}, why: "fleet builds on the engine"},
	{pkgs: "dataplane/...", forbid: []string{"renderers/...", "sources/...", "engine/...", "webhook/...", "sigs.k8s.io/controller-runtime/...", "github.com/go-git/...", "sigs.k8s.io/kustomize/..."}, why: "the sidecar links no controller, renderer or Git code"},
	{pkgs: "dataplane/bundles", forbid: []string{"..."}, allow: []string{"api/...", "internal/redact", "internal/generations", "security/identity", "security/policy", "security/authbridge/sidecarconfig"}, why: "the bundle client fetches and decides: policy, identities and the sidecar's config only"},
	{pkgs: "dataplane/files", forbid: []string{"..."}, why: "bounded file reading links no trustsync package"},
	{pkgs: "dataplane/pipeline", forbid: []string{"..."}, why: "the request model and plugin runner are the data plane's rules layer: they link no trustsync package"},
	{pkgs: "dataplane/plugins/...", forbid: []string{"dataplane/proxy/...", "dataplane/mtls/...", "dataplane/bundles/...", "dataplane/origdst/..."}, why: "plugins decide requests; listeners, transport and bundle fetching are the assembly's to wire"},
	{pkgs: "dataplane/plugins/parsers", forbid: []string{"..."}, allow: []string{"dataplane/pipeline", "security/authbridge/sidecarconfig", "security/identity", "api/...", "security/agentid"}, why: "parsers read bodies into the request model, nothing else"},
	{pkgs: "dataplane/proxy/...", forbid: []string{"dataplane/plugins/...", "dataplane/bundles/...", "security/policy/..."}, why: "listeners run whatever pipeline they are given"},
	{pkgs: "dataplane/mtls/...", forbid: []string{"dataplane/plugins/...", "dataplane/proxy/...", "dataplane/bundles/...", "security/policy/..."}, why: "mutual TLS knows SVIDs, not requests"},

	// Pure packages link no controller machinery.
	{pkgs: "renderers/...", forbid: controllerMachinery, why: "render is a pure function of the tree and the platform"},
	{pkgs: "webhook/inject/...", forbid: controllerProcess, why: "the mutator runs no controller; its admission handler and cache reader need no manager"},
}

// graph maps each package to its dependencies, transitively (go list's Deps).
type graph map[string][]string

// match reports whether the import path p matches pattern.
func match(pattern, p string) bool {
	full := pattern
	if first, _, _ := strings.Cut(pattern, "/"); !strings.Contains(first, ".") && pattern != "..." {
		full = module + "/" + pattern
	}
	switch {
	case pattern == "...":
		return strings.HasPrefix(p, module+"/") || p == module
	case strings.HasSuffix(full, "/..."):
		base := strings.TrimSuffix(full, "/...")
		return p == base || strings.HasPrefix(p, base+"/")
	default:
		return p == full
	}
}

func matchAny(patterns []string, p string) bool {
	return slices.ContainsFunc(patterns, func(pat string) bool { return match(pat, p) })
}

// violations lists every dependency the rules forbid, one line each.
func violations(g graph, rs []rule) []string {
	var out []string
	pkgs := make([]string, 0, len(g))
	for p := range g {
		pkgs = append(pkgs, p)
	}
	slices.Sort(pkgs)
	for _, r := range rs {
		for _, p := range pkgs {
			if !match(r.pkgs, p) || matchAny(r.except, p) {
				continue
			}
			var bad []string
			for _, d := range g[p] {
				if d == p || !matchAny(r.forbid, d) || matchAny(r.allow, d) {
					continue
				}
				// "..." in forbid means other trustsync packages only.
				if slices.Contains(r.forbid, "...") && !strings.HasPrefix(d, module) {
					continue
				}
				bad = append(bad, strings.TrimPrefix(d, module+"/"))
			}
			if len(bad) == 0 {
				continue
			}
			more := ""
			if len(bad) > 3 {
				more = fmt.Sprintf(" and %d more", len(bad)-3)
				bad = bad[:3]
			}
			out = append(out, fmt.Sprintf("%s depends on %s%s (%s)", strings.TrimPrefix(p, module+"/"), strings.Join(bad, ", "), more, r.why))
		}
	}
	return out
}

// load runs go list on the module: every package with its non-test dependencies.
func load(t *testing.T) graph {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps=false", "-json=ImportPath,Deps", module+"/...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	g := graph{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string
			Deps       []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		g[p.ImportPath] = p.Deps
	}
	if len(g) < 20 {
		t.Fatalf("go list found only %d packages", len(g))
	}
	return g
}

// TestArrows holds the module to the rules.
func TestArrows(t *testing.T) {
	for _, v := range violations(load(t), rules) {
		t.Error(v)
	}
}

// TestArrowsCatchWhatTheyForbid: the checker finds the edges it is meant to find, in a
// graph shaped like the repository's own, including the one that made the renderer link
// the controller stack through security/keycloak.
func TestArrowsCatchWhatTheyForbid(t *testing.T) {
	m := func(p string) string { return module + "/" + p }
	g := graph{
		m("renderers/secureprofile"): {m("security/keycloak"), "sigs.k8s.io/controller-runtime/pkg/manager", "github.com/Nerzal/gocloak/v13", m("api/agent/v1alpha1")},
		m("security/keycloak"):       {"sigs.k8s.io/controller-runtime/pkg/manager", "github.com/Nerzal/gocloak/v13"},
		m("security/policy"):         {m("engine/apply")},
		m("engine/syncs"):            {m("sources/status")},
		m("api/gitops/v1alpha1"):     {m("security/identity"), "k8s.io/apimachinery/pkg/util/validation"},
		m("engine/apply"):            {m("manifest"), m("internal/testenv")},
		m("renderers/kustomize"):     {m("manifest"), "sigs.k8s.io/kustomize/api/krusty"},
	}
	got := strings.Join(violations(g, rules), "\n")
	for _, want := range []string{
		"renderers/secureprofile depends on sigs.k8s.io/controller-runtime/pkg/manager, github.com/Nerzal/gocloak/v13 (render is a pure function",
		"security/policy depends on engine/apply (security sits below the processes)",
		"engine/syncs depends on sources/status (the engine knows no Git host's API)",
		"api/gitops/v1alpha1 depends on security/identity (api holds types only",
		"engine/apply depends on internal/testenv (test support is for tests and harnesses only)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing violation %q in:\n%s", want, got)
		}
	}
	for _, clean := range []string{"renderers/kustomize depends", "k8s.io/apimachinery"} {
		if strings.Contains(got, clean) {
			t.Errorf("%q reported, but is allowed:\n%s", clean, got)
		}
	}
}
