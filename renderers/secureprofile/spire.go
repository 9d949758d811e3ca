package secureprofile

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/kustomize/kyaml/openapi"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/manifest"
)

// spireGroup is the API group of spire-controller-manager. Every kind of it registers
// SPIRE entries or federation for the whole cluster, so it is trustsync's to write.
const spireGroup = "spire.spiffe.io"

// namespaceNameLabel is set by the API server on every Namespace to its name and cannot
// be changed, so a selector on it is the one label selector that pins namespaces.
const namespaceNameLabel = "kubernetes.io/metadata.name"

// userClusterSPIFFEID is the part of spire-controller-manager's ClusterSPIFFEID a repository
// may write. It is decoded strictly: a field trustsync does not know is one it cannot
// prove harmless.
type userClusterSPIFFEID struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              clusterSPIFFEIDSpec `json:"spec"`
	Status            map[string]any      `json:"status,omitempty"`
}

type clusterSPIFFEIDSpec struct {
	SPIFFEIDTemplate          string                `json:"spiffeIDTemplate"`
	NamespaceSelector         *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
	PodSelector               *metav1.LabelSelector `json:"podSelector,omitempty"`
	ClassName                 string                `json:"className,omitempty"`
	Hint                      string                `json:"hint,omitempty"`
	TTL                       string                `json:"ttl,omitempty"`
	JWTTTL                    string                `json:"jwtTtl,omitempty"`
	Admin                     bool                  `json:"admin,omitempty"`
	Downstream                bool                  `json:"downstream,omitempty"`
	AutoPopulateDNSNames      bool                  `json:"autoPopulateDNSNames,omitempty"`
	Fallback                  bool                  `json:"fallback,omitempty"`
	DNSNameTemplates          []string              `json:"dnsNameTemplates,omitempty"`
	WorkloadSelectorTemplates []string              `json:"workloadSelectorTemplates,omitempty"`
	FederatesWith             []string              `json:"federatesWith,omitempty"`
}

// checkSPIRE refuses the SPIRE objects of the repository: identities are trustsync's to
// generate. ClusterSPIFFEIDs pass only when the platform allows them and each one
// provably stays inside the revision's own namespaces.
func (e *expansion) checkSPIRE() {
	var owned map[string]bool
	for _, o := range e.objs {
		if o.Source == "" || o.GroupVersionKind().Group != spireGroup {
			continue
		}
		if o.GetKind() != "ClusterSPIFFEID" {
			e.fail(manifest.Errorf(o, "kind", "%s objects are refused in a repository: they register SPIRE entries or federation for the whole cluster, beyond any revision's namespaces", o.GetKind()))
			continue
		}
		if !e.p.Spire.AllowUserClusterSPIFFEIDs {
			e.fail(manifest.Errorf(o, "kind", "ClusterSPIFFEIDs are refused in a repository: one can give any pod of the cluster any SPIFFE ID, so identities are trustsync's to generate (one per AgentRuntime); the platform setting spire.allowUserClusterSPIFFEIDs lets a repository bring its own, confined to its namespaces"))
			continue
		}
		if owned == nil {
			owned = revisionNamespaces(e.objs, e.p.Namespace)
		}
		for _, err := range checkUserClusterSPIFFEID(o, e.p, owned) {
			e.fail(err)
		}
	}
}

// revisionNamespaces are the namespaces the revision writes objects into: its Namespace
// objects and the namespaces of its namespaced objects of known kinds (unset meaning
// default). Objects of unknown kinds may be cluster-scoped, where kustomize still sets
// a namespace, so they prove nothing. The platform namespace is never one: trustsync's
// own workloads run there.
func revisionNamespaces(objs []*manifest.Object, platformNamespace string) map[string]bool {
	out := map[string]bool{}
	for _, o := range objs {
		if o.Source == "" {
			continue
		}
		gvk := o.GroupVersionKind()
		if gvk.Group == "" && gvk.Kind == "Namespace" {
			out[o.GetName()] = true
			continue
		}
		_, agentGroup := agentv1.FamilyOf(gvk.Group)
		namespaced := agentGroup || gvk.Group == gitopsv1.GroupVersion.Group
		if !namespaced && clientgoscheme.Scheme.Recognizes(gvk) {
			scoped, found := openapi.IsNamespaceScoped(kyaml.TypeMeta{APIVersion: o.GetAPIVersion(), Kind: gvk.Kind})
			namespaced = found && scoped
		}
		if !namespaced {
			continue
		}
		ns := o.GetNamespace()
		if ns == "" {
			ns = DefaultNamespace
		}
		out[ns] = true
	}
	delete(out, platformNamespace)
	return out
}

