package mesh

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// testCA is a real CA made with crypto/x509.
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	keyPEM  []byte
	parent  *testCA // nil for a root
}

var serial int64

func newCert(t *testing.T, cn string, isCA bool, parent *testCA, notBefore, notAfter time.Time) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"trustsync tests"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		IsCA:                  isCA,
		KeyUsage:              x509.KeyUsageDigitalSignature,
	}
	if isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		parent:  parent,
	}
}

func newRoot(t *testing.T, cn string) *testCA {
	now := time.Now()
	return newCert(t, cn, true, nil, now.Add(-time.Hour), now.Add(10*365*24*time.Hour))
}

func (c *testCA) issueCA(t *testing.T, cn string) *testCA {
	now := time.Now()
	return newCert(t, cn, true, c, now.Add(-time.Hour), now.Add(365*24*time.Hour))
}

// rootSecret is the Secret cert-manager writes for the self-signed mesh root.
func rootSecret(ns, name string, root *testCA) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{KeyTLSCert: root.certPEM, KeyTLSKey: root.keyPEM, KeyCACert: root.certPEM},
	}
}

// intermediateSecret is the Secret cert-manager writes for an intermediate issued by the
// CA ClusterIssuer: ca.crt is the issuer's root.
func intermediateSecret(ns, name string, inter *testCA) *corev1.Secret {
	root := inter
	for root.parent != nil {
		root = root.parent
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{KeyTLSCert: inter.certPEM, KeyTLSKey: inter.keyPEM, KeyCACert: root.certPEM},
	}
}
