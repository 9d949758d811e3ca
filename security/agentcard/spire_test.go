package agentcard

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"

	"github.com/trustsync/trustsync/internal/spiretest"
)

// TestSPIRE signs with the X509-SVID a real SPIRE agent serves over the Workload API and
// verifies against the bundle it serves; then the rejections that matter with real
// SVIDs: a tampered card, a foreign trust domain, an untrusted chain, an expired leaf.
func TestSPIRE(t *testing.T) {
	srv := spiretest.Run(t, spiretest.Options{TrustDomain: "example.org"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := srv.ID("/ns/team-a/sa/weather")
	if err := srv.AddWorkload(ctx, id); err != nil {
		t.Fatal(err)
	}
	src, err := srv.X509Source(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	svid, err := src.GetX509SVID()
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := srv.Bundle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := Sign([]byte(testCard), svid, SignOptions{})
	if err != nil {
		t.Fatal(err)
	}

	for name, bundles := range map[string]x509bundle.Source{"the source's bundles": src, "the fetched bundle": bundle} {
		res, err := Verify(signed, bundles, VerifyOptions{TrustDomain: "example.org"})
		if err != nil {
			t.Fatalf("verifying against %s: %v", name, err)
		}
		if res.SPIFFEID != id || res.KeyID != KeyID(svid.Certificates[0]) || res.Algorithm != "ES256" {
			t.Fatalf("verifying against %s: result %+v, want %s signed with ES256", name, res, id)
		}
		if root := res.Chain[len(res.Chain)-1]; !bundle.HasX509Authority(root) {
			t.Fatalf("verified chain ends at %q, not at a SPIRE authority", root.Subject)
		}
	}

	impostor := newTestCA(t, "example.org") // same trust domain name, not SPIRE's key
	foreign := newTestCA(t, "other.test")
	now := time.Now()
	expiredForeign := mustSign(t, testCard, foreign.svid(t, leafOpts{notBefore: now.Add(-2 * time.Hour), notAfter: now.Add(-time.Hour)}))
	tests := []struct {
		name    string
		card    []byte
		bundles x509bundle.Source
		opts    VerifyOptions
		want    Reason
	}{
		{"tampered card", bytes.Replace(signed, []byte("weather-agent"), []byte("weather-agent-2"), 1), src, VerifyOptions{}, SignatureInvalid},
		{"bound to another trust domain", signed, src, VerifyOptions{TrustDomain: "other.test"}, ForeignTrustDomain},
		{"foreign trust domain's signer, both bundles trusted", mustSign(t, testCard, foreign.svid(t, leafOpts{})), x509bundle.NewSet(bundle, foreign.bundle()), VerifyOptions{TrustDomain: "example.org"}, ForeignTrustDomain},
		{"foreign trust domain's signer, only SPIRE's bundle", mustSign(t, testCard, foreign.svid(t, leafOpts{})), src, VerifyOptions{}, ChainUntrusted},
		{"SPIRE's SVID against another CA of the same name", signed, impostor.bundle(), VerifyOptions{}, ChainUntrusted},
		{"impostor's SVID against SPIRE's bundle", mustSign(t, testCard, impostor.svid(t, leafOpts{})), src, VerifyOptions{}, ChainUntrusted},
		{"SPIRE's SVID after it expired", signed, src, VerifyOptions{Now: svid.Certificates[0].NotAfter.Add(time.Minute)}, Expired},
		{"expired leaf of a trusted CA", expiredForeign, x509bundle.NewSet(bundle, foreign.bundle()), VerifyOptions{}, Expired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Verify(tt.card, tt.bundles, tt.opts)
			if err == nil {
				t.Fatalf("accepted (signer %s), want %s", res.SPIFFEID, tt.want)
			}
			if got := ReasonOf(err); got != tt.want {
				t.Fatalf("reason %s (%v), want %s", got, err, tt.want)
			}
		})
	}
}
