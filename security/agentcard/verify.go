package agentcard

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// Reason says why a card's signature was rejected.
type Reason string

// Reasons for rejecting a card.
const (
	// Unsigned: the card has no signatures.
	Unsigned Reason = "Unsigned"
	// Malformed: the card or a signature cannot be read (JSON, base64, header, x5c, kid).
	Malformed Reason = "Malformed"
	// ChainUntrusted: the x5c chain does not validate against the trust bundle.
	ChainUntrusted Reason = "ChainUntrusted"
	// NoSPIFFEID: the leaf does not have exactly one URI SAN, a spiffe:// ID.
	NoSPIFFEID Reason = "NoSPIFFEID"
	// SignatureInvalid: the signature does not verify over the canonical card with the
	// leaf key (the card was changed after signing, or alg does not fit the key).
	SignatureInvalid Reason = "SignatureInvalid"
	// ForeignTrustDomain: the signer's SPIFFE ID is not in the required trust domain.
	ForeignTrustDomain Reason = "ForeignTrustDomain"
	// Expired: a certificate of the chain is not valid at the verification time (the
	// chain is otherwise trusted).
	Expired Reason = "Expired"
)

// Error is a rejected card.
type Error struct {
	Reason Reason
	// Message says what was wrong, for people: which signature, which certificate or ID.
	Message string
}

func (e *Error) Error() string { return string(e.Reason) + ": " + e.Message }

// ReasonOf returns the Reason of an *Error in err's chain, or "" when there is none.
func ReasonOf(err error) Reason {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Reason
	}
	return ""
}

func reject(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Message: fmt.Sprintf(format, args...)}
}

// VerifyOptions configure Verify. The zero value checks the chain and the signature only.
type VerifyOptions struct {
	// TrustDomain, when set, is the trust domain the signer's SPIFFE ID must be in
	// (identity binding).
	TrustDomain string
	// Now is the time the chain must be valid at; time.Now() when zero.
	Now time.Time
}

// Result is a verified signature.
type Result struct {
	// SPIFFEID is the signer, from the leaf's URI SAN.
	SPIFFEID spiffeid.ID
	// KeyID is the kid of the leaf (see KeyID).
	KeyID string
	// Algorithm of the JWS.
	Algorithm string
	// Chain is the verified chain, leaf first, ending at a bundle authority.
	Chain []*x509.Certificate
	// NotAfter is when the leaf expires.
	NotAfter time.Time
	// Timestamp is the unprotected header's timestamp: informational, not signed.
	Timestamp string
	// Index of the signature in the card's signatures.
	Index int
	// CardID is the hex SHA-256 of the canonical card.
	CardID string
}

