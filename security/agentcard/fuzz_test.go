package agentcard

import (
	"bytes"
	"testing"
	"time"
)

// FuzzVerify: no card, signed or not, however its JSON or its JWS headers are bent,
// makes Verify or Canonicalize panic; a card Verify accepts is one this CA signed, and a
// card changed after signing is never accepted.
func FuzzVerify(f *testing.F) {
	ca := newTestCA(f, "example.org")
	signed := mustSign(f, testCard, ca.svid(f, leafOpts{}))
	f.Add(signed)
	f.Add([]byte(testCard))
	f.Add([]byte(`{"signatures":[{"protected":"e30","signature":""}],"name":1}`))
	f.Add([]byte(`{"signatures":[{"protected":"eyJhbGciOiJub25lIn0","signature":""}]}`))
	f.Add(bytes.Repeat([]byte("["), 10000))
	f.Fuzz(func(t *testing.T, card []byte) {
		_, _ = Canonicalize(card)
		res, err := Verify(card, ca.bundle(), VerifyOptions{TrustDomain: "example.org", Now: time.Now()})
		if err != nil {
			return
		}
		if res.SPIFFEID.TrustDomain().Name() != "example.org" {
			t.Fatalf("accepted a signer of %s", res.SPIFFEID)
		}
		canon, err := Canonicalize(card)
		want, _ := Canonicalize(signed)
		if err != nil || !bytes.Equal(canon, want) {
			t.Fatalf("accepted a card that is not the one signed: %s", card)
		}
	})
}
