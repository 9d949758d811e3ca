package validate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/security/agentid"
	"github.com/trustsync/trustsync/security/authbridge"
	"github.com/trustsync/trustsync/security/policy"
)

// Cluster is what the AgentRuntime validator reads; the mutator's cache answers it.
type Cluster interface {
	// AgentRuntimes lists the AgentRuntimes of the family in a namespace that target a
	// workload.
	AgentRuntimes(ctx context.Context, f agentv1.Family, namespace string, w agentid.Workload) ([]agentv1.AgentRuntime, error)
	NamespaceRuntime(ctx context.Context, namespace string) (map[string]any, error)
	// Platform is the platform with the family's live feature gates applied.
	Platform(ctx context.Context, f agentv1.Family) (*gitopsv1.Platform, error)
}

// AgentRuntimes validates AgentRuntime creations and updates.
type AgentRuntimes struct {
	Cluster Cluster
}

func (v *AgentRuntimes) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return admission.Allowed("")
	}
	var rt agentv1.AgentRuntime
	if err := json.Unmarshal(req.Object.Raw, &rt); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the AgentRuntime: %w", err))
	}
	if rt.Namespace == "" {
		rt.Namespace = req.Namespace
	}
	// The endpoint admits only the families' groups (webhook's endpoint check).
	f, ok := agentv1.FamilyOf(req.Kind.Group)
	if !ok {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("%s is not an API group of AgentRuntime", req.Kind.Group))
	}
	p, err := v.Cluster.Platform(ctx, f)
	if err != nil {
		return errored(err)
	}
	nsRuntime, err := v.Cluster.NamespaceRuntime(ctx, rt.Namespace)
	if err != nil {
		return errored(err)
	}
	// Without the pod's labels the opt-outs are unknown; leaving them out can only make
	// the check more lenient, never refuse a valid AgentRuntime.
	if _, err := authbridge.Resolve(f, &rt, nsRuntime, nil, nil, p); err != nil {
		var se *authbridge.SettingError
		if errors.As(err, &se) && se.InNamespaceConfig {
			return admission.Denied(fmt.Sprintf("AgentRuntime %s/%s: ConfigMap %s %s: %v", rt.Namespace, rt.Name, agentv1.ConfigMapAuthBridgeRuntimeConfig, se.Field, se.Err))
		}
		return admission.Denied(fmt.Sprintf("AgentRuntime %s/%s: %v", rt.Namespace, rt.Name, err))
	}
	// The plugin pipeline and the routes, as render refuses them: the schema cannot know
	// which plugins the data plane has or which regexes have a glob.
	_, err = authbridge.ResolvePreset(&rt.Spec)
	if err == nil && authbridge.HasOwnRoutes(&rt) {
		_, err = authbridge.AgentRoutes(rt.Spec.Auth.Outbound, nil)
	}
	if err != nil {
		return admission.Denied(fmt.Sprintf("AgentRuntime %s/%s: %s", rt.Namespace, rt.Name, joined(err)))
	}
	w := agentid.TargetOf(&rt)
	// Across the platform's families: a workload's pods are of one family.
	for _, of := range p.EnabledFamilies() {
		others, err := v.Cluster.AgentRuntimes(ctx, of, rt.Namespace, w)
		if err != nil {
			return errored(err)
		}
		for _, o := range others {
			if o.Name == rt.Name && of == f {
				continue
			}
			by := "AgentRuntime " + o.Name
			if of != f {
				by = of.Group + " " + by
			}
			return admission.Denied(fmt.Sprintf("AgentRuntime %s/%s: spec.targetRef: %s is already configured by %s; one AgentRuntime per workload", rt.Namespace, rt.Name, w, by))
		}
	}
	return admission.Allowed("")
}

// AuthorizationPolicies validates AuthorizationPolicy creations and updates.
type AuthorizationPolicies struct {
	// PlatformNamespace is the only namespace global policies are honoured in.
	PlatformNamespace string
	// Limits bound a policy's size and rules, as at render: the Platform's limits.
	Limits gitopsv1.Limits
	// TrustDomain of the platform, which a clientID in SPIFFE form must name.
	TrustDomain string
}

func (v *AuthorizationPolicies) Handle(_ context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return admission.Allowed("")
	}
	var ap agentv1.AuthorizationPolicy
	if err := json.Unmarshal(req.Object.Raw, &ap); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the AuthorizationPolicy: %w", err))
	}
	if ap.Namespace == "" {
		ap.Namespace = req.Namespace
	}
	// Alone, not with the rest of its tier: a revision replaces its policies one request
	// at a time, and checking against the old neighbours would refuse a move of a rule
	// from one policy to another. The renderer checks whole tiers before anything is
	// applied. The size bound is checked before the Rego is parsed, and with the rule
	// bound it bounds the compilation's time and memory.
	errs := policy.Check([]*agentv1.AuthorizationPolicy{&ap}, policy.CheckOptions{PlatformNamespace: v.PlatformNamespace, PartialGlobalTier: true, Limits: v.Limits, TrustDomain: v.TrustDomain})
	if len(errs) == 0 {
		return admission.Allowed("")
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Detail()
	}
	return admission.Denied(fmt.Sprintf("AuthorizationPolicy %s/%s: %s", ap.Namespace, ap.Name, strings.Join(msgs, "; ")))
}

func errored(err error) admission.Response {
	return admission.Errored(http.StatusInternalServerError, err)
}

// joined is the problems of an errors.Join on one line.
func joined(err error) string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts := make([]string, 0, len(j.Unwrap()))
		for _, e := range j.Unwrap() {
			parts = append(parts, e.Error())
		}
		return strings.Join(parts, "; ")
	}
	return err.Error()
}