// Verify checks the card's signatures against the trust bundles and returns the first
// that verifies. When none does, the error is an *Error: the rejection of the only
// signature, or of the first of several, with the others' reasons in its message.
// Each signature passes, in this order: readable protected header and x5c; a leaf with
// exactly one spiffe:// URI SAN; a chain that validates against the bundle of the leaf's
// trust domain at Now (Expired when it would validate at a time the certificates are
// valid); the trust domain binding; alg matching the leaf key; the JWS signature over the
// canonical card.
func Verify(card []byte, bundles x509bundle.Source, o VerifyOptions) (*Result, error) {
	var td spiffeid.TrustDomain
	if o.TrustDomain != "" {
		var err error
		if td, err = spiffeid.TrustDomainFromString(o.TrustDomain); err != nil {
			return nil, fmt.Errorf("identity binding: trust domain %q: %w", o.TrustDomain, err)
		}
	}
	if bundles == nil {
		return nil, errors.New("verifying the card: no trust bundle")
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	doc, err := parseCard(card)
	if err != nil {
		return nil, reject(Malformed, "%v", err)
	}
	sigs, err := signatures(doc)
	if err != nil {
		return nil, err
	}
	payload := canonical(doc)
	var first *Error
	var others []string
	for i, s := range sigs {
		res, err := verifyOne(s, payload, bundles, td, o.Now)
		if err == nil {
			res.Index = i
			res.CardID = cardID(payload)
			return res, nil
		}
		err.Message = clip(err.Message, maxProblemBytes)
		if len(sigs) > 1 {
			err.Message = fmt.Sprintf("signature %d: %s", i, err.Message)
		}
		if first == nil {
			first = err
		} else {
			others = append(others, err.Error())
		}
	}
	if len(others) > 0 {
		first.Message = fmt.Sprintf("all %d signatures rejected: %s; also %s", len(sigs), first.Message, strings.Join(others[:min(len(others), maxProblemsShown-1)], "; "))
		if n := len(others) - (maxProblemsShown - 1); n > 0 {
			first.Message += fmt.Sprintf("; and %d more", n)
		}
	}
	return nil, first
}

// Bounds on what a card makes Verify do and say: cards come from agents and from
// whoever hands one to the CLI.
const (
	// MaxSignatures is how many signatures a card may carry; a card with more is
	// Malformed before any is checked (each costs a chain validation).
	MaxSignatures = 16
	// MaxChain is how many certificates one signature's x5c may hold (SPIRE: the SVID
	// and its intermediates).
	MaxChain = 10
	// maxProblemsShown is how many rejected signatures a message describes; the rest
	// are counted.
	maxProblemsShown = 3
	// maxProblemBytes bounds the description of one rejected signature, which quotes
	// the card's own values (kid, typ, subjects).
	maxProblemBytes = 512
	// maxQuoted bounds one value of the card quoted in a message.
	maxQuoted = 80
)

// clip cuts s to at most n bytes on a rune boundary, saying so.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// quote is %q of a value from the card, cut to maxQuoted bytes.
func quote(s string) string { return strconv.Quote(clip(s, maxQuoted)) }

// signature is one entry of the card's signatures.
type signature struct {
	Protected string `json:"protected"`
	Signature string `json:"signature"`
	Header    *struct {
		Timestamp string `json:"timestamp"`
	} `json:"header"`
}

func signatures(doc map[string]any) ([]signature, error) {
	raw, ok := doc[SignaturesField]
	if !ok || raw == nil {
		return nil, reject(Unsigned, "the card has no %q member", SignaturesField)
	}
	data, err := json.Marshal(raw)
	if err != nil {
		return nil, reject(Malformed, "%s: %v", SignaturesField, err)
	}
	var sigs []signature
	if err := json.Unmarshal(data, &sigs); err != nil {
		return nil, reject(Malformed, "%s is not a list of {protected, signature, header}: %v", SignaturesField, err)
	}
	if len(sigs) == 0 {
		return nil, reject(Unsigned, "the card's %s list is empty", SignaturesField)
	}
	if len(sigs) > MaxSignatures {
		return nil, reject(Malformed, "the card has %d %s, over the bound of %d", len(sigs), SignaturesField, MaxSignatures)
	}
	return sigs, nil
}

// protectedHeader is the part of the protected header Verify reads itself; go-jose
// checks the rest (crit, alg) when it verifies.
type protectedHeader struct {
	Alg string   `json:"alg"`
	Kid string   `json:"kid"`
	Typ string   `json:"typ"`
	X5C []string `json:"x5c"`
}

func verifyOne(s signature, payload []byte, bundles x509bundle.Source, td spiffeid.TrustDomain, now time.Time) (*Result, *Error) {
	if s.Protected == "" || s.Signature == "" {
		return nil, reject(Malformed, "the signature lacks protected or signature")
	}
	hdrJSON, err := base64.RawURLEncoding.DecodeString(s.Protected)
	if err != nil {
		return nil, reject(Malformed, "protected header is not base64url: %v", err)
	}
	var hdr protectedHeader
	if err := json.Unmarshal(hdrJSON, &hdr); err != nil {
		return nil, reject(Malformed, "protected header is not a JOSE header: %v", err)
	}
	if hdr.Typ != "" && hdr.Typ != HeaderType {
		return nil, reject(Malformed, "protected header typ %s, want %q", quote(hdr.Typ), HeaderType)
	}
	if len(hdr.X5C) == 0 {
		return nil, reject(Malformed, "protected header has no x5c certificate chain")
	}
	if len(hdr.X5C) > MaxChain {
		return nil, reject(Malformed, "the x5c chain has %d certificates, over the bound of %d", len(hdr.X5C), MaxChain)
	}
	chain := make([]*x509.Certificate, len(hdr.X5C))
	for i, c := range hdr.X5C {
		der, err := base64.StdEncoding.DecodeString(c)
		if err != nil {
			return nil, reject(Malformed, "x5c[%d] is not standard base64: %v", i, err)
		}
		if chain[i], err = x509.ParseCertificate(der); err != nil {
			return nil, reject(Malformed, "x5c[%d] is not a DER certificate: %v", i, err)
		}
	}
	leaf := chain[0]
	kid := KeyID(leaf)
	if hdr.Kid != "" && hdr.Kid != kid {
		return nil, reject(Malformed, "kid %s does not name the x5c leaf (its kid is %q)", quote(hdr.Kid), kid)
	}
	id, err := leafID(leaf)
	if err != nil {
		return nil, reject(NoSPIFFEID, "leaf certificate %s: %v", quote(leaf.Subject.String()), err)
	}

	_, verified, err := x509svid.Verify(chain, bundles, x509svid.WithTime(now))
	if err != nil {
		if outsideValidity(chain, now) && trustedAtSomeTime(chain, id, bundles) {
			return nil, reject(Expired, "the X509-SVID of %s is not valid at %s: %s", id, now.UTC().Format(time.RFC3339), validityOf(chain, now))
		}
		return nil, reject(ChainUntrusted, "the x5c chain of %s does not validate against the trust bundle: %v", id, err)
	}
	if !td.IsZero() && !id.MemberOf(td) {
		return nil, reject(ForeignTrustDomain, "signed by %s, which is not in trust domain %s", id, td)
	}

	alg, err := Algorithm(leaf.PublicKey)
	if err != nil {
		return nil, reject(SignatureInvalid, "leaf key of %s: %v", id, err)
	}
	if hdr.Alg != string(alg) {
		return nil, reject(SignatureInvalid, "alg %s does not fit the leaf key of %s (want %s)", quote(hdr.Alg), id, alg)
	}
	jws, err := jose.ParseDetached(s.Protected+".."+s.Signature, payload, []jose.SignatureAlgorithm{alg})
	if err != nil {
		return nil, reject(Malformed, "the JWS of %s cannot be read: %v", id, err)
	}
	if _, err := jws.Verify(leaf.PublicKey); err != nil {
		return nil, reject(SignatureInvalid, "the signature of %s does not match the card (changed after signing?)", id)
	}
	res := &Result{SPIFFEID: id, KeyID: kid, Algorithm: string(alg), NotAfter: leaf.NotAfter}
	if len(verified) > 0 {
		res.Chain = verified[0]
	}
	if s.Header != nil {
		res.Timestamp = s.Header.Timestamp
	}
	return res, nil
}

// leafID is the leaf's SPIFFE ID: exactly one URI SAN, and it a spiffe:// ID.
func leafID(leaf *x509.Certificate) (spiffeid.ID, error) {
	switch n := len(leaf.URIs); {
	case n == 0:
		return spiffeid.ID{}, errors.New("no URI SAN")
	case n > 1:
		return spiffeid.ID{}, fmt.Errorf("%d URI SANs, want exactly one spiffe:// ID", n)
	}
	if leaf.URIs[0].Scheme != "spiffe" {
		return spiffeid.ID{}, fmt.Errorf("URI SAN %s is not a spiffe:// ID", quote(leaf.URIs[0].String()))
	}
	id, err := spiffeid.FromURI(leaf.URIs[0])
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("URI SAN %s: %v", quote(leaf.URIs[0].String()), err)
	}
	return id, nil
}

