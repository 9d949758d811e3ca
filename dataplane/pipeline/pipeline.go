package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/go-logr/logr"
)

// MaxBodyBytes bounds a buffered request or response body (and an SSE frame), as
// upstream and Envoy's default per-stream buffer.
const MaxBodyBytes = 1 << 20

// OnError is an entry's policy for its plugin's denials.
type OnError string

const (
	// Enforce refuses the request (the default).
	Enforce OnError = "enforce"
	// Observe records the denial and lets the request go on.
	Observe OnError = "observe"
)

// Entry is a plugin in a pipeline.
type Entry struct {
	Plugin  Plugin
	OnError OnError
}

// Pipeline is one direction's plugins, in the configured order. It is immutable and
// safe for concurrent use; a reload builds a new one.
type Pipeline struct {
	direction Direction
	entries   []Entry
	request   []entryOf[RequestHandler]
	response  []entryOf[ResponseHandler]
	frame     []entryOf[FrameHandler]
	readiers  []Readier
	runners   []Runner

	readsBody, readsResponseBody bool
	// warn logs the denials of observe entries; nil logs nothing.
	warn *slog.Logger
}

// Option configures a pipeline.
type Option func(*Pipeline)

// WithLog logs each denial of an observe entry at WARN on l, as upstream does ("plugin
// would have denied (shadow)"): a denial nobody enforces should not go unnoticed.
func WithLog(l logr.Logger) Option {
	return func(p *Pipeline) { p.warn = slog.New(logr.ToSlogHandler(l)) }
}

type entryOf[T any] struct {
	name    string
	observe bool
	h       T
}

// responseOrder puts the parsers first, in list order, and the others after them in
// the reverse order.
func responseOrder[T any](in []entryOf[T]) []entryOf[T] {
	var parsers, others []entryOf[T]
	for _, e := range in {
		if _, ok := any(e.h).(Parser); ok {
			parsers = append(parsers, e)
		} else {
			others = append(others, e)
		}
	}
	slices.Reverse(others)
	return append(parsers, others...)
}

// New makes the pipeline of a direction. It refuses an entry whose plugin handles
// nothing and an unknown on_error.
func New(d Direction, entries []Entry, opts ...Option) (*Pipeline, error) {
	p := &Pipeline{direction: d, entries: slices.Clone(entries)}
	for _, o := range opts {
		o(p)
	}
	for i, e := range entries {
		if e.Plugin == nil {
			return nil, fmt.Errorf("%s pipeline entry %d: no plugin", d, i)
		}
		name := e.Plugin.Name()
		var observe bool
		switch e.OnError {
		case Enforce, "":
		case Observe:
			observe = true
		default:
			return nil, fmt.Errorf("%s pipeline entry %d (%s): on_error %q is neither enforce nor observe", d, i, name, e.OnError)
		}
		handles := false
		if h, ok := e.Plugin.(RequestHandler); ok {
			p.request = append(p.request, entryOf[RequestHandler]{name, observe, h})
			handles = true
		}
		if h, ok := e.Plugin.(ResponseHandler); ok {
			p.response = append(p.response, entryOf[ResponseHandler]{name, observe, h})
			handles = true
		}
		if h, ok := e.Plugin.(FrameHandler); ok {
			p.frame = append(p.frame, entryOf[FrameHandler]{name, observe, h})
			handles = true
		}
		if !handles {
			return nil, fmt.Errorf("%s pipeline entry %d (%s): the plugin handles neither requests, responses nor frames", d, i, name)
		}
		if r, ok := e.Plugin.(Readier); ok {
			p.readiers = append(p.readiers, r)
		}
		if r, ok := e.Plugin.(Runner); ok {
			p.runners = append(p.runners, r)
		}
		if b, ok := e.Plugin.(BodyReader); ok && b.ReadsBody() {
			p.readsBody = true
		}
		if b, ok := e.Plugin.(ResponseBodyReader); ok && b.ReadsResponseBody() {
			p.readsResponseBody = true
		}
	}
	// Response handlers run in the reverse order, the way the request unwinds, after
	// the parsers in theirs.
	p.response = responseOrder(p.response)
	p.frame = responseOrder(p.frame)
	return p, nil
}

