package mtls_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/trustsync/trustsync/dataplane/mtls"
	"github.com/trustsync/trustsync/internal/x509test"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

func TestAuthorize(t *testing.T) {
	member, listed := idIn(td, "/ns/x/sa/a"), idIn(td, "/ns/x/sa/b")
	tests := []struct {
		name string
		a    mtls.Authorizer
		id   spiffeid.ID
		want string // "" authorized, else a substring of the error
	}{
		{"member, no allowlist", mtls.Authorizer{TrustDomain: td}, member, ""},
		{"member listed", mtls.Authorizer{TrustDomain: td, Allowed: []spiffeid.ID{member, listed}}, listed, ""},
		{"member not listed", mtls.Authorizer{TrustDomain: td, Allowed: []spiffeid.ID{listed}}, member, "spiffe://td/ns/x/sa/a is not in the allowlist"},
		{"allowlist of zero IDs only", mtls.Authorizer{TrustDomain: td, Allowed: []spiffeid.ID{{}}}, member, "not in the allowlist"},
		{"other trust domain", mtls.Authorizer{TrustDomain: td}, idIn(foreign, "/ns/x/sa/a"), "not a member of trust domain td"},
		{"other trust domain, even listed", mtls.Authorizer{TrustDomain: td, Allowed: []spiffeid.ID{idIn(foreign, "/ns/x/sa/a")}}, idIn(foreign, "/ns/x/sa/a"), "not a member"},
		{"no trust domain configured", mtls.Authorizer{}, member, "no trust domain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.a.Authorize(tt.id)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Authorize(%s) = %v, want nil", tt.id, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, mtls.ErrPeerUnauthorized)):
				t.Fatalf("Authorize(%s) = %v, want an ErrPeerUnauthorized containing %q", tt.id, err, tt.want)
			}
		})
	}
}

