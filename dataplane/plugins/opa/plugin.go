package opa

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/trustsync/trustsync/dataplane/files"
	"github.com/trustsync/trustsync/dataplane/pipeline"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
	"github.com/trustsync/trustsync/security/policy"
)

// Decider decides with the active policy bundle; dataplane/bundles.Client is one.
type Decider interface {
	// Ready is true once a bundle is active.
	Ready() bool
	// Revision is the active bundle's revision, "" when none.
	Revision() string
	// DecideInput evaluates the decision at pt with the input build makes, told which
	// of its fields the active bundle's rules can read (none at a point no input can
	// change, where build is not called); it fails closed.
	DecideInput(ctx context.Context, pt policy.Point, build func(policy.Fields) (ast.Value, error)) policy.Decision
}

// Defaults of Options.
const (
	// DefaultAgentIDPoll is how often Run looks for a missing agent ID file, as
	// upstream waits for its credential files.
	DefaultAgentIDPoll = 2 * time.Second
	// maxAgentIDFile bounds the agent ID file: a client ID is a SPIFFE ID or
	// <ns>/<workload>.
	maxAgentIDFile = 4 << 10
)

// Messages of the denials, as upstream writes them.
const (
	msgNotReady = "opa policy engine not initialized"
	msgDenied   = "policy denied"
)

// Options configure a Plugin; zero fields take the defaults.
type Options struct {
	// AgentID is this workload's client ID, input.agent.client_id; when "", the
	// config's agent_id, else the contents of its agent_id_file.
	AgentID string
	// ReadFile reads the agent ID file; files.Read (bounded) when nil.
	ReadFile func(name string) ([]byte, error)
	// AgentIDPoll is how often Run looks for a missing agent ID file; 2 s when 0.
	AgentIDPoll time.Duration
	// Registerer gets the metrics; none when nil.
	Registerer prometheus.Registerer
	// Log is for the wait for the agent ID file, never per request; discarded when zero.
	Log logr.Logger
}

// Plugin is the opa plugin. It is safe for concurrent use.
type Plugin struct {
	d        Decider
	file     string
	readFile func(string) ([]byte, error)
	poll     time.Duration
	log      logr.Logger
	inc      include
	m        *metrics
	// agent is input.agent, {client_id}; nil until the agent ID is known. It is shared
	// by every input document, which nothing changes.
	agent atomic.Pointer[ast.Term]
}

var (
	_ pipeline.RequestHandler  = (*Plugin)(nil)
	_ pipeline.ResponseHandler = (*Plugin)(nil)
	_ pipeline.FrameHandler    = (*Plugin)(nil)
	_ pipeline.Readier         = (*Plugin)(nil)
	_ pipeline.Runner          = (*Plugin)(nil)
)

// New makes the opa plugin of cfg deciding with d. The agent ID comes from
// o.AgentID, cfg.AgentID, or the file cfg.AgentIDFile, read here; a file not there
// yet is no error: the plugin is not ready, and Run waits for it.
func New(cfg *sidecarconfig.OPA, d Decider, o Options) (*Plugin, error) {
	if cfg == nil {
		return nil, errors.New("opa plugin: no configuration")
	}
	if d == nil {
		return nil, errors.New("opa plugin: no policy decider")
	}
	p := &Plugin{d: d, file: cfg.AgentIDFile, readFile: o.ReadFile, poll: o.AgentIDPoll, log: o.Log, inc: newInclude(cfg.Include)}
	if p.readFile == nil {
		p.readFile = files.Read
	}
	if p.poll <= 0 {
		p.poll = DefaultAgentIDPoll
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, fmt.Errorf("opa plugin: registering its metrics: %w", err)
	}
	p.m = m
	id := o.AgentID
	if id == "" {
		id = cfg.AgentID
	}
	switch {
	case id != "":
		p.setAgent(id)
	case p.file == "":
		p.file = sidecarconfig.DefaultClientIDFile
		fallthrough
	default:
		p.loadAgentID()
	}
	return p, nil
}

func (*Plugin) Name() string { return sidecarconfig.PluginOPA }

func (p *Plugin) setAgent(id string) {
	p.agent.Store(agentTerm(id))
}

