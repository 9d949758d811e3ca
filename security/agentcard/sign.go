package agentcard

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// HeaderType is the protected header's typ.
const HeaderType = "JOSE"

// minRSABits is the smallest RSA key that may sign a card.
const minRSABits = 2048

// SignOptions configure Sign. The zero value is usable.
type SignOptions struct {
	// Now is the signing time written to the unprotected header's timestamp; time.Now()
	// when zero.
	Now time.Time
}

// Sign signs card with svid and returns the card with its "signatures" member replaced
// by the one new signature, indented JSON. Other members are kept as they are (their
// order and number literals may change, their canonical form does not).
func Sign(card []byte, svid *x509svid.SVID, o SignOptions) ([]byte, error) {
	if svid == nil || len(svid.Certificates) == 0 {
		return nil, errors.New("signing the card: no X509-SVID")
	}
	doc, err := parseCard(card)
	if err != nil {
		return nil, err
	}
	payload := canonical(doc)
	leaf := svid.Certificates[0]
	alg, err := Algorithm(leaf.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("signing the card with %s: %w", svid.ID, err)
	}
	key, err := signingKey(svid.PrivateKey, leaf)
	if err != nil {
		return nil, fmt.Errorf("signing the card with %s: %w", svid.ID, err)
	}
	x5c := make([]string, len(svid.Certificates))
	for i, c := range svid.Certificates {
		x5c[i] = base64.StdEncoding.EncodeToString(c.Raw)
	}
	opts := (&jose.SignerOptions{}).WithType(HeaderType).
		WithHeader(jose.HeaderKey("kid"), KeyID(leaf)).
		WithHeader(jose.HeaderKey("x5c"), x5c)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return nil, fmt.Errorf("signing the card with %s: %w", svid.ID, err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return nil, fmt.Errorf("signing the card with %s: %w", svid.ID, err)
	}
	compact, err := jws.DetachedCompactSerialize()
	if err != nil {
		return nil, err
	}
	parts := strings.Split(compact, ".") // protected, "" (detached payload), signature
	if len(parts) != 3 || parts[1] != "" {
		return nil, fmt.Errorf("signing the card: unexpected detached JWS form %q", compact)
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	doc[SignaturesField] = []any{map[string]any{
		"protected": parts[0],
		"signature": parts[2],
		"header":    map[string]any{"timestamp": now.UTC().Format(time.RFC3339)},
	}}
	return marshalCard(doc)
}

// marshalCard writes a card for people and agents to read: indented, "<" and "&" as they
// are, json.Number literals unchanged.
func marshalCard(doc map[string]any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Algorithm is the JWS algorithm for a public key: RS256 for RSA (2048 bits or more),
// ES256, ES384 or ES512 for ECDSA on P-256, P-384 or P-521.
func Algorithm(pub crypto.PublicKey) (jose.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return "", fmt.Errorf("RSA key of %d bits, want at least %d", k.N.BitLen(), minRSABits)
		}
		return jose.RS256, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return jose.ES256, nil
		case elliptic.P384():
			return jose.ES384, nil
		case elliptic.P521():
			return jose.ES512, nil
		}
		return "", fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
	}
	return "", fmt.Errorf("unsupported key type %T (want RSA or ECDSA)", pub)
}

// KeyID is the kid of a signing certificate: hex of the first 8 bytes of the SHA-256 of
// its DER.
func KeyID(leaf *x509.Certificate) string {
	sum := sha256.Sum256(leaf.Raw)
	return hex.EncodeToString(sum[:8])
}

// signingKey returns the private key in the form go-jose signs with, after checking it
// belongs to the leaf (x509svid.Parse checks too, but an SVID can be built by hand).
func signingKey(key crypto.Signer, leaf *x509.Certificate) (any, error) {
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if key == nil || !ok || !pub.Equal(key.Public()) {
		return nil, errors.New("the private key does not belong to the leaf certificate")
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey, *rsa.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("unsupported private key type %T", key)
}
