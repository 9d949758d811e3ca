package identity

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trustsync/trustsync/internal/testenv"
	"github.com/trustsync/trustsync/internal/x509test"
)

// caCert makes a self-signed SPIFFE CA certificate for a trust domain.
func caCert(t *testing.T, td string) *x509.Certificate { return x509test.NewSPIFFECA(t, td).Cert }

func bundleJSON(t *testing.T, td spiffeid.TrustDomain, certs ...*x509.Certificate) []byte {
	t.Helper()
	data, err := spiffebundle.FromX509Authorities(td, certs).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseTrustBundle(t *testing.T) {
	td := spiffeid.RequireTrustDomainFromString("example.org")
	ca := caCert(t, "example.org")
	for _, tc := range []struct {
		name    string
		td      spiffeid.TrustDomain
		data    []byte
		wantErr string
	}{
		{name: "a bundle with one authority", td: td, data: bundleJSON(t, td, ca)},
		{name: "not JSON", td: td, data: []byte("-----BEGIN CERTIFICATE-----"), wantErr: "unable to parse JWKS"},
		{name: "no X.509 authority", td: td, data: []byte(`{"keys":[]}`), wantErr: "no X.509 authorities"},
		{name: "no trust domain", data: bundleJSON(t, td, ca), wantErr: "no trust domain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseTrustBundle(tc.td, tc.data)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !b.HasX509Authority(ca) || b.TrustDomain() != td {
				t.Fatalf("bundle of %s lacks the CA", b.TrustDomain())
			}
		})
	}
}

// TestSPIREOnAPIServer reads the CSI driver and the bundle ConfigMap from a real API
// server: absent, then present, then broken.
func TestSPIREOnAPIServer(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err) // a test that needs the real API server never skips
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx := context.Background()
	c := env.Client

	if ok, err := SPIREPresent(ctx, c); err != nil || ok {
		t.Fatalf("without a CSIDriver: present=%t err=%v", ok, err)
	}
	driver := &storagev1.CSIDriver{ObjectMeta: metav1.ObjectMeta{Name: CSIDriver}}
	if err := c.Create(ctx, driver); err != nil {
		t.Fatal(err)
	}
	if ok, err := SPIREPresent(ctx, c); err != nil || !ok {
		t.Fatalf("with CSIDriver %s: present=%t err=%v", CSIDriver, ok, err)
	}

	td := spiffeid.RequireTrustDomainFromString("cluster.test")
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "spire"}}); err != nil {
		t.Fatal(err)
	}
	if b, err := TrustBundle(ctx, c, "spire", td); b != nil || err != nil {
		t.Fatalf("without the ConfigMap: %v, %v", b, err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "spire", Name: TrustBundleConfigMap}, Data: map[string]string{"bundle.crt": "PEM only"}}
	if err := c.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	if b, err := TrustBundle(ctx, c, "spire", td); b != nil || err != nil {
		t.Fatalf("without key %s: %v, %v", TrustBundleKey, b, err)
	}
	ca := caCert(t, td.Name())
	cm.Data[TrustBundleKey] = string(bundleJSON(t, td, ca))
	if err := c.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	b, err := TrustBundle(ctx, c, "spire", td)
	if err != nil || b == nil || !b.HasX509Authority(ca) {
		t.Fatalf("with the bundle: %v, %v", b, err)
	}
	cm.Data[TrustBundleKey] = "{"
	if err := c.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	_, err = TrustBundle(ctx, c, "spire", td)
	var be *TrustBundleError
	if !errors.As(err, &be) || be.Namespace != "spire" || !strings.Contains(err.Error(), "spire/spire-bundle data.bundle.spiffe") {
		t.Fatalf("a broken bundle: %v", err)
	}
}