// templateAction matches the template actions a confined spiffeIDTemplate may use.
var templateAction = regexp.MustCompile(`^\{\{\s*\.(TrustDomain|PodMeta\.Namespace|PodSpec\.ServiceAccountName)\s*\}\}$`)

// checkUserClusterSPIFFEID accepts a repository's ClusterSPIFFEID only if trustsync can
// prove from the object alone that every pod it selects is in a namespace of the
// revision and gets an ID of that namespace: spiffe://<trust domain>/ns/<ns>/sa/<the
// pod's ServiceAccount>.
func checkUserClusterSPIFFEID(o *manifest.Object, p *gitopsv1.Platform, owned map[string]bool) []error {
	var errs []error
	fail := func(fieldPath, format string, args ...any) {
		errs = append(errs, manifest.Errorf(o, fieldPath, format, args...))
	}

	var id userClusterSPIFFEID
	if err := manifest.Decode(o, &id); err != nil {
		return manifest.Errors(err)
	}
	if isGeneratedClusterScopedName(o.GetName()) {
		fail("metadata.name", "names with a dot are trustsync's (it names the ClusterSPIFFEID of each agent <namespace>.<workload>); choose a name without one")
	}
	s := id.Spec
	if s.Admin {
		fail("spec.admin", "admin entries may call the SPIRE server's administrative API; a repository cannot register them")
	}
	if s.Downstream {
		fail("spec.downstream", "a downstream entry gets a CA that signs any SPIFFE ID of the trust domain; a repository cannot register one")
	}
	if len(s.DNSNameTemplates) > 0 {
		fail("spec.dnsNameTemplates", "DNS names in an SVID can claim any Service of the cluster, which trustsync cannot prove confined; use autoPopulateDNSNames")
	}
	if len(s.FederatesWith) > 0 {
		fail("spec.federatesWith", "federation with other trust domains is the platform's decision, not a repository's")
	}
	if s.ClassName != p.Spire.ClassName {
		want := "unset"
		if p.Spire.ClassName != "" {
			want = fmt.Sprintf("%q", p.Spire.ClassName)
		}
		fail("spec.className", "%q is not the platform's SPIRE class (spire.className); it must be %s, so that the controller trustsync answers for is the one that reads it", s.ClassName, want)
	}

	confined, ok := selectedNamespaces(s.NamespaceSelector)
	switch {
	case s.NamespaceSelector == nil:
		fail("spec.namespaceSelector", "required: without it the ClusterSPIFFEID selects pods in every namespace; select this revision's namespaces by %s", namespaceNameLabel)
		ok = false
	case !ok:
		if verrs := validateSelector(s.NamespaceSelector, "spec.namespaceSelector"); len(verrs) > 0 {
			errs = append(errs, fieldErrors(o, verrs)...)
		} else {
			fail("spec.namespaceSelector", "must pin the namespaces by %s (matchLabels, or matchExpressions with operator In): other selectors can match namespaces outside this revision", namespaceNameLabel)
		}
	case len(confined) == 0:
		fail("spec.namespaceSelector", "matches no namespace")
		ok = false
	default:
		for _, ns := range confined {
			if !owned[ns] {
				fail("spec.namespaceSelector", "selects namespace %q, which is not a namespace of this revision (%s)", ns, namesOf(owned))
				ok = false
			}
		}
	}
	switch {
	case s.PodSelector == nil || (len(s.PodSelector.MatchLabels) == 0 && len(s.PodSelector.MatchExpressions) == 0):
		fail("spec.podSelector", "required and not empty: select the pods of the workloads that need the identity")
	default:
		errs = append(errs, fieldErrors(o, validateSelector(s.PodSelector, "spec.podSelector"))...)
	}

	const idField = "spec.spiffeIDTemplate"
	parts, isSPIFFE := strings.CutPrefix(s.SPIFFEIDTemplate, "spiffe://")
	segs := strings.Split(parts, "/")
	if !isSPIFFE || len(segs) != 5 || segs[1] != "ns" || segs[3] != "sa" {
		fail(idField, "%q must have the form spiffe://<trust domain>/ns/<namespace>/sa/{{ .PodSpec.ServiceAccountName }}", s.SPIFFEIDTemplate)
		return errs
	}
	td, ns, sa := segs[0], segs[2], segs[4]
	if action(td) != "TrustDomain" && td != p.TrustDomain {
		fail(idField, "trust domain %q is not the platform's (%s); use it or {{ .TrustDomain }}", td, p.TrustDomain)
	}
	switch {
	case action(ns) == "PodMeta.Namespace":
		// Confined by the namespace selector checked above.
	case strings.Contains(ns, "{{"):
		fail(idField, "the namespace must be {{ .PodMeta.Namespace }} or a namespace of this revision, not %q", ns)
	case len(validation.IsDNS1123Label(ns)) > 0:
		fail(idField, "namespace %q is not a namespace name", ns)
	case !owned[ns]:
		fail(idField, "names namespace %q, which is not a namespace of this revision (%s)", ns, namesOf(owned))
	case ok && slices.ContainsFunc(confined, func(n string) bool { return n != ns }):
		fail(idField, "names namespace %q, but the namespaceSelector also selects pods of %s; pods would get the identity of another namespace", ns, strings.Join(slices.DeleteFunc(slices.Clone(confined), func(n string) bool { return n == ns }), ", "))
	}
	if action(sa) != "PodSpec.ServiceAccountName" {
		fail(idField, "the ServiceAccount must be {{ .PodSpec.ServiceAccountName }}, not %q: any other gives pods the identity of an account they do not run as", sa)
	}
	return errs
}