// Direction is the pipeline's direction.
func (p *Pipeline) Direction() Direction { return p.direction }

// Entries are the pipeline's entries in order.
func (p *Pipeline) Entries() []Entry { return slices.Clone(p.entries) }

// ReadsBody says a plugin reads request bodies, so listeners buffer them.
func (p *Pipeline) ReadsBody() bool { return p.readsBody }

// ReadsResponseBody says a plugin reads response bodies.
func (p *Pipeline) ReadsResponseBody() bool { return p.readsResponseBody }

// Streams says a plugin handles SSE frames.
func (p *Pipeline) Streams() bool { return len(p.frame) > 0 }

// Ready returns nil when every plugin is ready, else which is not and why.
func (p *Pipeline) Ready() error {
	var errs []error
	for _, r := range p.readiers {
		if err := r.Ready(); err != nil {
			errs = append(errs, fmt.Errorf("%s plugin not ready: %s: %w", p.direction, r.(Plugin).Name(), err))
		}
	}
	return errors.Join(errs...)
}

// Run runs every plugin's background work until ctx is done, and returns when all of
// it has.
func (p *Pipeline) Run(ctx context.Context) {
	done := make(chan struct{}, len(p.runners))
	for _, r := range p.runners {
		go func() {
			defer func() { done <- struct{}{} }()
			r.Run(ctx)
		}()
	}
	for range p.runners {
		<-done
	}
}

// Request runs the request handlers in order. It returns the first enforced denial
// (with Plugin filled); an observed denial is recorded and the request goes on. An
// observe entry only looks: a body it sets is put back. A cancelled ctx ends the run with
// pipeline.cancelled.
func (p *Pipeline) Request(ctx context.Context, r *Request) *Deny {
	for _, e := range p.request {
		if ctx.Err() != nil {
			return &Deny{Code: CodeCancelled, Message: "the request was cancelled", Plugin: "pipeline"}
		}
		body := r.Body
		d := e.h.OnRequest(ctx, r)
		if e.observe {
			r.Body = body
		}
		if d := p.record(r, e.name, e.observe, PhaseRequest, d); d != nil {
			return d
		}
	}
	return nil
}

// Response runs the response handlers, last plugin first; r.Response must be set. As
// on requests, a body an observe entry sets is put back.
func (p *Pipeline) Response(ctx context.Context, r *Request) *Deny {
	for _, e := range p.response {
		body := r.Response.Body
		d := e.h.OnResponse(ctx, r)
		if e.observe {
			r.Response.Body = body
		}
		if d := p.record(r, e.name, e.observe, PhaseResponse, d); d != nil {
			return d
		}
	}
	return nil
}

// Frame runs the frame handlers on one SSE event, last plugin first.
func (p *Pipeline) Frame(ctx context.Context, r *Request, frame []byte) *Deny {
	for _, e := range p.frame {
		if d := e.h.OnFrame(ctx, r, frame); d != nil {
			if d = p.record(r, e.name, e.observe, PhaseResponse, d); d != nil {
				return d
			}
		}
	}
	return nil
}

// record notes a handler's outcome and returns the denial to enforce, if any.
func (p *Pipeline) record(r *Request, name string, observe bool, phase Phase, d *Deny) *Deny {
	if d == nil {
		r.Invocations = append(r.Invocations, Invocation{Plugin: name, Phase: phase, Action: ActionAllow})
		return nil
	}
	d.Plugin = name
	if observe {
		r.Invocations = append(r.Invocations, Invocation{Plugin: name, Phase: phase, Action: ActionShadow, Code: d.Code})
		if p.warn != nil {
			// Nothing of the request: its path, headers and body may carry credentials (the
			// access log has the exchange, redacted, with this invocation).
			p.warn.Warn("plugin would have denied (shadow)", "plugin", name, "direction", string(p.direction), "phase", string(phase), "code", d.Code, "reason", d.Message)
		}
		return nil
	}
	r.Invocations = append(r.Invocations, Invocation{Plugin: name, Phase: phase, Action: ActionDeny, Code: d.Code})
	return d
}
