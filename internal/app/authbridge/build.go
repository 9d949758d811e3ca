package authbridge

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/trustsync/trustsync/dataplane/bundles"
	"github.com/trustsync/trustsync/dataplane/pipeline"
	"github.com/trustsync/trustsync/dataplane/plugins/jwtvalidation"
	"github.com/trustsync/trustsync/dataplane/plugins/opa"
	"github.com/trustsync/trustsync/dataplane/plugins/parsers"
	"github.com/trustsync/trustsync/dataplane/plugins/tokenexchange"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

// pipelines are one configuration's two pipelines and their background work.
type pipelines struct {
	inbound, outbound *pipeline.Pipeline
	stop              context.CancelFunc
	done              chan struct{}
}

// builder makes plugins from a resolved configuration.
type builder struct {
	reg      prometheus.Registerer
	log      logr.Logger
	identity *workloadIdentity
	bundles  *bundles.Client
	lite     bool
}

// build makes both pipelines of r and starts their plugins' background work, which
// runs until stop.
func (b *builder) build(r *sidecarconfig.Resolved) (*pipelines, error) {
	if b.lite {
		if err := r.CheckLite(); err != nil {
			return nil, err
		}
	}
	in, err := b.stage(pipeline.Inbound, r.Inbound)
	if err != nil {
		return nil, err
	}
	out, err := b.stage(pipeline.Outbound, r.Outbound)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	p := &pipelines{inbound: in, outbound: out, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		done := make(chan struct{})
		go func() { in.Run(ctx); close(done) }()
		out.Run(ctx)
		<-done
	}()
	return p, nil
}

// close stops the pipelines' background work and waits for it.
func (p *pipelines) close() {
	p.stop()
	<-p.done
}

func (b *builder) stage(d pipeline.Direction, s sidecarconfig.ResolvedStage) (*pipeline.Pipeline, error) {
	entries := make([]pipeline.Entry, 0, len(s.Plugins))
	for i, sp := range s.Plugins {
		pl, err := b.plugin(d, sp)
		if err != nil {
			return nil, fmt.Errorf("pipeline.%s.plugins[%d] (%s): %w", d, i, sp.Name, err)
		}
		onError := pipeline.Enforce
		if sp.OnError == sidecarconfig.OnErrorObserve {
			onError = pipeline.Observe
		}
		entries = append(entries, pipeline.Entry{Plugin: pl, OnError: onError})
	}
	return pipeline.New(d, entries, pipeline.WithLog(b.log))
}

func (b *builder) plugin(d pipeline.Direction, sp sidecarconfig.Plugin) (pipeline.Plugin, error) {
	switch sp.Name {
	case sidecarconfig.PluginJWTValidation:
		if d != pipeline.Inbound {
			return nil, fmt.Errorf("validates inbound tokens: put it in pipeline.inbound")
		}
		return jwtvalidation.New(sp.Config.(*sidecarconfig.JWTValidation), jwtvalidation.Options{Registerer: b.reg, Log: b.log.WithName(sp.Name)})
	case sidecarconfig.PluginTokenExchange:
		if d != pipeline.Outbound {
			return nil, fmt.Errorf("exchanges outbound tokens: put it in pipeline.outbound")
		}
		cfg := sp.Config.(*sidecarconfig.TokenExchange)
		o := tokenexchange.Options{Registerer: b.reg, Log: b.log.WithName(sp.Name)}
		if b.identity != nil {
			o.AgentID = b.identity.id.String()
			if b.identity.jwt != nil {
				o.JWTSVIDs = jwtSVIDs{src: b.identity.jwt, id: b.identity.id}
			}
		}
		if cfg.Identity.Type == "spiffe" && o.JWTSVIDs == nil {
			return nil, fmt.Errorf("identity.type spiffe needs the Workload API's JWT-SVIDs, and the sidecar has none")
		}
		return tokenexchange.New(cfg, o)
	case sidecarconfig.PluginA2AParser:
		return parsers.NewA2A(), nil
	case sidecarconfig.PluginMCPParser:
		return parsers.NewMCP(sp.Config.(*sidecarconfig.MCPParser)), nil
	case sidecarconfig.PluginInferenceParser:
		return parsers.NewInference(), nil
	case sidecarconfig.PluginOPA:
		if b.bundles == nil {
			return nil, fmt.Errorf("no policy bundle client: the sidecar has no X.509-SVID to fetch its bundle with")
		}
		return opa.New(sp.Config.(*sidecarconfig.OPA), b.bundles, opa.Options{Registerer: b.reg, Log: b.log.WithName(sp.Name)})
	}
	return nil, fmt.Errorf("unknown plugin; this data plane has %v", sidecarconfig.Plugins())
}

// opaConfig is the configuration's opa plugin config (sidecarconfig checks that all
// its opa entries agree on the bundle), nil without one.
func opaConfig(r *sidecarconfig.Resolved) *sidecarconfig.OPA {
	for _, s := range []sidecarconfig.ResolvedStage{r.Inbound, r.Outbound} {
		for _, p := range s.Plugins {
			if c, ok := p.Config.(*sidecarconfig.OPA); ok {
				return c
			}
		}
	}
	return nil
}

// newBundleClient makes the one bundle client of the process for cfg.
func newBundleClient(cfg *sidecarconfig.OPA, id spiffeid.ID, svid x509svid.Source, trust x509bundle.Source, stateDir string, reg prometheus.Registerer, log logr.Logger) (*bundles.Client, error) {
	o := bundles.Options{
		BundleURL: cfg.BundleURL, Upstream: cfg.UpstreamBundleService, ID: id, SVID: svid, Bundles: trust,
		PollingMinDelay: time.Duration(cfg.PollingMinDelay) * time.Second,
		PollingMaxDelay: time.Duration(cfg.PollingMaxDelay) * time.Second,
		Dir:             stateDir, Registerer: reg, Log: log.WithName("bundles"),
	}
	if cfg.BundleServerID != "" {
		sid, err := spiffeid.FromString(cfg.BundleServerID)
		if err != nil {
			return nil, fmt.Errorf("opa bundle_server_id: %w", err)
		}
		o.ServerID = sid
	}
	return bundles.New(o)
}
