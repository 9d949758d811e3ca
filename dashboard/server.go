package dashboard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	toolscache "k8s.io/client-go/tools/cache"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/trustsync/trustsync/api/agent/kinds"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/dashboard/live"
	"github.com/trustsync/trustsync/dashboard/signin"
	"github.com/trustsync/trustsync/dashboard/web"
)

// Cache is what the dashboard reads: informer caches, whose changes keep pages live.
type Cache interface {
	client.Reader
	GetInformer(ctx context.Context, obj client.Object, opts ...crcache.InformerGetOption) (crcache.Informer, error)
}

// Options configure the dashboard. A zero field takes its default.
type Options struct {
	// Platform gives the platform namespace and trust domain the access view decides
	// with; DefaultPlatform when nil.
	Platform *gitopsv1.Platform
	// Events reads a Sync's Events, uncached (a page lists at most views.MaxEvents); the
	// cache when nil.
	Events client.Reader
	// Live bounds the server-sent-event streams.
	Live live.Options
	// HealthTimeout bounds the first read of an applied kind's health, while its cache
	// fills. Default 5s.
	HealthTimeout time.Duration
	// SignIn signs users in with OpenID Connect; nil leaves the dashboard anonymous.
	SignIn *signin.SignIn
	// Actor does what signed-in users ask of a Sync (reconcile, suspend, resume) as
	// them; nil keeps the dashboard read-only. It needs SignIn.
	Actor Patcher
	// MetricsURL is a Prometheus-compatible query API that scrapes the sidecars; the
	// agents page shows their policy decisions from it. Empty: no counts.
	MetricsURL string
	// Now is the clock of "ago" columns; time.Now when nil.
	Now func() time.Time
	Log logr.Logger
}

// Server serves the dashboard's pages, streams and assets.
type Server struct {
	cache  Cache
	opts   Options
	tmpl   *template.Template
	hub    *live.Hub
	mux    *http.ServeMux
	health *healthReader
	access *accessMemo
	// decisions is nil without a MetricsURL.
	decisions *decisionReader
}

// New readies the dashboard over c; Start must run for it to be live.
func New(c Cache, o Options) (*Server, error) {
	if o.Platform == nil {
		o.Platform = gitopsv1.DefaultPlatform()
	}
	if o.Events == nil {
		o.Events = c
	}
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Actor != nil && o.SignIn == nil {
		return nil, errors.New("dashboard actions need sign-in: without it nobody could be impersonated")
	}
	tmpl, err := web.Templates(o.Now)
	if err != nil {
		return nil, fmt.Errorf("the dashboard's templates: %w", err)
	}
	s := &Server{cache: c, opts: o, tmpl: tmpl, hub: live.NewHub(o.Live), mux: http.NewServeMux(), access: &accessMemo{}}
	if o.MetricsURL != "" {
		if s.decisions, err = newDecisionReader(o.MetricsURL, o.Now); err != nil {
			return nil, err
		}
	}
	s.health = &healthReader{cache: c, timeout: o.HealthTimeout, changed: s.hub.Changed, log: o.Log}
	s.routes()
	return s, nil
}

// Start watches the objects the pages show and feeds their changes to the streams,
// until ctx is done. It implements manager.Runnable.
func (s *Server) Start(ctx context.Context) error {
	watched := []client.Object{&gitopsv1.Sync{}, &gitopsv1.GitSource{}, &gitopsv1.Cluster{}}
	for _, f := range s.opts.Platform.EnabledFamilies() {
		watched = append(watched, kinds.NewAgentRuntime(f), kinds.NewAuthorizationPolicy(f))
	}
	for _, obj := range watched {
		inf, err := s.cache.GetInformer(ctx, obj)
		if err != nil {
			return fmt.Errorf("watching %T: %w", obj, err)
		}
		if _, err := inf.AddEventHandler(changes(s.hub.Changed)); err != nil {
			return err
		}
	}
	return s.hub.Run(ctx)
}

// NeedLeaderElection is false: every replica serves the dashboard.
func (s *Server) NeedLeaderElection() bool { return false }

func changes(changed func()) toolscache.ResourceEventHandlerFuncs {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { changed() },
		UpdateFunc: func(any, any) { changed() },
		DeleteFunc: func(any) { changed() },
	}
}

// page is what a view produces: the template of its live part and its data.
type page struct {
	name, nav, title string
	data             any
	// sync is the Sync a page shows, which actions act on.
	sync *gitopsv1.Sync
}

// view builds a page for a request.
type view func(ctx context.Context, r *http.Request) (page, error)

// notFound is a view's error for an object that is not there.
type notFound struct{ what string }

func (e notFound) Error() string { return e.what + " not found" }

func (s *Server) routes() {
	s.route("/{$}", s.overview)
	s.route("/syncs/{namespace}/{name}", s.syncPage)
	s.route("/agents", s.agents)
	s.route("/policies", s.policies)
	s.route("/access", s.accessPage)
	s.route("/clusters", s.clustersPage)
	if s.opts.SignIn != nil {
		s.opts.SignIn.Register(s.mux)
	}
	if s.opts.Actor != nil {
		s.mux.HandleFunc("POST /syncs/{namespace}/{name}/{action}", s.act)
	}
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", staticFiles()))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
}

// route serves a view at pattern as a page, and at /live+pattern as its stream.
func (s *Server) route(pattern string, v view) {
	s.mux.HandleFunc("GET "+pattern, func(w http.ResponseWriter, r *http.Request) { s.servePage(w, r, v) })
	s.mux.HandleFunc("GET /live"+strings.TrimSuffix(pattern, "{$}"), func(w http.ResponseWriter, r *http.Request) {
		if pattern == "/{$}" && r.URL.Path != "/live/" {
			http.NotFound(w, r)
			return
		}
		s.hub.Serve(w, r, func(ctx context.Context) ([]byte, error) {
			p, err := v(ctx, r)
			if err != nil {
				return nil, err
			}
			return s.fragment(p.name, p.data)
		})
	})
}

// ServeHTTP serves the dashboard, with the headers every response carries.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	s.mux.ServeHTTP(w, r)
}

// layout is the data of the page around a view.
type layout struct {
	Title, Nav     string
	Controls, Live template.HTML
	Stream, Digest string
	Actions        *actionsView
}

func (s *Server) servePage(w http.ResponseWriter, r *http.Request, v view) {
	p, err := v(r.Context(), r)
	status := http.StatusOK
	if err != nil {
		status = http.StatusInternalServerError
		if errors.As(err, new(notFound)) {
			status = http.StatusNotFound
		}
		p = page{name: "error", title: http.StatusText(status), data: err.Error()}
	}
	frag, err := s.fragment(p.name, p.data)
	if err == nil {
		var controls []byte
		if controls, err = s.fragment(p.name+"-controls", p.data); err == nil {
			l := layout{Title: p.title, Nav: p.nav, Controls: template.HTML(controls), Live: template.HTML(frag), Actions: s.actionsOf(r, p)} //nolint:gosec // both are html/template output
			if status == http.StatusOK {
				l.Stream, l.Digest = "/live"+r.URL.RequestURI(), live.Digest(frag)
			}
			var out []byte
			if out, err = s.fragment("layout", l); err == nil {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				w.Header().Set("Cache-Control", "no-store")
				w.WriteHeader(status)
				_, _ = w.Write(out)
				return
			}
		}
	}
	s.opts.Log.Error(err, "rendering a dashboard page", "path", r.URL.Path)
	http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
}

func (s *Server) fragment(name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&b, name, data); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
