package identity

import (
	"errors"
	"fmt"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// SPIRE as a cluster shows it.
const (
	// CSIDriver is the SPIFFE CSI driver through which pods mount the SPIRE agent's
	// Workload API socket; without it no pod gets an SVID.
	CSIDriver = "csi.spiffe.io"
	// TrustBundleConfigMap is where SPIRE's k8sbundle notifier publishes the trust bundle.
	TrustBundleConfigMap = "spire-bundle"
	// TrustBundleKey holds the bundle in SPIFFE (JWKS) format.
	TrustBundleKey = "bundle.spiffe"
)

// ParseTrustBundle parses a SPIFFE-format bundle of a trust domain and refuses one with
// no X.509 authority: such a bundle would verify no SVID, and an empty trust store fails
// in confusing ways later.
func ParseTrustBundle(td spiffeid.TrustDomain, data []byte) (*spiffebundle.Bundle, error) {
	if td.IsZero() {
		return nil, errors.New("no trust domain given")
	}
	b, err := spiffebundle.Parse(td, data)
	if err != nil {
		return nil, err
	}
	if len(b.X509Authorities()) == 0 {
		return nil, fmt.Errorf("bundle of trust domain %s has no X.509 authorities", td)
	}
	return b, nil
}
