package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strings"
	"time"
)

const (
	// CACommonName is the subject of every CA the Rotator makes.
	CACommonName = "trustsync-webhook-ca"
	// backdate keeps a fresh certificate valid for a peer whose clock is a little behind.
	backdate = time.Hour
	// renewalFraction: a certificate is renewed once less than this part of its lifetime is left.
	renewalFraction = 3
)

// keyPair is a parsed certificate with its private key.
type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func (p *keyPair) certPEM() []byte { return encodeCerts(p.cert) }

func (p *keyPair) keyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(p.key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// names are the subject alternative names of a serving certificate, sorted and
// without duplicates so that two sets compare with ==.
type names struct {
	dns []string
	ips []net.IP
}

func newNames(dns []string, ips []net.IP) names {
	n := names{dns: slices.Clone(dns), ips: slices.Clone(ips)}
	slices.Sort(n.dns)
	n.dns = slices.Compact(n.dns)
	slices.SortFunc(n.ips, func(a, b net.IP) int { return bytes.Compare(a.To16(), b.To16()) })
	n.ips = slices.CompactFunc(n.ips, net.IP.Equal)
	return n
}

// matches reports whether c names exactly these hosts: a host removed from the options
// must leave the certificate as surely as a new one must enter it.
func (n names) matches(c *x509.Certificate) bool {
	have := newNames(c.DNSNames, c.IPAddresses)
	return slices.Equal(have.dns, n.dns) && slices.EqualFunc(have.ips, n.ips, net.IP.Equal)
}

func (n names) commonName() string {
	if len(n.dns) > 0 {
		return n.dns[0]
	}
	return n.ips[0].String()
}

func (n names) String() string {
	all := slices.Clone(n.dns)
	for _, ip := range n.ips {
		all = append(all, ip.String())
	}
	return strings.Join(all, ",")
}

func newKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// newSerial is a random positive 128-bit serial number.
func newSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, err
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

func newCA(now time.Time, validity time.Duration) (*keyPair, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: CACommonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	return sign(tmpl, tmpl, key, key)
}

// newServingCert issues a certificate for n from ca. It never outlives ca, so no
// client is ever asked to accept a certificate whose issuer has expired.
func newServingCert(ca *keyPair, n names, now time.Time, validity time.Duration) (*keyPair, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: n.commonName()},
		NotBefore:             now.Add(-backdate),
		NotAfter:              minTime(now.Add(validity), ca.cert.NotAfter),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:              n.dns,
		IPAddresses:           n.ips,
	}
	return sign(tmpl, ca.cert, key, ca.key)
}

func sign(tmpl, parent *x509.Certificate, key, parentKey *ecdsa.PrivateKey) (*keyPair, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &keyPair{cert: cert, key: key}, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// parseCerts reads a PEM bundle of certificates; anything else in it is an error.
func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := data; len(bytes.TrimSpace(rest)) > 0; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("not PEM")
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %s, want CERTIFICATE", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate")
	}
	return out, nil
}

// parseKey reads an ECDSA P-256 key, PKCS #8 or SEC 1; other keys are not ours.
func parseKey(data []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("not PEM")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %s, want PRIVATE KEY", block.Type)
	}
	if err != nil {
		return nil, err
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("not an ECDSA P-256 key")
	}
	return ec, nil
}

// parsePair reads the first certificate of certPEM and the key that must belong to it.
func parsePair(certPEM, keyPEM []byte) (*keyPair, error) {
	certs, err := parseCerts(certPEM)
	if err != nil {
		return nil, err
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, err
	}
	pub, ok := certs[0].PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("the key does not belong to the certificate")
	}
	return &keyPair{cert: certs[0], key: key}, nil
}

func encodeCerts(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}) // writing to memory does not fail
	}
	return b.Bytes()
}

func validAt(c *x509.Certificate, now time.Time) bool {
	return !now.Before(c.NotBefore) && now.Before(c.NotAfter)
}

// renewalDue: less than a third of c's lifetime is left at now.
func renewalDue(c *x509.Certificate, now time.Time) bool {
	return c.NotAfter.Sub(now) < c.NotAfter.Sub(c.NotBefore)/renewalFraction
}

func issuedBy(c, ca *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, ca.RawSubject) && c.CheckSignatureFrom(ca) == nil
}

func isServing(c *x509.Certificate) bool {
	return !c.IsCA && slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
}
