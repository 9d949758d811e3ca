package identity

import (
	"fmt"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Workload is the Kubernetes identity behind a SPIFFE ID.
type Workload struct {
	TrustDomain    string
	Namespace      string
	ServiceAccount string
}

// SPIFFEID returns the SPIFFE ID of pods running as a ServiceAccount.
func SPIFFEID(trustDomain, namespace, serviceAccount string) (spiffeid.ID, error) {
	td, err := spiffeid.TrustDomainFromString(trustDomain)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("trust domain %q: %w", trustDomain, err)
	}
	id, err := spiffeid.FromSegments(td, "ns", namespace, "sa", serviceAccount)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("SPIFFE ID for %s/%s: %w", namespace, serviceAccount, err)
	}
	return id, nil
}

// Parse reads spiffe://<td>/ns/<ns>/sa/<sa>; the scheme may be left out, as the bundle
// API's query parameter does.
func Parse(s string) (Workload, error) {
	if !strings.HasPrefix(s, "spiffe://") {
		s = "spiffe://" + s
	}
	id, err := spiffeid.FromString(s)
	if err != nil {
		return Workload{}, fmt.Errorf("%q is not a SPIFFE ID: %w", s, err)
	}
	seg := strings.Split(strings.TrimPrefix(id.Path(), "/"), "/")
	if len(seg) != 4 || seg[0] != "ns" || seg[2] != "sa" {
		return Workload{}, fmt.Errorf("%q is not a workload ID of the form spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>", s)
	}
	return Workload{TrustDomain: id.TrustDomain().Name(), Namespace: seg[1], ServiceAccount: seg[3]}, nil
}

// String returns the SPIFFE ID of the workload.
func (w Workload) String() string {
	return "spiffe://" + w.TrustDomain + "/ns/" + w.Namespace + "/sa/" + w.ServiceAccount
}
