package identity

import (
	"strings"
	"testing"
)

func TestSPIFFEIDRoundTrip(t *testing.T) {
	id, err := SPIFFEID("example.org", "team-a", "weather")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := id.String(), "spiffe://example.org/ns/team-a/sa/weather"; got != want {
		t.Fatalf("SPIFFEID = %s, want %s", got, want)
	}
	for _, s := range []string{id.String(), strings.TrimPrefix(id.String(), "spiffe://")} {
		w, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		if w.String() != id.String() {
			t.Fatalf("Parse(%q) = %s", s, w)
		}
	}
}

func TestInvalid(t *testing.T) {
	if _, err := SPIFFEID("Bad Domain", "a", "b"); err == nil {
		t.Error("want error for an invalid trust domain")
	}
	for _, s := range []string{"spiffe://example.org/ns/a", "spiffe://example.org/x/a/sa/b", "http://example.org/ns/a/sa/b", "spiffe://example.org/ns/a/sa/b/c"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q): want error", s)
		}
	}
}
