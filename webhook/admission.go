package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
)

// AdmissionLimits bound the admission handlers. Zero fields take
// DefaultAdmissionLimits' values.
type AdmissionLimits struct {
	// Timeout answers a request that is not decided in time with a refusal, before the
	// API server's own timeout (timeoutSeconds: 10 in config/webhook) turns it into a
	// bare error. The work goes on and keeps its slot until it ends.
	Timeout time.Duration
	// Pods, AgentRuntimes and AuthorizationPolicies are the requests each endpoint
	// handles at once; a request beyond is refused at once (429), never queued, so a
	// flood of one kind cannot hold back the others or exhaust memory.
	Pods, AgentRuntimes, AuthorizationPolicies int
}

// DefaultAdmissionLimits fit the webhook Deployment's 256 MiB limit: benchmark R3
// measures an AuthorizationPolicy at the Platform's bounds, and four at once stay within
// a fraction of it; pod injection takes microseconds and little memory.
func DefaultAdmissionLimits() AdmissionLimits {
	return AdmissionLimits{Timeout: 8 * time.Second, Pods: 64, AgentRuntimes: 16, AuthorizationPolicies: 4}
}

func (l AdmissionLimits) withDefaults() AdmissionLimits {
	d := DefaultAdmissionLimits()
	if l.Timeout <= 0 {
		l.Timeout = d.Timeout
	}
	if l.Pods <= 0 {
		l.Pods = d.Pods
	}
	if l.AgentRuntimes <= 0 {
		l.AgentRuntimes = d.AgentRuntimes
	}
	if l.AuthorizationPolicies <= 0 {
		l.AuthorizationPolicies = d.AuthorizationPolicies
	}
	return l
}

// endpoint is what one admission path accepts: the configuration in config/webhook
// sends nothing else, so anything else is a malformed or forged request.
type endpoint struct {
	name       string
	kind       metav1.GroupVersionKind
	resource   metav1.GroupVersionResource
	operations []admissionv1.Operation
	// families says the kind is served in every family's group, kind and resource
	// naming Kagenti's: one path for both, as the kinds are the same.
	families bool
}

var (
	podInjection = endpoint{name: "pod injection",
		kind:       metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		resource:   metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		operations: []admissionv1.Operation{admissionv1.Create}}
	agentRuntimeValidation = endpoint{name: "AgentRuntime validation",
		kind:       metav1.GroupVersionKind{Group: agentv1.GroupVersion.Group, Version: agentv1.GroupVersion.Version, Kind: "AgentRuntime"},
		resource:   metav1.GroupVersionResource{Group: agentv1.GroupVersion.Group, Version: agentv1.GroupVersion.Version, Resource: "agentruntimes"},
		operations: []admissionv1.Operation{admissionv1.Create, admissionv1.Update}, families: true}
	policyValidation = endpoint{name: "AuthorizationPolicy validation",
		kind:       metav1.GroupVersionKind{Group: agentv1.GroupVersion.Group, Version: agentv1.GroupVersion.Version, Kind: "AuthorizationPolicy"},
		resource:   metav1.GroupVersionResource{Group: agentv1.GroupVersion.Group, Version: agentv1.GroupVersion.Version, Resource: "authorizationpolicies"},
		operations: []admissionv1.Operation{admissionv1.Create, admissionv1.Update}, families: true}
)

// check says what is wrong with a request this endpoint does not expect.
func (e endpoint) check(req admission.Request) error {
	if _, ok := agentv1.FamilyOf(req.Kind.Group); ok && e.families && req.Kind.Group == req.Resource.Group {
		e.kind.Group, e.resource.Group = req.Kind.Group, req.Kind.Group
	}
	switch {
	case req.UID == "":
		return errors.New("the AdmissionReview has no request, or a request without uid")
	case req.Kind != e.kind:
		return fmt.Errorf("kind %s, want %s", gvk(req.Kind), gvk(e.kind))
	case req.Resource != e.resource || req.SubResource != "":
		got := gvr(req.Resource)
		if req.SubResource != "" {
			got += "/" + req.SubResource
		}
		return fmt.Errorf("resource %s, want %s", got, gvr(e.resource))
	case !slices.Contains(e.operations, req.Operation):
		ops := make([]string, len(e.operations))
		for i, op := range e.operations {
			ops[i] = string(op)
		}
		return fmt.Errorf("operation %q, want %s", req.Operation, strings.Join(ops, " or "))
	case len(req.Object.Raw) == 0:
		return errors.New("the request has no object")
	}
	return nil
}