// TestHandshake runs one HTTP request from an outbound Dialer to a strict listener per
// case and checks both sides' outcome and counters: IDs are authorized on both sides at
// the handshake (upstream checked none).
func TestHandshake(t *testing.T) {
	p := newPKI(t)
	serverID, clientID, otherID := idIn(td, serverPath), idIn(td, clientPath), idIn(td, otherPath)
	foreignID := idIn(foreign, clientPath)
	tdBundle, foreignBundle := p.ca.Bundle("td"), p.foreignCA.Bundle("foreign")

	type side struct {
		src  source
		auth mtls.Authorizer
	}
	member := mtls.Authorizer{TrustDomain: td}
	okServer := side{newSource(svid(t, p.ca, serverID), tdBundle), member}
	okClient := side{newSource(svid(t, p.ca, clientID), tdBundle), member}

	tests := []struct {
		name           string
		server, client side
		wantDialErr    error // errors.Is target of the client's error; nil with wantErr for any
		wantErr        bool  // the request fails
		want           map[string]float64
	}{
		{
			name: "trust-domain members, no allowlists", server: okServer, client: okClient,
			want: map[string]float64{"inbound/tls_accepted": 1, "outbound/ok": 1},
		},
		{
			name:   "each listed in the other's allowlist",
			server: side{okServer.src, mtls.Authorizer{TrustDomain: td, Allowed: []spiffeid.ID{otherID, clientID}}},
			client: side{okClient.src, mtls.Authorizer{TrustDomain: td, Allowed: []spiffeid.ID{serverID}}},
			want:   map[string]float64{"inbound/tls_accepted": 1, "outbound/ok": 1},
		},
		{
			// TLS 1.3: the client finishes its handshake before the server reads its
			// certificate, so the dial succeeds and the refusal arrives on the first read.
			name:    "server's allowlist refuses a trust-domain member",
			server:  side{okServer.src, mtls.Authorizer{TrustDomain: td, Allowed: []spiffeid.ID{otherID}}},
			client:  okClient,
			wantErr: true,
			want:    map[string]float64{"inbound/peer_unauthorized": 1, "outbound/ok": 1},
		},
		{
			name:        "client's allowlist refuses the callee",
			server:      okServer,
			client:      side{okClient.src, mtls.Authorizer{TrustDomain: td, Allowed: []spiffeid.ID{otherID}}},
			wantErr:     true,
			wantDialErr: mtls.ErrPeerUnauthorized,
			want:        map[string]float64{"inbound/handshake_failed": 1, "outbound/peer_unauthorized": 1},
		},
		{
			name:    "client of a foreign trust domain the server has no bundle for",
			server:  okServer,
			client:  side{newSource(svid(t, p.foreignCA, foreignID), tdBundle), member},
			wantErr: true,
			want:    map[string]float64{"inbound/handshake_failed": 1, "outbound/ok": 1},
		},
		{
			name:    "federated client outside the trust domain: its chain verifies, its ID is refused",
			server:  side{newSource(svid(t, p.ca, serverID), tdBundle, foreignBundle), member},
			client:  side{newSource(svid(t, p.foreignCA, foreignID), tdBundle), member},
			wantErr: true,
			want:    map[string]float64{"inbound/peer_unauthorized": 1, "outbound/ok": 1},
		},
		{
			name:        "federated callee outside the trust domain",
			server:      side{newSource(svid(t, p.foreignCA, idIn(foreign, serverPath)), tdBundle), member},
			client:      side{newSource(svid(t, p.ca, clientID), tdBundle, foreignBundle), member},
			wantErr:     true,
			wantDialErr: mtls.ErrPeerUnauthorized,
			want:        map[string]float64{"inbound/handshake_failed": 1, "outbound/peer_unauthorized": 1},
		},
		{
			name:    "callee's SVID from a CA the client does not trust",
			server:  side{newSource(svid(t, p.otherCA, serverID), tdBundle), member},
			client:  okClient,
			wantErr: true,
			want:    map[string]float64{"inbound/handshake_failed": 1, "outbound/failed": 1},
		},
		{
			name:    "SVID expired",
			server:  okServer,
			client:  side{newSource(p.ca.SVID(t, clientID.String(), x509test.Options{NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}), tdBundle), member},
			wantErr: true,
			want:    map[string]float64{"inbound/handshake_failed": 1, "outbound/ok": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMetered(t)
			addr := serve(t, sidecarconfig.MTLSStrict, mtls.ServerConfig(tt.server.src, tt.server.auth, m.Metrics), mtls.ListenOptions{Metrics: m.Metrics})
			c := mtlsClient(mtls.ClientConfig(tt.client.src, tt.client.auth, m.Metrics), m.Metrics, false)
			res, err := get(c, addr)
			switch {
			case tt.wantErr && err == nil:
				t.Fatalf("request succeeded (server saw %q), want an error", res.body)
			case !tt.wantErr && err != nil:
				t.Fatalf("request: %v", err)
			case tt.wantDialErr != nil && !errors.Is(err, tt.wantDialErr):
				t.Fatalf("request: %v, want an error wrapping %v", err, tt.wantDialErr)
			}
			if !tt.wantErr {
				if res.body != clientID.String() {
					t.Errorf("server saw peer %q, want %s", res.body, clientID)
				}
				if got, ok := mtls.PeerID(res.tls); !ok || got != serverID {
					t.Errorf("client saw peer %v (%v), want %s", got, ok, serverID)
				}
				if res.tls.Version != tls.VersionTLS13 || res.tls.NegotiatedProtocol != "" {
					t.Errorf("version %x, ALPN %q: want TLS 1.3 without ALPN", res.tls.Version, res.tls.NegotiatedProtocol)
				}
			}
			m.waitCounts(t, tt.want)
		})
	}
}

// TestTLS12Refused: both configurations speak TLS 1.3 only.
func TestTLS12Refused(t *testing.T) {
	p := newPKI(t)
	m := newMetered(t)
	src := newSource(svid(t, p.ca, idIn(td, serverPath)), p.ca.Bundle("td"))
	addr := serve(t, sidecarconfig.MTLSStrict, mtls.ServerConfig(src, mtls.Authorizer{TrustDomain: td}, m.Metrics), mtls.ListenOptions{Metrics: m.Metrics})
	cfg := mtls.ClientConfig(newSource(svid(t, p.ca, idIn(td, clientPath)), p.ca.Bundle("td")), mtls.Authorizer{TrustDomain: td}, nil)
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	if _, err := mtls.Dialer(cfg, time.Second, nil)(context.Background(), "tcp", addr); err == nil {
		t.Fatal("a TLS 1.2 client completed a handshake")
	}
	m.waitCounts(t, map[string]float64{"inbound/handshake_failed": 1})
}