// loadAgentID reads the agent ID file and reports whether it now has the ID.
func (p *Plugin) loadAgentID() bool {
	b, err := p.readFile(p.file)
	if err != nil || len(b) > maxAgentIDFile {
		return false
	}
	id := strings.TrimSpace(string(b))
	if id == "" {
		return false
	}
	p.setAgent(id)
	return true
}

// Ready says what the plugin still waits for: the agent ID file, or a policy bundle.
func (p *Plugin) Ready() error {
	if p.agent.Load() == nil {
		return fmt.Errorf("the agent ID file %s is not there yet", p.file)
	}
	if !p.d.Ready() {
		return errors.New("no policy bundle is active yet")
	}
	return nil
}

// Revision is the active policy bundle's revision ("" when none), for the stats.
func (p *Plugin) Revision() string { return p.d.Revision() }

// Run waits for the agent ID file, reading it every AgentIDPoll, and returns once it
// has the ID or ctx is done. The bundle client runs on its own.
func (p *Plugin) Run(ctx context.Context) {
	if p.agent.Load() != nil {
		return
	}
	p.log.Info("waiting for the agent ID file", "file", p.file, "every", p.poll)
	t := time.NewTicker(p.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if p.loadAgentID() {
				p.log.Info("read the agent ID file", "file", p.file)
				return
			}
		}
	}
}

// OnRequest decides at the request point of r's direction.
func (p *Plugin) OnRequest(ctx context.Context, r *pipeline.Request) *pipeline.Deny {
	return p.decide(ctx, r, pipeline.PhaseRequest)
}

// OnResponse decides at the response point, on the status and headers (and, buffered,
// on what the parsers read of the body).
func (p *Plugin) OnResponse(ctx context.Context, r *pipeline.Request) *pipeline.Deny {
	return p.decide(ctx, r, pipeline.PhaseResponse)
}

// OnFrame decides at the response point again on an event that can change the input
// document (see the package documentation); the others pass without an evaluation.
func (p *Plugin) OnFrame(ctx context.Context, r *pipeline.Request, frame []byte) *pipeline.Deny {
	if !p.inc.frameMatters(r, frame) {
		return nil
	}
	return p.decide(ctx, r, pipeline.PhaseResponse)
}

// points are the four decision points in pointIndex order.
var points = [4]policy.Point{
	{Direction: string(pipeline.Inbound), Phase: string(pipeline.PhaseRequest)},
	{Direction: string(pipeline.Inbound), Phase: string(pipeline.PhaseResponse)},
	{Direction: string(pipeline.Outbound), Phase: string(pipeline.PhaseRequest)},
	{Direction: string(pipeline.Outbound), Phase: string(pipeline.PhaseResponse)},
}

func pointIndex(d pipeline.Direction, ph pipeline.Phase) int {
	i := 0
	switch d {
	case pipeline.Inbound:
	case pipeline.Outbound:
		i = 2
	default:
		return -1
	}
	if ph == pipeline.PhaseResponse {
		i++
	}
	return i
}

func (p *Plugin) decide(ctx context.Context, r *pipeline.Request, ph pipeline.Phase) *pipeline.Deny {
	if ph == pipeline.PhaseRequest && r.MCP != nil && len(r.MCP.Batch) > 1 {
		return p.decideBatch(ctx, r)
	}
	return p.decideOne(ctx, r, ph)
}

// decideBatch decides the request of a JSON-RPC batch once per action (once when it
// has none), each decision seeing that call as input.mcp: the first denial refuses the
// batch, so a forbidden call cannot ride behind an allowed one.
func (p *Plugin) decideBatch(ctx context.Context, r *pipeline.Request) *pipeline.Deny {
	chosen := r.MCP
	defer func() { r.MCP = chosen }()
	decided := false
	for _, m := range chosen.Batch {
		if !m.IsAction {
			continue
		}
		decided = true
		r.MCP = m
		if d := p.decideOne(ctx, r, pipeline.PhaseRequest); d != nil {
			return d
		}
	}
	if decided {
		return nil
	}
	r.MCP = chosen
	return p.decideOne(ctx, r, pipeline.PhaseRequest)
}

