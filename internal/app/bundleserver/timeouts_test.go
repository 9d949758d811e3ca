package bundleserver_test

import (
	"context"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	appbundleserver "github.com/trustsync/trustsync/internal/app/bundleserver"
	"github.com/trustsync/trustsync/internal/httpserver"
	"github.com/trustsync/trustsync/internal/httpserver/httpservertest"
	"github.com/trustsync/trustsync/internal/x509test"
)

// TestRunServersCloseHeldConnections: both ports of `trustsync bundle-server` — the
// mutual-TLS bundle port (with a client that holds a valid SVID) and the plain probe
// port — drop trickled headers and bodies and idle keep-alives.
func TestRunServersCloseHeldConnections(t *testing.T) {
	td := spiffeid.RequireTrustDomainFromString("example.org")
	ca := x509test.NewSPIFFECA(t, td.Name())
	server := ca.SVID(t, "spiffe://example.org/ns/trustsync-system/sa/bundle-server", x509test.Options{})
	agent := ca.SVID(t, "spiffe://example.org/ns/team-a/sa/research-agent", x509test.Options{})
	limits := httpserver.Options{ReadHeaderTimeout: 500 * time.Millisecond, ReadTimeout: time.Second, WriteTimeout: 5 * time.Second, IdleTimeout: 500 * time.Millisecond}

	addr, probe := freeAddr(t), freeAddr(t)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- appbundleserver.Run(ctx, env.Config, appbundleserver.Options{Addr: addr, ProbeAddr: probe, PlatformNamespace: gitopsv1.DefaultPlatformNamespace,
			TrustDomain: td, SVID: server, Bundles: ca.Bundle(td.Name()), Servers: limits})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("bundle server: %v", err)
		}
	})
	waitReady(t, ctx, "http://"+probe+"/readyz")

	mtls := tlsconfig.MTLSClientConfig(agent, ca.Bundle(td.Name()), tlsconfig.AuthorizeID(server.ID))
	mtls.NextProtos = []string{"http/1.1"}
	const margin = 5 * time.Second
	for _, srv := range []struct {
		name      string
		dial      httpservertest.Dial
		get, post string
	}{
		{"bundles (mTLS)", httpservertest.TLS(addr, mtls), "/bundles?spiffe=example.org/ns/team-a/sa/research-agent", "/bundles"},
		{"probes", httpservertest.TCP(probe), "/healthz", "/healthz"},
	} {
		t.Run(srv.name, func(t *testing.T) {
			httpservertest.ClosesTrickledHeaders(t, srv.dial, limits.ReadHeaderTimeout+margin)
			httpservertest.ClosesTrickledBody(t, srv.dial, srv.post, limits.ReadTimeout+margin)
			httpservertest.ClosesIdle(t, srv.dial, srv.get, limits.IdleTimeout+margin)
		})
	}
}
