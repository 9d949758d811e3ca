package httpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// Options bound what one connection may hold. A zero field takes its default.
type Options struct {
	// ReadHeaderTimeout bounds reading the request line and headers (and the TLS
	// handshake).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading the whole request, body included: a trickled body is cut
	// off here.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of the request headers to the end of the
	// response, so it must cover the handler's work and the longest response (a bundle, a
	// metrics scrape) to a slow client.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends no next request.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers.
	MaxHeaderBytes int
	// ShutdownTimeout bounds the graceful shutdown; connections still open then are
	// closed.
	ShutdownTimeout time.Duration
}

// DefaultOptions suit a server whose requests and responses are at most a few MiB from
// clients in the cluster: the API server (admission reviews, whose own timeout is at
// most 30 s), Prometheus, kubelet probes, sidecars fetching bundles.
func DefaultOptions() Options {
	return Options{
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ShutdownTimeout:   10 * time.Second,
	}
}

// Or fills the zero fields of o from def: a caller overrides only what it sets.
func (o Options) Or(def Options) Options {
	pick := func(v, d time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return d
	}
	o.ReadHeaderTimeout = pick(o.ReadHeaderTimeout, def.ReadHeaderTimeout)
	o.ReadTimeout = pick(o.ReadTimeout, def.ReadTimeout)
	o.WriteTimeout = pick(o.WriteTimeout, def.WriteTimeout)
	o.IdleTimeout = pick(o.IdleTimeout, def.IdleTimeout)
	o.ShutdownTimeout = pick(o.ShutdownTimeout, def.ShutdownTimeout)
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = def.MaxHeaderBytes
	}
	return o
}

// New returns an http.Server for h with o's limits; zero fields take DefaultOptions.
func New(h http.Handler, o Options) *http.Server {
	o = o.Or(DefaultOptions())
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		// The server's own errors (a bad TLS handshake, a client gone) are mostly the
		// client's doing; logging each would let a stranger fill the log.
		ErrorLog: log.New(io.Discard, "", 0),
	}
}

// Serve serves srv on ln until ctx is done, then shuts it down gracefully for at most
// shutdown and closes what is left. It returns nil after a shutdown.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, shutdown time.Duration) error {
	if shutdown <= 0 {
		shutdown = DefaultOptions().ShutdownTimeout
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdown)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
	}()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-stopped
		return nil
	}
	return err
}

// Server is one listening HTTP server. Its Start and NeedLeaderElection methods make it
// a controller-runtime Runnable.
type Server struct {
	// Name says what it serves, in logs and errors ("receiver", "metrics").
	Name string
	// Addr is the listen address; ignored when Listener is set.
	Addr     string
	Listener net.Listener
	Handler  http.Handler
	// TLS, when set, serves HTTPS with this configuration; without NextProtos it offers
	// HTTP/2 and HTTP/1.1, as http.Server.ServeTLS does.
	TLS     *tls.Config
	Options Options
	// LeaderOnly runs it on the elected leader only.
	LeaderOnly bool
	Log        logr.Logger

	addr    atomic.Pointer[string]
	serving atomic.Bool
}

// NeedLeaderElection tells a controller-runtime manager when to start it.
func (s *Server) NeedLeaderElection() bool { return s.LeaderOnly }

// Start listens and serves until ctx is done.
func (s *Server) Start(ctx context.Context) error {
	ln := s.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.Addr); err != nil {
			return fmt.Errorf("%s server: %w", s.Name, err)
		}
	}
	addr := ln.Addr().String()
	s.addr.Store(&addr)
	if s.TLS != nil {
		cfg := s.TLS
		if len(cfg.NextProtos) == 0 {
			cfg = cfg.Clone()
			cfg.NextProtos = []string{"h2", "http/1.1"}
		}
		ln = tls.NewListener(ln, cfg)
	}
	o := s.Options.Or(DefaultOptions())
	srv := New(s.Handler, o)
	srv.BaseContext = func(net.Listener) context.Context { return ctx }
	s.Log.Info("serving", "server", s.Name, "address", addr, "tls", s.TLS != nil)
	s.serving.Store(true)
	defer s.serving.Store(false)
	if err := Serve(ctx, srv, ln, o.ShutdownTimeout); err != nil {
		return fmt.Errorf("%s server: %w", s.Name, err)
	}
	return nil
}

// Serving reports whether the server is listening.
func (s *Server) Serving() bool { return s.serving.Load() }

// ListenAddr is the address it listens on once started, "" before.
func (s *Server) ListenAddr() string {
	if a := s.addr.Load(); a != nil {
		return *a
	}
	return ""
}

// Enabled says whether a listen address turns a server on: "" and "0" turn it off.
func Enabled(addr string) bool { return addr != "" && addr != "0" }