func (p *Plugin) decideOne(ctx context.Context, r *pipeline.Request, ph pipeline.Phase) *pipeline.Deny {
	i := pointIndex(r.Direction, ph)
	if i < 0 {
		return pipeline.Denied(pipeline.CodeForbidden, fmt.Sprintf("no decision point for direction %q", r.Direction))
	}
	agent := p.agent.Load()
	if agent == nil || !p.d.Ready() {
		p.m.notReady[i].Inc()
		return pipeline.Denied(pipeline.CodeUnreachable, msgNotReady)
	}
	start := time.Now()
	dec := p.d.DecideInput(ctx, points[i], func(f policy.Fields) (ast.Value, error) {
		// An error is a value the parsers decoded that OPA could not convert either:
		// the decision is then the deny OPA's conversion gave.
		return p.input(r, ph, agent, f)
	})
	p.m.seconds[i].Observe(time.Since(start).Seconds())
	if dec.Allow {
		p.m.allow[i].Inc()
		return nil
	}
	p.m.deny[i].Inc()
	msg := dec.Reason
	if msg == "" {
		msg = msgDenied
	}
	return pipeline.Denied(pipeline.CodeForbidden, msg)
}

// include are the optional parts of the input document (config include).
type include struct {
	a2aContent, mcpParams, mcpResult, mcpError                              bool
	inferenceCompletion, inferenceMessages, inferenceToolCalls, toolsDetail bool
	// mcpParamKeys are the params added by mcp.params.<key>, beyond name and uri.
	mcpParamKeys []string
}

func newInclude(keys []string) include {
	var inc include
	for _, k := range keys {
		switch k {
		case "a2a.content":
			inc.a2aContent = true
		case "mcp.params":
			inc.mcpParams = true
		case "mcp.result":
			inc.mcpResult = true
		case "mcp.error":
			inc.mcpError = true
		case "inference.completion":
			inc.inferenceCompletion = true
		case "inference.messages":
			inc.inferenceMessages = true
		case "inference.tool_calls":
			inc.inferenceToolCalls = true
		case "inference.tools.detail":
			inc.toolsDetail = true
		default:
			if key, ok := strings.CutPrefix(k, "mcp.params."); ok && key != "" && key != "name" && key != "uri" {
				inc.mcpParamKeys = append(inc.mcpParamKeys, key)
			}
		}
	}
	return inc
}

// Markers of the events that can change what the input document shows. The parsers
// decode the events with encoding/json, which reads a key spelt with \u escapes: an
// event with one is always decided, so an escaped key hides nothing.
var (
	markEscape    = []byte(`\u`)
	markResult    = []byte(`"result"`)
	markError     = []byte(`"error"`)
	markA2A       = [][]byte{[]byte(`"status"`), []byte(`"artifact`), []byte(`"parts"`), markError}
	markContent   = [][]byte{[]byte(`"content"`), []byte(`"text"`), []byte(`"delta"`)}
	markToolCalls = [][]byte{[]byte(`"tool_calls"`), []byte(`"tool_use"`), []byte(`"input_json_delta"`), []byte(`"arguments"`)}
)

func (inc *include) frameMatters(r *pipeline.Request, frame []byte) bool {
	mcp := r.MCP != nil && (inc.mcpResult || inc.mcpError)
	a2a := r.A2A != nil && inc.a2aContent
	inf := r.Inference != nil && (inc.inferenceCompletion || inc.inferenceToolCalls)
	switch {
	case !mcp && !a2a && !inf:
		return false
	case bytes.Contains(frame, markEscape):
		return true
	case mcp && inc.mcpResult && bytes.Contains(frame, markResult),
		mcp && inc.mcpError && bytes.Contains(frame, markError),
		a2a && containsAny(frame, markA2A),
		inf && inc.inferenceCompletion && containsAny(frame, markContent),
		inf && inc.inferenceToolCalls && containsAny(frame, markToolCalls):
		return true
	}
	return false
}

func containsAny(b []byte, marks [][]byte) bool {
	for _, m := range marks {
		if bytes.Contains(b, m) {
			return true
		}
	}
	return false
}
