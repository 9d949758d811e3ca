package tlsbridge

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/trustsync/trustsync/dataplane/files"
)

// The CA's files in ca_dir. cert-manager's Secret (what the webhook mounts, and what
// upstream reads) has tls.crt and tls.key, the signing pair, and ca.crt, the trust the
// agent is given; a directory without tls.key is read as ca.crt with ca.key, which is
// what GenerateCA writes.
const (
	certManagerCert = "tls.crt"
	certManagerKey  = "tls.key"
	CACertFile      = "ca.crt"
	CAKeyFile       = "ca.key"
)

// caValidity is a generated CA's lifetime, as upstream's.
const caValidity = 365 * 24 * time.Hour

// authority is one read of the CA.
type authority struct {
	cert *x509.Certificate
	key  crypto.Signer
	// stamp is what the files' metadata said when they were read.
	stamp string
}

// caFiles are the certificate and key files of dir, the cert-manager pair when its key
// is there.
func caFiles(dir string) (certPath, keyPath string) {
	if _, err := os.Stat(filepath.Join(dir, certManagerKey)); err == nil {
		return filepath.Join(dir, certManagerCert), filepath.Join(dir, certManagerKey)
	}
	return filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
}

// stampOf is the pair's paths, sizes and modification times; "" when one is missing.
func stampOf(certPath, keyPath string) string {
	var b bytes.Buffer
	for _, p := range []string{certPath, keyPath} {
		fi, err := os.Stat(p)
		if err != nil {
			return ""
		}
		fmt.Fprintf(&b, "%s %d %d;", p, fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String()
}

// loadCA reads the CA of dir and checks it may sign leaves.
func loadCA(dir string) (*authority, error) {
	certPath, keyPath := caFiles(dir)
	stamp := stampOf(certPath, keyPath)
	certPEM, err := files.Read(certPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := files.Read(keyPath)
	if err != nil {
		return nil, err
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%s: not a CA that may sign certificates (needs isCA and the cert sign usage)", certPath)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s does not hold the key of %s", keyPath, certPath)
	}
	return &authority{cert: cert, key: key, stamp: stamp}, nil
}

// parseCert is the first certificate of a PEM file.
func parseCert(data []byte) (*x509.Certificate, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no PEM CERTIFICATE block")
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}

// parseKey reads an EC or RSA private key: SEC 1, PKCS #1 or PKCS #8.
func parseKey(data []byte) (crypto.Signer, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no PEM private key block")
		}
		var k any
		var err error
		switch b.Type {
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		switch k := k.(type) {
		case *ecdsa.PrivateKey:
			return k, nil
		case *rsa.PrivateKey:
			return k, nil
		default:
			return nil, fmt.Errorf("a %T key; want EC or RSA", k)
		}
	}
}

// generateCA writes a self-signed ECDSA P-256 CA to dir as ca.crt and ca.key, unless a
// CA is there already.
func generateCA(dir string, now time.Time) error {
	certPath, keyPath := caFiles(dir)
	if _, err := os.Stat(certPath); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if _, err := os.Stat(keyPath); err == nil {
		return fmt.Errorf("%s is there without %s", keyPath, certPath)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "authbridge-tls-bridge-ca (generated)"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// The key first: a reader that sees the certificate finds its key.
	if err := writeFile(filepath.Join(dir, CAKeyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, CACertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writeFile writes through a temporary file and a rename, so no reader sees half.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
