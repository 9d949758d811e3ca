package spire

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trustsync/trustsync/internal/testenv"
	"github.com/trustsync/trustsync/internal/x509test"
	"github.com/trustsync/trustsync/security/identity"
)

// caCert makes a self-signed SPIFFE CA certificate for a trust domain.
func caCert(t *testing.T, td string) *x509.Certificate { return x509test.NewSPIFFECA(t, td).Cert }

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

	if ok, err := Present(ctx, c); err != nil || ok {
		t.Fatalf("without a identity.CSIDriver: present=%t err=%v", ok, err)
	}
	driver := &storagev1.CSIDriver{ObjectMeta: metav1.ObjectMeta{Name: identity.CSIDriver}}
	if err := c.Create(ctx, driver); err != nil {
		t.Fatal(err)
	}
	if ok, err := Present(ctx, c); err != nil || !ok {
		t.Fatalf("with identity.CSIDriver %s: present=%t err=%v", identity.CSIDriver, ok, err)
	}

	td := spiffeid.RequireTrustDomainFromString("cluster.test")
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "spire"}}); err != nil {
		t.Fatal(err)
	}
	if b, err := TrustBundle(ctx, c, "spire", td); b != nil || err != nil {
		t.Fatalf("without the ConfigMap: %v, %v", b, err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "spire", Name: identity.TrustBundleConfigMap}, Data: map[string]string{"bundle.crt": "PEM only"}}
	if err := c.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	if b, err := TrustBundle(ctx, c, "spire", td); b != nil || err != nil {
		t.Fatalf("without key %s: %v, %v", identity.TrustBundleKey, b, err)
	}
	ca := caCert(t, td.Name())
	cm.Data[identity.TrustBundleKey] = string(x509test.SPIFFEBundleJSON(t, td.Name(), ca))
	if err := c.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	b, err := TrustBundle(ctx, c, "spire", td)
	if err != nil || b == nil || !b.HasX509Authority(ca) {
		t.Fatalf("with the bundle: %v, %v", b, err)
	}
	cm.Data[identity.TrustBundleKey] = "{"
	if err := c.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	_, err = TrustBundle(ctx, c, "spire", td)
	var be *TrustBundleError
	if !errors.As(err, &be) || be.Namespace != "spire" || !strings.Contains(err.Error(), "spire/spire-bundle data.bundle.spiffe") {
		t.Fatalf("a broken bundle: %v", err)
	}
}
