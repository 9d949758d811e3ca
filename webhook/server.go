package webhook

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/trustsync/trustsync/internal/httpserver"
)

// ServerOptions are the HTTP limits of the webhook port. Its client is the API server:
// an admission review is at most 7 MiB (controller-runtime's bound) sent within the
// cluster, the API server gives up after the configuration's timeoutSeconds (10 s in
// config/webhook), and it keeps connections open between requests.
func ServerOptions() httpserver.Options {
	return httpserver.Options{
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// Server serves the admission webhooks on httpserver's limits: controller-runtime's
// DefaultServer sets no read or write timeout and offers no option to. It keeps
// DefaultServer's registration (and so its per-webhook metrics) and replaces Start.
type Server struct {
	*ctrlwebhook.DefaultServer
	limits httpserver.Options
	http   atomic.Pointer[httpserver.Server]
}

var _ ctrlwebhook.Server = (*Server)(nil)

// NewServer returns a webhook server for o, which it reads as DefaultServer does: Host,
// Port, CertDir with CertName and KeyName (watched for renewal), TLSOpts.
func NewServer(o ctrlwebhook.Options, limits httpserver.Options) *Server {
	if o.WebhookMux == nil {
		o.WebhookMux = http.NewServeMux()
	}
	if o.Port == 0 {
		o.Port = ctrlwebhook.DefaultPort
	}
	if o.CertName == "" {
		o.CertName = "tls.crt"
	}
	if o.KeyName == "" {
		o.KeyName = "tls.key"
	}
	return &Server{DefaultServer: ctrlwebhook.NewServer(o).(*ctrlwebhook.DefaultServer), limits: limits.Or(ServerOptions())}
}

// NeedLeaderElection: every replica answers admission requests.
func (s *Server) NeedLeaderElection() bool { return false }

func (s *Server) Start(ctx context.Context) error {
	o := s.Options
	cfg := &tls.Config{NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12}
	for _, op := range o.TLSOpts {
		op(cfg)
	}
	if cfg.GetCertificate == nil {
		watcher, err := certwatcher.New(filepath.Join(o.CertDir, o.CertName), filepath.Join(o.CertDir, o.KeyName))
		if err != nil {
			return fmt.Errorf("webhook serving certificate: %w", err)
		}
		cfg.GetCertificate = watcher.GetCertificate
		go func() {
			if err := watcher.Start(ctx); err != nil {
				log.FromContext(ctx).Error(err, "watching the webhook serving certificate")
			}
		}()
	}
	srv := &httpserver.Server{Name: "webhook", Addr: net.JoinHostPort(o.Host, strconv.Itoa(o.Port)), Handler: s.WebhookMux(),
		TLS: cfg, Options: s.limits, Log: log.FromContext(ctx)}
	s.http.Store(srv)
	return srv.Start(ctx)
}

// StartedChecker is healthy once the server accepts TLS connections.
func (s *Server) StartedChecker() healthz.Checker {
	return func(*http.Request) error {
		srv := s.http.Load()
		if srv == nil || !srv.Serving() || srv.ListenAddr() == "" {
			return fmt.Errorf("webhook server has not been started yet")
		}
		d := &net.Dialer{Timeout: 10 * time.Second}
		// Only whether it answers TLS is checked, not who it is.
		conn, err := tls.DialWithDialer(d, "tcp", srv.ListenAddr(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // see above
		if err != nil {
			return fmt.Errorf("webhook server is not reachable: %w", err)
		}
		return conn.Close()
	}
}