// trustedAtSomeTime says whether the chain validates against one of the bundle's
// authorities at a time when all of them are valid: then time alone is what is wrong.
func trustedAtSomeTime(chain []*x509.Certificate, id spiffeid.ID, bundles x509bundle.Source) bool {
	b, err := bundles.GetX509BundleForTrustDomain(id.TrustDomain())
	if err != nil {
		return false
	}
	for _, a := range b.X509Authorities() {
		from, to := a.NotBefore, a.NotAfter
		for _, c := range chain {
			if c.NotBefore.After(from) {
				from = c.NotBefore
			}
			if c.NotAfter.Before(to) {
				to = c.NotAfter
			}
		}
		if from.After(to) {
			continue
		}
		at := from.Add(to.Sub(from) / 2)
		if _, _, err := x509svid.Verify(chain, bundles, x509svid.WithTime(at)); err == nil {
			return true
		}
	}
	return false
}

func outsideValidity(chain []*x509.Certificate, now time.Time) bool {
	for _, c := range chain {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			return true
		}
	}
	return false
}

func validityOf(chain []*x509.Certificate, now time.Time) string {
	for i, c := range chain {
		what := "the leaf"
		if i > 0 {
			what = fmt.Sprintf("x5c[%d] %s", i, quote(c.Subject.String()))
		}
		switch {
		case now.After(c.NotAfter):
			return fmt.Sprintf("%s expired at %s", what, c.NotAfter.UTC().Format(time.RFC3339))
		case now.Before(c.NotBefore):
			return fmt.Sprintf("%s is not valid before %s", what, c.NotBefore.UTC().Format(time.RFC3339))
		}
	}
	return "outside its validity"
}
