package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// Source supplies the sidecar's own X.509-SVID and the trust bundles that verify peers.
// go-spiffe's workloadapi.X509Source satisfies it and follows rotation; both are asked
// at every handshake, so a rotated SVID or bundle takes effect on the next connection.
type Source interface {
	x509svid.Source
	x509bundle.Source
}

// ErrPeerUnauthorized is wrapped by the handshake error when the peer's SVID verified
// but its SPIFFE ID is not authorized.
var ErrPeerUnauthorized = errors.New("mtls: peer not authorized")

// Authorizer decides which verified peers may connect: a peer is authorized iff its
// SPIFFE ID is a member of TrustDomain and Allowed is empty or lists the ID. A zero
// TrustDomain authorizes no one (fail closed).
type Authorizer struct {
	TrustDomain spiffeid.TrustDomain
	Allowed     []spiffeid.ID
}

// Authorize returns nil when id is authorized, else an error wrapping
// ErrPeerUnauthorized that names the ID.
func (a Authorizer) Authorize(id spiffeid.ID) error {
	if err := (&authorizer{td: a.TrustDomain}).check(id); err != nil || len(a.Allowed) == 0 {
		return err
	}
	for _, allowed := range a.Allowed {
		if !allowed.IsZero() && allowed == id {
			return nil
		}
	}
	return errNotListed(id)
}

func errNotListed(id spiffeid.ID) error {
	return fmt.Errorf("%w: %s is not in the allowlist", ErrPeerUnauthorized, id)
}

// authorizer is an Authorizer prepared for the handshake path: the allowlist as a set
// and the counter of refusals resolved once.
type authorizer struct {
	td      spiffeid.TrustDomain
	allowed map[string]struct{} // nil: any member
	refused prometheus.Counter  // nil when not counted
}

func (a Authorizer) compile(refused prometheus.Counter) *authorizer {
	z := &authorizer{td: a.TrustDomain, refused: refused}
	if len(a.Allowed) > 0 {
		z.allowed = make(map[string]struct{}, len(a.Allowed))
		for _, id := range a.Allowed {
			if !id.IsZero() {
				z.allowed[id.String()] = struct{}{}
			}
		}
		// A list of zero IDs only still restricts: nobody is in it.
	}
	return z
}

func (z *authorizer) check(id spiffeid.ID) error {
	switch {
	case z.td.IsZero():
		return fmt.Errorf("%w: %s: no trust domain is configured", ErrPeerUnauthorized, id)
	case !id.MemberOf(z.td):
		return fmt.Errorf("%w: %s is not a member of trust domain %s", ErrPeerUnauthorized, id, z.td)
	case z.allowed != nil:
		if _, ok := z.allowed[id.String()]; !ok {
			return errNotListed(id)
		}
	}
	return nil
}

// authorize is the go-spiffe tlsconfig.Authorizer: it runs after the chain verified
// against the current bundle.
func (z *authorizer) authorize(id spiffeid.ID, _ [][]*x509.Certificate) error {
	err := z.check(id)
	if err != nil && z.refused != nil {
		z.refused.Inc()
	}
	return err
}

// verifyResumed re-verifies a resumed session's peer. crypto/tls skips
// VerifyPeerCertificate when it resumes a session, checking only the leaf's expiry; the
// ticket may predate a bundle rotation or an allowlist change, so the stored chain is
// verified against the current bundle and authorized again. Full handshakes were
// verified by VerifyPeerCertificate already.
func (z *authorizer) verifyResumed(bundles x509bundle.Source) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if !cs.DidResume {
			return nil
		}
		id, _, err := x509svid.Verify(cs.PeerCertificates, bundles)
		if err != nil {
			return fmt.Errorf("mtls: resumed session's peer: %w", err)
		}
		return z.authorize(id, nil)
	}
}

// PeerID is the SPIFFE ID of the peer's leaf certificate on a completed handshake. With
// the configurations of this package a handshake completes only when that leaf verified
// and was authorized.
func PeerID(state *tls.ConnectionState) (spiffeid.ID, bool) {
	if state == nil || !state.HandshakeComplete || len(state.PeerCertificates) == 0 {
		return spiffeid.ID{}, false
	}
	id, err := x509svid.IDFromCert(state.PeerCertificates[0])
	if err != nil {
		return spiffeid.ID{}, false
	}
	return id, true
}
