package agentcard

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

const testCard = `{
  "name": "weather-agent",
  "description": "Forecasts <weather> & more",
  "url": "http://weather.team-a.svc:8000/",
  "version": "1.0.0",
  "protocolVersion": "0.3.0",
  "capabilities": {"streaming": true},
  "defaultInputModes": ["text"],
  "skills": [{"id": "forecast", "name": "Forecast", "tags": ["weather", "météo"], "examples": ["Rain in 東京?"]}],
  "provider": {"organization": "team-a", "url": "https://example.org"},
  "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
  "rating": 4.50,
  "id": 12345678901234567890
}`

func mustSign(t testing.TB, card string, svid *x509svid.SVID) []byte {
	t.Helper()
	out, err := Sign([]byte(card), svid, SignOptions{Now: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// firstSignature returns the decoded protected header and the signature entry.
func firstSignature(t *testing.T, card []byte) (map[string]any, map[string]any) {
	t.Helper()
	var doc struct {
		Signatures []map[string]any `json:"signatures"`
	}
	if err := json.Unmarshal(card, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Signatures) != 1 {
		t.Fatalf("%d signatures, want 1", len(doc.Signatures))
	}
	raw, err := base64.RawURLEncoding.DecodeString(doc.Signatures[0]["protected"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var hdr map[string]any
	if err := json.Unmarshal(raw, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr, doc.Signatures[0]
}

func TestSignWritesTheKagentiHeader(t *testing.T) {
	ca := newTestCA(t, "example.org")
	svid := ca.svid(t, leafOpts{})
	signed := mustSign(t, testCard, svid)

	hdr, sig := firstSignature(t, signed)
	sum := sha256.Sum256(svid.Certificates[0].Raw)
	want := map[string]any{
		"alg": "ES256",
		"kid": hex.EncodeToString(sum[:8]),
		"typ": "JOSE",
		"x5c": []any{base64.StdEncoding.EncodeToString(svid.Certificates[0].Raw)},
	}
	for k, v := range want {
		got, _ := json.Marshal(hdr[k])
		w, _ := json.Marshal(v)
		if !bytes.Equal(got, w) {
			t.Errorf("protected header %s = %s, want %s", k, got, w)
		}
	}
	if len(hdr) != len(want) {
		t.Errorf("protected header has %d members, want %d: %v", len(hdr), len(want), hdr)
	}
	if got := sig["header"].(map[string]any)["timestamp"]; got != "2026-12-01T08:00:00Z" {
		t.Errorf("header.timestamp = %v", got)
	}
	if strings.ContainsAny(sig["signature"].(string), "=+/") || strings.ContainsAny(sig["protected"].(string), "=+/") {
		t.Errorf("signature entry is not unpadded base64url: %v", sig)
	}

	// Everything else is kept: unknown members, number literals, HTML-ish text.
	for _, keep := range []string{`"provider"`, `"securitySchemes"`, `12345678901234567890`, `4.50`, `<weather> & more`, `東京`} {
		if !bytes.Contains(signed, []byte(keep)) {
			t.Errorf("signed card lost %s:\n%s", keep, signed)
		}
	}
	before, _ := CardID([]byte(testCard))
	after, _ := CardID(signed)
	if before != after {
		t.Error("signing changed the canonical card")
	}

	// Re-signing replaces the signature rather than piling them up.
	again := mustSign(t, string(signed), ca.svid(t, leafOpts{}))
	firstSignature(t, again)
}

func TestSignAlgorithms(t *testing.T) {
	ca := newTestCA(t, "example.org")
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	for _, tc := range []struct {
		alg  string
		opts leafOpts
	}{
		{"ES256", leafOpts{}},
		{"ES384", leafOpts{key: p384}},
		{"ES512", leafOpts{key: p521}},
		{"RS256", leafOpts{key: rsaKey(t, 2048)}},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			svid := ca.svid(t, tc.opts)
			signed := mustSign(t, testCard, svid)
			hdr, _ := firstSignature(t, signed)
			if hdr["alg"] != tc.alg {
				t.Fatalf("alg = %v, want %s", hdr["alg"], tc.alg)
			}
			res, err := Verify(signed, ca.bundle(), VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Algorithm != tc.alg || res.SPIFFEID != svid.ID || res.KeyID != KeyID(svid.Certificates[0]) {
				t.Fatalf("result %+v", res)
			}
		})
	}
}

func TestSignRefuses(t *testing.T) {
	ca := newTestCA(t, "example.org")
	good := ca.svid(t, leafOpts{})
	small := ca.svid(t, leafOpts{key: rsaKey(t, 1024)})
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mismatched := &x509svid.SVID{ID: good.ID, Certificates: good.Certificates, PrivateKey: otherKey}
	for name, tc := range map[string]struct {
		card string
		svid *x509svid.SVID
		want string
	}{
		"no SVID":           {testCard, nil, "no X509-SVID"},
		"RSA 1024":          {testCard, small, "at least 2048"},
		"key of another":    {testCard, mismatched, "does not belong"},
		"card not JSON":     {`name: x`, good, "not valid JSON"},
		"duplicate members": {`{"name":"a","name":"b"}`, good, "duplicate"},
	} {
		if _, err := Sign([]byte(tc.card), tc.svid, SignOptions{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to contain %q", name, err, tc.want)
		}
	}
}

// header builds a protected header by hand, for the cases Sign never produces.
func header(t *testing.T, fields map[string]any) string {
	t.Helper()
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func withSignatures(t *testing.T, card []byte, sigs ...map[string]any) []byte {
	t.Helper()
	doc, err := parseCard(card) // keeps number literals, as a JSON-preserving tool would
	if err != nil {
		t.Fatal(err)
	}
	list := []any{}
	for _, s := range sigs {
		list = append(list, s)
	}
	doc["signatures"] = list
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerify(t *testing.T) {
	ca := newTestCA(t, "example.org")
	impostor := newTestCA(t, "example.org") // same name, other key
	foreign := newTestCA(t, "other.test")
	both := x509bundle.NewSet(ca.bundle(), foreign.bundle())
	now := time.Now()

	good := ca.svid(t, leafOpts{})
	signed := mustSign(t, testCard, good)
	_, goodSig := firstSignature(t, signed)
	leafB64 := base64.StdEncoding.EncodeToString(good.Certificates[0].Raw)

	tampered := bytes.Replace(signed, []byte("weather-agent"), []byte("weather-agent2"), 1)
	var reindented bytes.Buffer
	if err := json.Indent(&reindented, signed, "\t", "\t"); err != nil {
		t.Fatal(err)
	}
	otherSigned := mustSign(t, testCard, ca.svid(t, leafOpts{}))
	_, otherSig := firstSignature(t, otherSigned)
	swapped := withSignatures(t, signed, map[string]any{"protected": goodSig["protected"], "signature": otherSig["signature"]})
	badFirst := withSignatures(t, signed, map[string]any{"protected": "!!", "signature": "x"}, goodSig)

	tests := []struct {
		name    string
		card    []byte
		bundles x509bundle.Source
		opts    VerifyOptions
		want    Reason // "" = verifies
		wantMsg string
	}{
		{name: "signed card", card: signed, bundles: ca.bundle()},
		{name: "re-indented signed card", card: reindented.Bytes(), bundles: ca.bundle()},
		{name: "bound to its own trust domain", card: signed, bundles: ca.bundle(), opts: VerifyOptions{TrustDomain: "example.org"}},
		{name: "second signature verifies", card: badFirst, bundles: ca.bundle()},
		{name: "no signatures", card: []byte(testCard), bundles: ca.bundle(), want: Unsigned},
		{name: "empty signatures", card: withSignatures(t, signed), bundles: ca.bundle(), want: Unsigned},
		{name: "signatures not a list", card: []byte(`{"name":"a","signatures":"x"}`), bundles: ca.bundle(), want: Malformed},
		{name: "card not JSON", card: []byte(`{"name":`), bundles: ca.bundle(), want: Malformed},
		{name: "protected not base64url", card: withSignatures(t, signed, map[string]any{"protected": "!!", "signature": "x"}), bundles: ca.bundle(), want: Malformed},
		{name: "no x5c", card: withSignatures(t, signed, map[string]any{"protected": header(t, map[string]any{"alg": "ES256"}), "signature": "x"}), bundles: ca.bundle(), want: Malformed, wantMsg: "no x5c"},
		{name: "x5c not a certificate", card: withSignatures(t, signed, map[string]any{"protected": header(t, map[string]any{"alg": "ES256", "x5c": []string{"AAAA"}}), "signature": "x"}), bundles: ca.bundle(), want: Malformed},
		{name: "wrong kid", card: withSignatures(t, signed, map[string]any{"protected": header(t, map[string]any{"alg": "ES256", "kid": "0011223344556677", "x5c": []string{leafB64}}), "signature": goodSig["signature"]}), bundles: ca.bundle(), want: Malformed, wantMsg: "kid"},
		{name: "wrong typ", card: withSignatures(t, signed, map[string]any{"protected": header(t, map[string]any{"alg": "ES256", "typ": "JWT", "x5c": []string{leafB64}}), "signature": goodSig["signature"]}), bundles: ca.bundle(), want: Malformed, wantMsg: "typ"},
		{name: "alg does not fit the key", card: withSignatures(t, signed, map[string]any{"protected": header(t, map[string]any{"alg": "RS256", "x5c": []string{leafB64}}), "signature": goodSig["signature"]}), bundles: ca.bundle(), want: SignatureInvalid, wantMsg: "alg"},
		{name: "alg none", card: withSignatures(t, signed, map[string]any{"protected": header(t, map[string]any{"alg": "none", "x5c": []string{leafB64}}), "signature": "AA"}), bundles: ca.bundle(), want: SignatureInvalid},
		{name: "tampered card", card: tampered, bundles: ca.bundle(), want: SignatureInvalid, wantMsg: "spiffe://example.org/ns/team-a/sa/weather"},
		{name: "signature of another key", card: swapped, bundles: ca.bundle(), want: SignatureInvalid},
		{name: "chain from another CA", card: signed, bundles: impostor.bundle(), want: ChainUntrusted},
		{name: "no bundle for the signer's trust domain", card: mustSign(t, testCard, foreign.svid(t, leafOpts{})), bundles: ca.bundle(), want: ChainUntrusted, wantMsg: "other.test"},
		{name: "foreign trust domain", card: mustSign(t, testCard, foreign.svid(t, leafOpts{})), bundles: both, opts: VerifyOptions{TrustDomain: "example.org"}, want: ForeignTrustDomain, wantMsg: "spiffe://other.test/ns/team-a/sa/weather"},
		{name: "no URI SAN", card: mustSign(t, testCard, ca.svid(t, leafOpts{noURI: true})), bundles: ca.bundle(), want: NoSPIFFEID},
		{name: "two URI SANs", card: mustSign(t, testCard, ca.svid(t, leafOpts{uris: []string{"spiffe://example.org/a", "spiffe://example.org/b"}})), bundles: ca.bundle(), want: NoSPIFFEID},
		{name: "https URI SAN", card: mustSign(t, testCard, ca.svid(t, leafOpts{uris: []string{"https://example.org/a"}})), bundles: ca.bundle(), want: NoSPIFFEID},
		{name: "expired leaf", card: mustSign(t, testCard, ca.svid(t, leafOpts{notBefore: now.Add(-2 * time.Hour), notAfter: now.Add(-time.Hour)})), bundles: ca.bundle(), want: Expired, wantMsg: "expired at"},
		{name: "leaf not yet valid", card: mustSign(t, testCard, ca.svid(t, leafOpts{notBefore: now.Add(time.Hour), notAfter: now.Add(2 * time.Hour)})), bundles: ca.bundle(), want: Expired, wantMsg: "not valid before"},
		{name: "valid leaf checked after its expiry", card: signed, bundles: ca.bundle(), opts: VerifyOptions{Now: now.Add(2 * time.Hour)}, want: Expired},
		{name: "expired and untrusted", card: mustSign(t, testCard, impostor.svid(t, leafOpts{notBefore: now.Add(-2 * time.Hour), notAfter: now.Add(-time.Hour)})), bundles: ca.bundle(), want: ChainUntrusted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Verify(tt.card, tt.bundles, tt.opts)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if res.SPIFFEID != good.ID || res.KeyID != KeyID(good.Certificates[0]) || len(res.Chain) != 2 || res.CardID == "" {
					t.Fatalf("result %+v", res)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted the card (signer %s), want %s", res.SPIFFEID, tt.want)
			}
			if got := ReasonOf(err); got != tt.want {
				t.Fatalf("reason %q (%v), want %s", got, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("message %q lacks %q", err, tt.wantMsg)
			}
		})
	}
}

func TestVerifyReportsEverySignature(t *testing.T) {
	ca := newTestCA(t, "example.org")
	signed := mustSign(t, testCard, ca.svid(t, leafOpts{}))
	_, sig := firstSignature(t, signed)
	card := withSignatures(t, bytes.Replace(signed, []byte("1.0.0"), []byte("6.6.6"), 1), sig, map[string]any{"protected": "!!", "signature": "x"})
	_, err := Verify(card, ca.bundle(), VerifyOptions{})
	if ReasonOf(err) != SignatureInvalid || !strings.Contains(err.Error(), "signature 0:") || !strings.Contains(err.Error(), "signature 1: protected header") {
		t.Fatalf("err = %v, want the first signature's reason and both signatures named", err)
	}
}

func TestVerifyRejectsABadTrustDomainOption(t *testing.T) {
	ca := newTestCA(t, "example.org")
	_, err := Verify(mustSign(t, testCard, ca.svid(t, leafOpts{})), ca.bundle(), VerifyOptions{TrustDomain: "Not A Domain"})
	if err == nil || ReasonOf(err) != "" {
		t.Fatalf("err = %v, want a configuration error that is not a card rejection", err)
	}
}
