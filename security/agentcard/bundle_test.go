package agentcard

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

func TestParseTrustBundle(t *testing.T) {
	ca := newTestCA(t, "example.org")
	other := newTestCA(t, "other.test")
	pemOf := func(cs ...*x509.Certificate) string {
		var b strings.Builder
		for _, c := range cs {
			b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
		}
		return b.String()
	}
	spiffeJSON := func(c *testCA) string {
		data, err := spiffebundle.FromX509Authorities(c.td, []*x509.Certificate{c.cert}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	tests := []struct {
		name, data, td string
		want           []string // trust domains with one authority each
		wantErr        string
	}{
		{name: "PEM, trust domain from the CA's URI SAN", data: pemOf(ca.cert), want: []string{"example.org"}},
		{name: "PEM of two trust domains", data: pemOf(ca.cert, other.cert), want: []string{"example.org", "other.test"}},
		{name: "PEM: the CA's own trust domain wins over the given one", data: pemOf(ca.cert), td: "given.test", want: []string{"example.org"}},
		{name: "SPIFFE bundle", data: spiffeJSON(ca), want: []string{"example.org"}},
		{name: "SPIFFE bundle: the CA's own trust domain wins", data: spiffeJSON(ca), td: "given.test", want: []string{"example.org"}},
		{name: "bundles keyed by trust domain", data: fmt.Sprintf(`{"example.org": %s, "other.test": %s}`, spiffeJSON(ca), spiffeJSON(other)), want: []string{"example.org", "other.test"}},
		{name: "empty", data: "  \n", wantErr: "empty"},
		{name: "not a bundle", data: "hello", wantErr: "neither PEM"},
		{name: "a key, not a certificate", data: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", wantErr: "want CERTIFICATE"},
		{name: "PEM then garbage", data: pemOf(ca.cert) + "garbage", wantErr: "not PEM"},
		{name: "SPIFFE bundle without keys", data: `{"keys": []}`, wantErr: "no X.509 authorities"},
		{name: "keyed by something else", data: fmt.Sprintf(`{"Not A Domain": %s}`, spiffeJSON(ca)), wantErr: "not a trust domain"},
		{name: "bad trust domain option", data: pemOf(ca.cert), td: "Bad TD", wantErr: "trust domain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := ParseTrustBundle([]byte(tt.data), tt.td)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if set.Len() != len(tt.want) {
				t.Fatalf("%d bundles, want %v", set.Len(), tt.want)
			}
			for _, td := range tt.want {
				b, ok := set.Get(spiffeid.RequireTrustDomainFromString(td))
				if !ok || len(b.X509Authorities()) != 1 {
					t.Fatalf("no single-authority bundle for %s", td)
				}
			}
		})
	}
}

func TestParseTrustBundleNeedsATrustDomainForPlainCAs(t *testing.T) {
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: newPlainCA(t).Raw}) // not SPIRE's: no URI SAN
	if _, err := ParseTrustBundle(data, ""); err == nil || !strings.Contains(err.Error(), "give the trust domain") {
		t.Fatalf("err = %v, want a request for the trust domain", err)
	}
	set, err := ParseTrustBundle(data, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if !set.Has(spiffeid.RequireTrustDomainFromString("example.org")) {
		t.Fatal("the plain CA is not filed under the given trust domain")
	}
}
