package tlsbridge

import (
	"container/list"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Leaves, as upstream's: valid 24 h, backdated 1 h for clock skew, minted again when
// within leafRenew of the end.
const (
	leafValidity = 24 * time.Hour
	leafBackdate = time.Hour
	leafRenew    = time.Hour
)

// minter mints the leaves the agent is shown, one ECDSA P-256 key for all of them (as
// upstream: a leaf's key protects nothing the CA's does not), and keeps the last
// MaxLeaves in an LRU.
type minter struct {
	key    *ecdsa.PrivateKey
	max    int
	minted prometheus.Counter

	mu    sync.Mutex
	order *list.List // of *leaf, most recent first
	byKey map[string]*list.Element
}

type leaf struct {
	name     string
	ca       *authority
	cert     *tls.Certificate
	notAfter time.Time
}

func newMinter(max int, minted prometheus.Counter) (*minter, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return &minter{key: key, max: max, minted: minted, order: list.New(), byKey: make(map[string]*list.Element)}, nil
}

// get is the leaf for name signed by ca: the cached one unless it is expiring or of
// another CA.
func (m *minter) get(ca *authority, name string, now time.Time) (*tls.Certificate, error) {
	m.mu.Lock()
	if e, ok := m.byKey[name]; ok {
		l := e.Value.(*leaf)
		if l.ca == ca && now.Before(l.notAfter.Add(-leafRenew)) {
			m.order.MoveToFront(e)
			m.mu.Unlock()
			return l.cert, nil
		}
	}
	m.mu.Unlock()
	// Minted outside the lock: two at once for one name is only wasted work.
	cert, notAfter, err := m.mint(ca, name, now)
	if err != nil {
		return nil, err
	}
	inc(m.minted)
	m.mu.Lock()
	defer m.mu.Unlock()
	l := &leaf{name: name, ca: ca, cert: cert, notAfter: notAfter}
	if e, ok := m.byKey[name]; ok {
		e.Value = l
		m.order.MoveToFront(e)
		return cert, nil
	}
	m.byKey[name] = m.order.PushFront(l)
	for m.order.Len() > m.max {
		last := m.order.Back()
		m.order.Remove(last)
		delete(m.byKey, last.Value.(*leaf).name)
	}
	return cert, nil
}

// mint signs a leaf for name (a DNS name or an IP address) with ca; the chain is the
// leaf and the CA.
func (m *minter) mint(ca *authority, name string, now time.Time) (*tls.Certificate, time.Time, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, time.Time{}, err
	}
	notAfter := now.Add(leafValidity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-leafBackdate),
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{name}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, m.key.Public(), ca.key)
	if err != nil {
		return nil, time.Time{}, err
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, time.Time{}, err
	}
	return &tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: m.key, Leaf: parsed}, notAfter, nil
}