// action names the field a template segment consists of, or "" when it is not exactly
// one accepted action.
func action(seg string) string {
	if m := templateAction.FindStringSubmatch(seg); m != nil {
		return m[1]
	}
	return ""
}

// selectedNamespaces are the namespaces a selector can match at most, by the immutable
// name label; ok is false when the selector does not pin them (or is invalid). Other
// terms only narrow the match, so they are allowed beside a pinning one.
func selectedNamespaces(sel *metav1.LabelSelector) (names []string, ok bool) {
	if sel == nil || len(validateSelector(sel, "")) > 0 {
		return nil, false
	}
	var set map[string]bool
	narrow := func(values []string) {
		next := map[string]bool{}
		for _, v := range values {
			if set == nil || set[v] {
				next[v] = true
			}
		}
		set = next
	}
	if v, found := sel.MatchLabels[namespaceNameLabel]; found {
		narrow([]string{v})
	}
	for _, r := range sel.MatchExpressions {
		if r.Key == namespaceNameLabel && r.Operator == metav1.LabelSelectorOpIn {
			narrow(r.Values)
		}
	}
	if set == nil {
		return nil, false
	}
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, true
}

func validateSelector(sel *metav1.LabelSelector, path string) field.ErrorList {
	var p *field.Path
	if path != "" {
		p = field.NewPath(path)
	}
	return metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, p)
}

func fieldErrors(o *manifest.Object, errs field.ErrorList) []error {
	var out []error
	for _, fe := range errs {
		out = append(out, manifest.Errorf(o, fe.Field, "%s", fe.ErrorBody()))
	}
	return out
}

func namesOf(set map[string]bool) string {
	if len(set) == 0 {
		return "it has none"
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return "it has " + strings.Join(names, ", ")
}