// TestRotation swaps the server's trust bundle to a new CA: the next handshake trusts the
// new CA and not the old, also when the client resumes a session made before the swap
// (upstream kept trusting the CA it loaded at startup).
func TestRotation(t *testing.T) {
	p := newPKI(t)
	oldCA, newCA := p.ca, p.otherCA
	serverID, clientID := idIn(td, serverPath), idIn(td, clientPath)
	serverSrc := newSource(svid(t, oldCA, serverID), oldCA.Bundle("td"))
	m := newMetered(t)
	addr := serve(t, sidecarconfig.MTLSStrict, mtls.ServerConfig(serverSrc, mtls.Authorizer{TrustDomain: td}, m.Metrics), mtls.ListenOptions{Metrics: m.Metrics})

	member := mtls.Authorizer{TrustDomain: td}
	oldClientSrc := newSource(svid(t, oldCA, clientID), oldCA.Bundle("td"))
	oldClient := mtlsClient(mtls.ClientConfig(oldClientSrc, member, nil), nil, false) // a new connection per request

	first, err := get(oldClient, addr)
	if err != nil {
		t.Fatalf("before the rotation: %v", err)
	}
	second, err := get(oldClient, addr)
	if err != nil {
		t.Fatalf("before the rotation, again: %v", err)
	}
	if first.tls.DidResume || !second.tls.DidResume {
		t.Fatalf("resumed: first %v, second %v; want false, true (the client caches sessions)", first.tls.DidResume, second.tls.DidResume)
	}

	serverSrc.Add(newCA.Bundle("td")) // replaces the trust domain's bundle

	if res, err := get(oldClient, addr); err == nil {
		t.Fatalf("after the rotation a resumed session of the old CA was accepted (resumed %v)", res.tls.DidResume)
	}
	fresh := mtlsClient(mtls.ClientConfig(oldClientSrc, member, nil), nil, false)
	if _, err := get(fresh, addr); err == nil {
		t.Fatal("after the rotation an SVID of the old CA was accepted")
	}
	newClient := mtlsClient(mtls.ClientConfig(newSource(svid(t, newCA, clientID), oldCA.Bundle("td")), member, nil), nil, false)
	res, err := get(newClient, addr)
	if err != nil {
		t.Fatalf("after the rotation an SVID of the new CA: %v", err)
	}
	if res.body != clientID.String() {
		t.Fatalf("server saw %q, want %s", res.body, clientID)
	}
	m.waitCounts(t, map[string]float64{"inbound/tls_accepted": 3, "inbound/handshake_failed": 2})
}

// TestResumedSessionRevalidated: a resumed session is authorized again by the current
// configuration, not trusted for having been authorized once.
func TestResumedSessionRevalidated(t *testing.T) {
	p := newPKI(t)
	serverID, clientID := idIn(td, serverPath), idIn(td, clientPath)
	serverSrc := newSource(svid(t, p.ca, serverID), p.ca.Bundle("td"))
	clientSrc := newSource(svid(t, p.ca, clientID), p.ca.Bundle("td"))
	client := mtls.ClientConfig(clientSrc, mtls.Authorizer{TrustDomain: td}, nil)

	// Two servers on one ticket key: a ticket the permissive one issued is presented to
	// the restrictive one, which must refuse it.
	open := mtls.ServerConfig(serverSrc, mtls.Authorizer{TrustDomain: td}, nil)
	m := newMetered(t)
	closed := mtls.ServerConfig(serverSrc, mtls.Authorizer{TrustDomain: td, Allowed: []spiffeid.ID{idIn(td, otherPath)}}, m.Metrics)
	var key [32]byte
	open.SetSessionTicketKeys([][32]byte{key})
	closed.SetSessionTicketKeys([][32]byte{key})
	openAddr := serve(t, sidecarconfig.MTLSStrict, open, mtls.ListenOptions{})
	closedAddr := serve(t, sidecarconfig.MTLSStrict, closed, mtls.ListenOptions{Metrics: m.Metrics})

	// The session cache is keyed by ServerName, the same host for both servers.
	c := mtlsClient(client, nil, false)
	if _, err := get(c, openAddr); err != nil {
		t.Fatal(err)
	}
	if res, err := get(c, openAddr); err != nil || !res.tls.DidResume {
		t.Fatalf("second request: %v, resumed %v; want a resumed session", err, res.tls != nil && res.tls.DidResume)
	}
	if _, err := get(c, closedAddr); err == nil {
		t.Fatal("a resumed session was accepted by a server whose allowlist refuses the client")
	}
	m.waitCounts(t, map[string]float64{"inbound/peer_unauthorized": 1})
}

