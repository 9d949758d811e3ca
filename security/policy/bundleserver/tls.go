package bundleserver

import (
	"crypto/tls"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// TLSConfig is the server side of mutual TLS with X.509-SVIDs: the server presents its
// own SVID, and a client must present an SVID of trustDomain that chains to the trust
// bundle, or the handshake fails. The reference bundle service authenticates nobody.
func TLSConfig(svid x509svid.Source, bundles x509bundle.Source, trustDomain spiffeid.TrustDomain) *tls.Config {
	c := tlsconfig.MTLSServerConfig(svid, bundles, tlsconfig.AuthorizeMemberOf(trustDomain))
	c.MinVersion = tls.VersionTLS12
	return c
}
