package mesh

import (
	"crypto/ecdsa"
	"crypto/x509"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trustsync/trustsync/internal/x509test"
)

// testCA is a real CA made with crypto/x509 (internal/x509test), with the PEM forms
// cert-manager writes into its Secrets.
type testCA struct {
	x       *x509test.Cert
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	keyPEM  []byte
	parent  *testCA // nil for a root
}

func newCert(t *testing.T, cn string, isCA bool, parent *testCA, notBefore, notAfter time.Time) *testCA {
	t.Helper()
	o := x509test.Options{CommonName: cn, IsCA: isCA, NotBefore: notBefore, NotAfter: notAfter}
	var c *x509test.Cert
	if parent == nil {
		c = x509test.New(t, o)
	} else {
		c = parent.x.Issue(t, o)
	}
	return &testCA{x: c, cert: c.Cert, key: c.Key.(*ecdsa.PrivateKey), certPEM: c.CertPEM(), keyPEM: c.KeyPEM(t), parent: parent}
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