func gvk(k metav1.GroupVersionKind) string {
	if k.Group == "" {
		return k.Version + " " + k.Kind
	}
	return k.Group + "/" + k.Version + " " + k.Kind
}

func gvr(r metav1.GroupVersionResource) string {
	if r.Group == "" {
		return r.Version + " " + r.Resource
	}
	return r.Group + "/" + r.Version + " " + r.Resource
}

// bounded refuses what its endpoint does not expect, and runs the rest with at most
// cap(slots) at once, each answered within timeout.
type bounded struct {
	endpoint endpoint
	next     admission.Handler
	slots    chan struct{}
	timeout  time.Duration
}

func bound(e endpoint, next admission.Handler, concurrent int, timeout time.Duration) *bounded {
	admissionMetrics().inFlight.WithLabelValues(e.name)
	return &bounded{endpoint: e, next: next, slots: make(chan struct{}, concurrent), timeout: timeout}
}

func (b *bounded) Handle(ctx context.Context, req admission.Request) admission.Response {
	m := admissionMetrics()
	if err := b.endpoint.check(req); err != nil {
		m.refusals.WithLabelValues(b.endpoint.name, "malformed").Inc()
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("malformed admission request for %s: %w", b.endpoint.name, err))
	}
	select {
	case b.slots <- struct{}{}:
	default:
		m.refusals.WithLabelValues(b.endpoint.name, "busy").Inc()
		return admission.Errored(http.StatusTooManyRequests, fmt.Errorf("%s: %d requests in flight already; try again", b.endpoint.name, cap(b.slots)))
	}
	m.inFlight.WithLabelValues(b.endpoint.name).Inc()
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	done := make(chan admission.Response, 1)
	go func() {
		resp := b.run(ctx, req)
		// The slot is the work's, not the answer's: work that outlives its deadline still
		// counts, so slow requests cannot pile up beyond the bound. It is freed before the
		// answer is sent, so a caller that has its answer finds the slot free.
		m.inFlight.WithLabelValues(b.endpoint.name).Dec()
		<-b.slots
		done <- resp
	}()
	select {
	case resp := <-done:
		return resp
	case <-ctx.Done():
		m.refusals.WithLabelValues(b.endpoint.name, "timeout").Inc()
		return admission.Errored(http.StatusGatewayTimeout, fmt.Errorf("%s: not decided within %s", b.endpoint.name, b.timeout))
	}
}

// run is the work, with a panic answered as a refusal.
func (b *bounded) run(ctx context.Context, req admission.Request) (resp admission.Response) {
	defer func() {
		if r := recover(); r != nil {
			resp = admission.Errored(http.StatusInternalServerError, fmt.Errorf("%s: panic: %v [recovered]", b.endpoint.name, r))
		}
	}()
	return b.next.Handle(ctx, req)
}

type webhookMetrics struct {
	inFlight *prometheus.GaugeVec
	refusals *prometheus.CounterVec
}

// admissionMetrics live in controller-runtime's registry, once per process (tests run
// more than one webhook server in a process).
var admissionMetrics = sync.OnceValue(func() *webhookMetrics {
	m := &webhookMetrics{
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "trustsync_webhook_requests_in_flight", Help: "Admission requests being handled, by webhook.",
		}, []string{"webhook"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trustsync_webhook_refusals_total", Help: "Admission requests refused before their handler decided, by webhook and reason (malformed, busy, timeout).",
		}, []string{"webhook", "reason"}),
	}
	ctrlmetrics.Registry.MustRegister(m.inFlight, m.refusals)
	return m
})
