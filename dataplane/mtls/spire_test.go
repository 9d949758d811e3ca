package mtls_test

import (
	"context"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/trustsync/trustsync/dataplane/mtls"
	"github.com/trustsync/trustsync/internal/spiretest"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

// TestSPIRERoundTrip: two workloads of a real SPIRE, each with its Workload API
// X509Source, do an mTLS HTTP round trip through Listen and Dialer, each allowlisting the
// other, and each sees the other's ID.
func TestSPIRERoundTrip(t *testing.T) {
	srv := spiretest.Run(t, spiretest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	callerID, calleeID := srv.ID("/ns/team-a/sa/caller"), srv.ID("/ns/team-b/sa/callee")
	for _, id := range []spiffeid.ID{callerID, calleeID} {
		if err := srv.AddWorkload(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	callerSrc, err := srv.X509Source(ctx, callerID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { callerSrc.Close() })
	calleeSrc, err := srv.X509Source(ctx, calleeID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { calleeSrc.Close() })

	m := newMetered(t)
	serverCfg := mtls.ServerConfig(calleeSrc, mtls.Authorizer{TrustDomain: srv.TrustDomain(), Allowed: []spiffeid.ID{callerID}}, m.Metrics)
	addr := serve(t, sidecarconfig.MTLSStrict, serverCfg, mtls.ListenOptions{Metrics: m.Metrics})
	clientCfg := mtls.ClientConfig(callerSrc, mtls.Authorizer{TrustDomain: srv.TrustDomain(), Allowed: []spiffeid.ID{calleeID}}, m.Metrics)

	res, err := get(mtlsClient(clientCfg, m.Metrics, true), addr)
	if err != nil {
		t.Fatalf("mTLS round trip: %v", err)
	}
	if res.body != callerID.String() {
		t.Errorf("the callee saw %q, want %s", res.body, callerID)
	}
	if got, ok := mtls.PeerID(res.tls); !ok || got != calleeID {
		t.Errorf("the caller saw %v (%v), want %s", got, ok, calleeID)
	}

	// The callee refuses a workload of the same trust domain it does not list.
	strangerID := srv.ID("/ns/team-c/sa/stranger")
	if err := srv.AddWorkload(ctx, strangerID); err != nil {
		t.Fatal(err)
	}
	strangerSrc, err := srv.X509Source(ctx, strangerID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { strangerSrc.Close() })
	stranger := mtls.ClientConfig(strangerSrc, mtls.Authorizer{TrustDomain: srv.TrustDomain()}, nil)
	if res, err := get(mtlsClient(stranger, nil, false), addr); err == nil {
		t.Fatalf("an unlisted workload was served (the callee saw %q)", res.body)
	}
	m.waitCounts(t, map[string]float64{"inbound/tls_accepted": 1, "inbound/peer_unauthorized": 1, "outbound/ok": 1})
}