func TestPeerID(t *testing.T) {
	p := newPKI(t)
	spiffeLeaf := svid(t, p.ca, idIn(td, clientPath)).Certificates[0]
	twoURIs := p.ca.Issue(t, x509test.Options{URIs: []string{"spiffe://td/a", "spiffe://td/b"}}).Cert
	noURI := p.ca.Issue(t, x509test.Options{CommonName: "web"}).Cert
	tests := []struct {
		name  string
		state *tls.ConnectionState
		want  string
	}{
		{"nil", nil, ""},
		{"handshake not complete", &tls.ConnectionState{PeerCertificates: spiffeLeafs(spiffeLeaf)}, ""},
		{"no peer certificate", &tls.ConnectionState{HandshakeComplete: true}, ""},
		{"SPIFFE leaf", &tls.ConnectionState{HandshakeComplete: true, PeerCertificates: spiffeLeafs(spiffeLeaf)}, "spiffe://td/ns/x/sa/client"},
		{"two URI SANs", &tls.ConnectionState{HandshakeComplete: true, PeerCertificates: spiffeLeafs(twoURIs)}, ""},
		{"no URI SAN", &tls.ConnectionState{HandshakeComplete: true, PeerCertificates: spiffeLeafs(noURI)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ok := mtls.PeerID(tt.state)
			if ok != (tt.want != "") || (ok && id.String() != tt.want) {
				t.Fatalf("PeerID = %v, %v; want %q", id, ok, tt.want)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	m := newMetered(t)
	got := m.counts(t)
	want := []string{
		"inbound/tls_accepted", "inbound/plain_accepted", "inbound/plain_rejected", "inbound/handshake_failed", "inbound/peer_unauthorized",
		"outbound/ok", "outbound/failed", "outbound/peer_unauthorized",
	}
	if len(got) != len(want) {
		t.Errorf("series %v, want exactly %v", got, want)
	}
	for _, k := range want {
		if v, ok := got[k]; !ok || v != 0 {
			t.Errorf("series %s = %v (present %v), want a pre-created 0", k, v, ok)
		}
	}
	if _, err := mtls.NewMetrics(m.reg); err == nil {
		t.Error("registering the counter twice: no error")
	}
	if nm, err := mtls.NewMetrics(nil); err != nil || nm == nil {
		t.Errorf("NewMetrics(nil) = %v, %v; want counters, registered nowhere", nm, err)
	}
}

// TestDialerFailures: unreachable callees and bad addresses are counted as failed.
func TestDialerFailures(t *testing.T) {
	p := newPKI(t)
	cfg := mtls.ClientConfig(newSource(svid(t, p.ca, idIn(td, clientPath)), p.ca.Bundle("td")), mtls.Authorizer{TrustDomain: td}, nil)
	m := newMetered(t)
	dial := mtls.Dialer(cfg, time.Second, m.Metrics)
	for _, addr := range []string{"no-port", "127.0.0.1:1"} {
		if c, err := dial(context.Background(), "tcp", addr); err == nil {
			c.Close()
			t.Errorf("dial %s: no error", addr)
		}
	}
	m.waitCounts(t, map[string]float64{"outbound/failed": 2})
}

func spiffeLeafs(c ...*x509.Certificate) []*x509.Certificate { return c }
