package agentcard

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// TestVerifyBounds: whatever a card holds, Verify does bounded work and its message is
// bounded: too many signatures or certificates are refused before any is checked, many
// rejected signatures are counted rather than each described, and values quoted from
// the card are cut.
func TestVerifyBounds(t *testing.T) {
	ca := newTestCA(t, "example.org")
	signed := mustSign(t, testCard, ca.svid(t, leafOpts{}))
	_, good := firstSignature(t, signed)
	leafB64 := base64.StdEncoding.EncodeToString(ca.svid(t, leafOpts{}).Certificates[0].Raw)
	bad := func(i int) map[string]any {
		return map[string]any{"protected": header(t, map[string]any{"alg": "ES256", "kid": fmt.Sprintf("k%d", i), "x5c": []string{leafB64}}), "signature": "x"}
	}
	sigs := func(n int) []map[string]any {
		out := make([]map[string]any, n)
		for i := range out {
			out[i] = bad(i)
		}
		return out
	}
	longKid := strings.Repeat("K", 100000)
	tests := []struct {
		name     string
		card     []byte
		want     Reason
		wantMsg  []string
		maxBytes int
	}{
		{name: "20,000 signatures", card: withSignatures(t, signed, sigs(20000)...), want: Malformed,
			wantMsg: []string{"20000 signatures", "bound of 16"}, maxBytes: 200},
		{name: "one over the bound, a good one among them", card: withSignatures(t, signed, append(sigs(MaxSignatures), good)...), want: Malformed,
			wantMsg: []string{"17 signatures", "bound of 16"}, maxBytes: 200},
		{name: "every signature of the bound rejected", card: withSignatures(t, signed, sigs(MaxSignatures)...), want: Malformed,
			wantMsg: []string{"all 16 signatures rejected", "signature 0:", "signature 1:", "signature 2:", "and 13 more"}, maxBytes: 3 * (maxProblemBytes + 64)},
		{name: "a kid of 100,000 bytes", card: withSignatures(t, signed, map[string]any{"protected": header(t, map[string]any{"alg": "ES256", "kid": longKid, "x5c": []string{leafB64}}), "signature": "x"}), want: Malformed,
			wantMsg: []string{"kid \"KKKK"}, maxBytes: maxProblemBytes + 64},
		{name: "a chain of 1,000 certificates", card: withSignatures(t, signed, map[string]any{"protected": header(t, map[string]any{"alg": "ES256", "x5c": slicesRepeat(leafB64, 1000)}), "signature": "x"}), want: Malformed,
			wantMsg: []string{"1000 certificates", "bound of 10"}, maxBytes: 200},
		{name: "a duplicate member of 100,000 bytes", card: []byte(`{"` + longKid + `":1,"` + longKid + `":2}`), want: Malformed,
			wantMsg: []string{"duplicate member"}, maxBytes: 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(tt.card, ca.bundle(), VerifyOptions{})
			if ReasonOf(err) != tt.want {
				t.Fatalf("err = %.300v, want %s", err, tt.want)
			}
			for _, w := range tt.wantMsg {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %.600q lacks %q", err, w)
				}
			}
			if n := len(err.Error()); n > tt.maxBytes {
				t.Errorf("message is %d bytes, over %d: %.300s", n, tt.maxBytes, err)
			}
		})
	}
}

func slicesRepeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestReadCard(t *testing.T) {
	for _, tt := range []struct {
		size int
		want string // "" = read
	}{
		{MaxCardBytes, ""},
		{MaxCardBytes + 1, "the card on stdin is over the bound of 1048576 bytes (1 MiB)"},
		{2 << 20, "the card on stdin is over the bound of 1048576 bytes (1 MiB)"},
	} {
		data, err := ReadCard(bytes.NewReader(bytes.Repeat([]byte(" "), tt.size)), "the card on stdin")
		switch {
		case tt.want == "" && (err != nil || len(data) != tt.size):
			t.Errorf("%d bytes: %d read, %v", tt.size, len(data), err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%d bytes: %v, want %q", tt.size, err, tt.want)
		}
	}
}
