package mesh

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Keys of cert-manager's Secrets.
const (
	KeyTLSCert = corev1.TLSCertKey       // tls.crt
	KeyTLSKey  = corev1.TLSPrivateKeyKey // tls.key
	KeyCACert  = "ca.crt"
)

// Keys of the cacerts Secret istiod reads as its plug-in CA.
const (
	KeyCACertPEM    = "ca-cert.pem"
	KeyCAKeyPEM     = "ca-key.pem"
	KeyRootCertPEM  = "root-cert.pem"
	KeyCertChainPEM = "cert-chain.pem"
)

// Reasons of the Warning events and of Error.
const (
	// ReasonFingerprintMismatch: the intermediate's ca.crt is not the mesh root, so it
	// was issued by another (an older) root.
	ReasonFingerprintMismatch = "FingerprintMismatch"
	// ReasonChainInvalid: the intermediate does not verify against the root (signature,
	// validity period, not a CA).
	ReasonChainInvalid = "ChainInvalid"
	// ReasonKeyMismatch: tls.key is not the key of tls.crt.
	ReasonKeyMismatch = "KeyMismatch"
	// ReasonInvalidSecret: a key is missing or does not hold PEM of the right kind.
	ReasonInvalidSecret = "InvalidSecret"
)

// Error says why a Secret cannot feed cacerts. It names the Secret and key, never their
// content: the fingerprints it may carry are of public certificates.
type Error struct {
	Secret types.NamespacedName
	Key    string
	Reason string
	Err    error
}

func (e *Error) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("Secret %s: %s: %v", e.Secret, e.Reason, e.Err)
	}
	return fmt.Sprintf("Secret %s, key %s: %s: %v", e.Secret, e.Key, e.Reason, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ReasonOf is the reason of an *Error in err's chain, else "".
func ReasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// Bundle is the content of a cacerts Secret.
type Bundle struct {
	CACert    []byte // the intermediate (and any chain below the root): tls.crt
	CAKey     []byte // its key: tls.key
	RootCert  []byte // the mesh root: ca.crt
	CertChain []byte // tls.crt followed by ca.crt
	// RootFingerprint is the SHA-256 of the root's DER, for messages.
	RootFingerprint string
}

// Data is the Bundle as Secret data.
func (b *Bundle) Data() map[string][]byte {
	return map[string][]byte{
		KeyCACertPEM:    b.CACert,
		KeyCAKeyPEM:     b.CAKey,
		KeyRootCertPEM:  b.RootCert,
		KeyCertChainPEM: b.CertChain,
	}
}

// Verify checks that an intermediate CA Secret issued by cert-manager belongs to the mesh
// root Secret and returns the cacerts content built from it: the intermediate's ca.crt
// is the root's tls.crt (same SHA-256 fingerprint), its tls.crt chains to that root at
// now and is a CA, and tls.key is the key of tls.crt.
func Verify(root, intermediate *corev1.Secret, now time.Time) (*Bundle, error) {
	rootRef, intRef := types.NamespacedName{Namespace: root.Namespace, Name: root.Name}, types.NamespacedName{Namespace: intermediate.Namespace, Name: intermediate.Name}
	bad := func(ref types.NamespacedName, key, reason string, format string, args ...any) error {
		return &Error{Secret: ref, Key: key, Reason: reason, Err: fmt.Errorf(format, args...)}
	}

	rootCerts, err := certificates(root.Data[KeyTLSCert])
	if err != nil {
		return nil, bad(rootRef, KeyTLSCert, ReasonInvalidSecret, "%v", err)
	}
	rootCert := rootCerts[0]
	if !rootCert.IsCA {
		return nil, bad(rootRef, KeyTLSCert, ReasonInvalidSecret, "the mesh root %q is not a CA", rootCert.Subject)
	}

	caCerts, err := certificates(intermediate.Data[KeyCACert])
	if err != nil {
		return nil, bad(intRef, KeyCACert, ReasonInvalidSecret, "%v", err)
	}
	want, got := fingerprint(rootCert), fingerprint(caCerts[0])
	if want != got {
		return nil, bad(intRef, KeyCACert, ReasonFingerprintMismatch, "issued by root %s (%q), but the mesh root %s is %s (%q)", got, caCerts[0].Subject, rootRef, want, rootCert.Subject)
	}

	chain, err := certificates(intermediate.Data[KeyTLSCert])
	if err != nil {
		return nil, bad(intRef, KeyTLSCert, ReasonInvalidSecret, "%v", err)
	}
	leaf := chain[0]
	if !leaf.IsCA || leaf.KeyUsage&x509.KeyUsageCertSign == 0 {
		// istiod signs workload certificates with it.
		return nil, bad(intRef, KeyTLSCert, ReasonChainInvalid, "%q is not a CA that may sign certificates", leaf.Subject)
	}
	roots, between := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(rootCert)
	for _, c := range chain[1:] {
		between.AddCert(c)
	}
	// CA certificates often carry no extended key usage; any is fine for a signing CA.
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: between, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, bad(intRef, KeyTLSCert, ReasonChainInvalid, "%q does not chain to the mesh root %s: %v", leaf.Subject, want, err)
	}

	if len(intermediate.Data[KeyTLSKey]) == 0 {
		return nil, bad(intRef, KeyTLSKey, ReasonInvalidSecret, "missing")
	}
	// X509KeyPair parses the key and compares it with tls.crt's public key; its errors
	// never quote the key.
	if _, err := tls.X509KeyPair(intermediate.Data[KeyTLSCert], intermediate.Data[KeyTLSKey]); err != nil {
		return nil, bad(intRef, KeyTLSKey, ReasonKeyMismatch, "%v", err)
	}

	tlsCrt, caCrt := intermediate.Data[KeyTLSCert], intermediate.Data[KeyCACert]
	certChain := make([]byte, 0, len(tlsCrt)+1+len(caCrt))
	certChain = append(certChain, tlsCrt...)
	if !bytes.HasSuffix(certChain, []byte("\n")) {
		certChain = append(certChain, '\n')
	}
	certChain = append(certChain, caCrt...)
	return &Bundle{
		CACert:          bytes.Clone(tlsCrt),
		CAKey:           bytes.Clone(intermediate.Data[KeyTLSKey]),
		RootCert:        bytes.Clone(caCrt),
		CertChain:       certChain,
		RootFingerprint: want,
	}, nil
}

// certificates parses a PEM bundle that must hold at least one certificate and nothing
// else.
func certificates(data []byte) ([]*x509.Certificate, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("missing")
	}
	var out []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			if len(bytes.TrimSpace(rest)) > 0 {
				return nil, errors.New("not PEM")
			}
			break
		}
		if block.Type != "CERTIFICATE" {
			// Do not echo the block: a misplaced key must not reach a message.
			return nil, fmt.Errorf("holds a PEM block of type %q, want CERTIFICATE", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %v", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate")
	}
	return out, nil
}

// fingerprint is the SHA-256 of a certificate's DER, as "sha256:<hex>".
func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}
