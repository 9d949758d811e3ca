package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/trustsync/trustsync/internal/spiretest"
)

const cliCard = `{"name":"weather-agent","url":"http://weather.team-a.svc:8000/","skills":[{"id":"forecast"}]}`

func runAgentCard(stdin string, args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	cmd := newAgentCardCommand()
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	if err = cmd.Execute(); err != nil {
		printErrors(&errb, err)
	}
	return out.String(), errb.String(), err
}

// cliCA writes a SPIFFE CA and one SVID for spiffe://example.org/ns/team-a/sa/weather
// into dir, as PEM (svid.pem, svid.key, bundle.pem) and as a SPIFFE bundle (bundle.spiffe).
func cliCA(t *testing.T, dir string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "example.org CA"},
		URIs:      []*url.URL{{Scheme: "spiffe", Host: "example.org"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		URIs:         []*url.URL{{Scheme: "spiffe", Host: "example.org", Path: "/ns/team-a/sa/weather"}},
		NotBefore:    time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := spiffebundle.FromX509Authorities(spiffeid.RequireTrustDomainFromString("example.org"), []*x509.Certificate{ca}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"svid.pem":      pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		"svid.key":      pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		"bundle.pem":    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		"bundle.spiffe": bundle,
		"card.json":     []byte(cliCard),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAgentCardSignAndVerify(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	cliCA(t, dir)
	cliCA(t, other) // another CA of the same trust domain
	p := func(name string) string { return filepath.Join(dir, name) }

	signed, errOut, err := runAgentCard("", "sign", "--card", p("card.json"), "--svid-cert", p("svid.pem"), "--svid-key", p("svid.key"))
	if err != nil {
		t.Fatalf("sign: %v\n%s", err, errOut)
	}
	if !strings.Contains(signed, `"signatures"`) || !strings.Contains(signed, `"weather-agent"`) {
		t.Fatalf("sign printed:\n%s", signed)
	}
	write := func(name, data string) string {
		if err := os.WriteFile(p(name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p(name)
	}
	write("signed.json", signed)
	write("tampered.json", strings.Replace(signed, "weather-agent", "evil-agent", 1))

	const id = "spiffe://example.org/ns/team-a/sa/weather"
	tests := []struct {
		name    string
		stdin   string
		args    []string
		wantOut string
		wantErr string
	}{
		{name: "PEM bundle", args: []string{"verify", "--card", p("signed.json"), "--trust-bundle", p("bundle.pem")}, wantOut: id + "\n"},
		{name: "SPIFFE bundle, bound to its trust domain", args: []string{"verify", "--card", p("signed.json"), "--trust-bundle", p("bundle.spiffe"), "--trust-domain", "example.org"}, wantOut: id + "\n"},
		{name: "card on stdin", stdin: signed, args: []string{"verify", "--card", "-", "--trust-bundle", p("bundle.pem")}, wantOut: id + "\n"},
		{name: "sign from stdin", stdin: cliCard, args: []string{"sign", "--card", "-", "--svid-cert", p("svid.pem"), "--svid-key", p("svid.key")}, wantOut: `"signatures"`},
		{name: "tampered card", args: []string{"verify", "--card", p("tampered.json"), "--trust-bundle", p("bundle.pem")}, wantErr: "signature rejected: SignatureInvalid"},
		{name: "foreign trust domain", args: []string{"verify", "--card", p("signed.json"), "--trust-bundle", p("bundle.pem"), "--trust-domain", "other.org"}, wantErr: "ForeignTrustDomain"},
		{name: "bundle of another CA", args: []string{"verify", "--card", p("signed.json"), "--trust-bundle", filepath.Join(other, "bundle.spiffe")}, wantErr: "ChainUntrusted"},
		{name: "unsigned card", args: []string{"verify", "--card", p("card.json"), "--trust-bundle", p("bundle.pem")}, wantErr: "Unsigned"},
		{name: "bundle not a bundle", args: []string{"verify", "--card", p("signed.json"), "--trust-bundle", p("card.json")}, wantErr: "bundle.json"},
		{name: "missing trust bundle flag", args: []string{"verify", "--card", p("signed.json")}, wantErr: `"trust-bundle" not set`},
		{name: "sign without an SVID", args: []string{"sign", "--card", p("card.json")}, wantErr: "at least one of the flags"},
		{name: "sign with both SVID sources", args: []string{"sign", "--card", p("card.json"), "--svid-cert", p("svid.pem"), "--svid-key", p("svid.key"), "--workload-api", "unix:///nope.sock"}, wantErr: "none of the others can be"},
		{name: "sign with the CA as SVID", args: []string{"sign", "--card", p("card.json"), "--svid-cert", p("bundle.pem"), "--svid-key", p("svid.key")}, wantErr: "reading the X509-SVID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := runAgentCard(tt.stdin, tt.args...)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("%v\n%s", err, errOut)
				}
				if !strings.Contains(out, tt.wantOut) || (strings.HasSuffix(tt.wantOut, "\n") && out != tt.wantOut) {
					t.Fatalf("stdout %q, want %q", out, tt.wantOut)
				}
				return
			}
			if err == nil {
				t.Fatalf("exit 0 with stdout %q, want an error with %q", out, tt.wantErr)
			}
			if out != "" {
				t.Errorf("a failed command printed to stdout: %q", out)
			}
			if tt.name == "bundle not a bundle" {
				tt.wantErr = "card.json" // the error names the bundle file
			}
			if !strings.Contains(errOut, tt.wantErr) || !strings.HasPrefix(errOut, "error: ") {
				t.Errorf("stderr %q, want an error: line with %q", errOut, tt.wantErr)
			}
		})
	}
}

// TestAgentCardWorkloadAPI signs with the SVID a real SPIRE agent serves and verifies
// against the bundle that SPIRE serves.
func TestAgentCardWorkloadAPI(t *testing.T) {
	srv := spiretest.Run(t, spiretest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	weather, planner := srv.ID("/ns/team-a/sa/weather"), srv.ID("/ns/team-b/sa/planner")
	for _, id := range []spiffeid.ID{weather, planner} {
		if err := srv.AddWorkload(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.WaitForSVID(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	bundle, err := srv.Bundle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pemBundle, err := bundle.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bundleFile, cardFile, signedFile := filepath.Join(dir, "bundle.pem"), filepath.Join(dir, "card.json"), filepath.Join(dir, "signed.json")
	if err := os.WriteFile(bundleFile, pemBundle, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cardFile, []byte(cliCard), 0o600); err != nil {
		t.Fatal(err)
	}

	signed, errOut, err := runAgentCard("", "sign", "--card", cardFile, "--workload-api", srv.SocketAddr(), "--spiffe-id", planner.String())
	if err != nil {
		t.Fatalf("sign: %v\n%s", err, errOut)
	}
	if err := os.WriteFile(signedFile, []byte(signed), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runAgentCard("", "verify", "--card", signedFile, "--trust-bundle", bundleFile, "--trust-domain", srv.TrustDomain().Name())
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, errOut)
	}
	if out != planner.String()+"\n" {
		t.Fatalf("verify printed %q, want the SVID picked by --spiffe-id, %s", out, planner)
	}
	if _, errOut, err := runAgentCard("", "sign", "--card", cardFile, "--workload-api", srv.SocketAddr(), "--spiffe-id", srv.ID("/ns/x/sa/y").String()); err == nil || !strings.Contains(errOut, "serves no X509-SVID") {
		t.Fatalf("sign with an unregistered --spiffe-id: err %v, stderr %q", err, errOut)
	}
}
