package hostile

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"
)

// trustBundlePEM is a SPIFFE CA certificate for example.org, made for the test.
func trustBundlePEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	td, _ := url.Parse("spiffe://example.org")
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "example.org CA"}, URIs: []*url.URL{td},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// cardWith is an agent card carrying the given signatures.
func cardWith(t *testing.T, sigs []map[string]any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"name": "weather-agent", "version": "1.0.0", "signatures": sigs})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func badSignatures(n int, protected string) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"protected": protected, "signature": "c2ln"}
	}
	return out
}

// TestAgentCardVerifyBounds: a card handed to `trustsync agentcard verify` is bounded in
// what it makes trustsync do and say: too many signatures or bytes are refused naming the
// bound, many bad signatures are counted rather than each described, and values quoted
// from the card are cut.
func TestAgentCardVerifyBounds(t *testing.T) {
	bundle := trustBundlePEM(t)
	verify := func(card string) []string {
		return []string{"agentcard", "verify", "--card", card, "--trust-bundle", "{tree}/bundle.pem", "--trust-domain", "example.org"}
	}
	files := func(card string) map[string]string { return map[string]string{"bundle.pem": bundle, "card.json": card} }
	hugeKid := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","kid":"` + strings.Repeat("K", 200000) + `","x5c":["AAAA"]}`))
	twoMiB := `{"name":"` + strings.Repeat("w", 2<<20) + `"}`
	run(t, []Case{
		{Name: "20,000 signatures", Files: files(cardWith(t, badSignatures(20000, "eyJ9"))), Args: verify("{tree}/card.json"), Exit: 1,
			Stderr: []string{"card.json", "signature rejected", "20000 signatures", "over the bound of 16"}, MaxStderr: 512},
		{Name: "16 rejected signatures", Files: files(cardWith(t, badSignatures(16, "!!"))), Args: verify("{tree}/card.json"), Exit: 1,
			Stderr: []string{"all 16 signatures rejected", "signature 0:", "and 13 more"}, MaxStderr: 2048},
		{Name: "a kid of 200,000 bytes", Files: files(cardWith(t, badSignatures(1, hugeKid))), Args: verify("{tree}/card.json"), Exit: 1,
			Stderr: []string{"card.json", "Malformed"}, MaxStderr: 1024},
		{Name: "2 MiB on stdin", Files: files(""), Args: verify("-"), Stdin: twoMiB, Exit: 1,
			Stderr: []string{"the card on stdin is over the bound of 1048576 bytes (1 MiB)"}, MaxStderr: 512},
		{Name: "a 2 MiB card file", Files: files(twoMiB), Args: verify("{tree}/card.json"), Exit: 1,
			Stderr: []string{"{tree}/card.json is over the bound of 1048576 bytes"}, MaxStderr: 512},
		{Name: "a 5 MiB trust bundle", Files: map[string]string{"bundle.pem": strings.Repeat(bundle, (5<<20)/len(bundle)+1), "card.json": cardWith(t, badSignatures(1, "!!"))},
			Args: verify("{tree}/card.json"), Exit: 1, Stderr: []string{"{tree}/bundle.pem is over the bound"}, MaxStderr: 512},
		{Name: "not JSON on stdin", Files: files(""), Args: verify("-"), Stdin: "<html>" + strings.Repeat("x", 1000), Exit: 1,
			Stderr: []string{"not valid JSON"}, MaxStderr: 512},
	})
}
