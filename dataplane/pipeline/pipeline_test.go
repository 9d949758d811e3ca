package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr"
)

// probe records its calls in order and denies where told.
type probe struct {
	name           string
	log            *[]string
	denyReq, ready error
	denyResp       bool
	parser         bool
}

func (p *probe) Name() string { return p.name }
func (p *probe) OnRequest(context.Context, *Request) *Deny {
	*p.log = append(*p.log, p.name+":req")
	if p.denyReq != nil {
		return Denied(CodeForbidden, p.denyReq.Error())
	}
	return nil
}
func (p *probe) OnResponse(context.Context, *Request) *Deny {
	*p.log = append(*p.log, p.name+":resp")
	if p.denyResp {
		return Denied(CodeForbidden, "no")
	}
	return nil
}
func (p *probe) Ready() error { return p.ready }

type parserProbe struct{ probe }

func (*parserProbe) Parser() {}

func TestPipeline(t *testing.T) {
	for _, tc := range []struct {
		name      string
		entries   func(log *[]string) []Entry
		wantLog   []string
		wantDeny  string // plugin that denied, "" for none
		wantShade bool
	}{{
		name: "request in order, response in reverse",
		entries: func(log *[]string) []Entry {
			return []Entry{{Plugin: &probe{name: "a", log: log}}, {Plugin: &probe{name: "b", log: log}}}
		},
		wantLog: []string{"a:req", "b:req", "b:resp", "a:resp"},
	}, {
		name: "parsers read responses first, in their order",
		entries: func(log *[]string) []Entry {
			return []Entry{{Plugin: &parserProbe{probe{name: "p1", log: log}}}, {Plugin: &probe{name: "opa", log: log}}, {Plugin: &parserProbe{probe{name: "p2", log: log}}}}
		},
		wantLog: []string{"p1:req", "opa:req", "p2:req", "p1:resp", "p2:resp", "opa:resp"},
	}, {
		name: "an enforced denial stops the request",
		entries: func(log *[]string) []Entry {
			return []Entry{{Plugin: &probe{name: "a", log: log, denyReq: errors.New("no")}}, {Plugin: &probe{name: "b", log: log}}}
		},
		wantLog: []string{"a:req"}, wantDeny: "a",
	}, {
		name: "an observed denial is recorded and the request goes on",
		entries: func(log *[]string) []Entry {
			return []Entry{{Plugin: &probe{name: "a", log: log, denyReq: errors.New("no")}, OnError: Observe}, {Plugin: &probe{name: "b", log: log}}}
		},
		wantLog: []string{"a:req", "b:req", "b:resp", "a:resp"}, wantShade: true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			p, err := New(Outbound, tc.entries(&log))
			if err != nil {
				t.Fatal(err)
			}
			r := &Request{Direction: Outbound}
			d := p.Request(t.Context(), r)
			if d == nil {
				r.Response = &Response{StatusCode: 200}
				d = p.Response(t.Context(), r)
			}
			if got := ""; d != nil {
				got = d.Plugin
				if got != tc.wantDeny {
					t.Errorf("denied by %q, want %q", got, tc.wantDeny)
				}
			} else if tc.wantDeny != "" {
				t.Errorf("allowed, want a denial by %s", tc.wantDeny)
			}
			if !slices.Equal(log, tc.wantLog) {
				t.Errorf("calls %v, want %v", log, tc.wantLog)
			}
			shadow := slices.ContainsFunc(r.Invocations, func(i Invocation) bool { return i.Action == ActionShadow })
			if shadow != tc.wantShade {
				t.Errorf("invocations %+v, shadow %v", r.Invocations, tc.wantShade)
			}
		})
	}
}

func TestPipelineRefusesAndReadiness(t *testing.T) {
	var log []string
	if _, err := New(Inbound, []Entry{{Plugin: nil}}); err == nil {
		t.Error("a nil plugin was accepted")
	}
	if _, err := New(Inbound, []Entry{{Plugin: &probe{name: "a", log: &log}, OnError: "off"}}); err == nil {
		t.Error("on_error off was accepted (off entries are left out before)")
	}
	p, err := New(Inbound, []Entry{{Plugin: &probe{name: "opa", log: &log, ready: errors.New("no bundle")}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Ready(); err == nil || !strings.Contains(err.Error(), "inbound plugin not ready: opa: no bundle") {
		t.Errorf("Ready() = %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if d := p.Request(ctx, &Request{}); d == nil || d.Code != CodeCancelled || d.StatusCode() != 499 {
		t.Errorf("a cancelled request: %v", d)
	}
}

func TestDenyRendering(t *testing.T) {
	d := &Deny{Code: CodeMissingToken, Message: "missing Authorization header", Plugin: "jwt-validation", Challenge: `Bearer realm="x"`}
	w := httptest.NewRecorder()
	d.Write(w)
	var body map[string]string
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	if w.Code != http.StatusUnauthorized || body["error"] != CodeMissingToken || body["plugin"] != "jwt-validation" || w.Header().Get("WWW-Authenticate") != `Bearer realm="x"` {
		t.Errorf("401: %d %v %v", w.Code, body, w.Header())
	}
	if (&Deny{Code: "unknown.code"}).StatusCode() != 500 {
		t.Error("an unknown code is not 500")
	}
	// An outbound MCP call with an id gets JSON-RPC -32000 at 200, the id as written.
	for _, id := range []any{"call-1", json.Number("7")} {
		w = httptest.NewRecorder()
		(&Deny{Code: CodeForbidden, Message: "policy denied", Plugin: "opa"}).WriteFor(w, &Request{Direction: Outbound, MCP: &MCP{RPCID: id}})
		var rpc struct {
			ID    json.RawMessage `json:"id"`
			Error struct {
				Code int `json:"code"`
			} `json:"error"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &rpc)
		want, _ := json.Marshal(id)
		if w.Code != 200 || rpc.Error.Code != -32000 || string(rpc.ID) != string(want) {
			t.Errorf("MCP deny for id %v: %d %s", id, w.Code, w.Body)
		}
	}
	// Inbound, a notification, or a response: the plain error.
	for _, r := range []*Request{{Direction: Inbound, MCP: &MCP{RPCID: "1"}}, {Direction: Outbound, MCP: &MCP{}}} {
		w = httptest.NewRecorder()
		(&Deny{Code: CodeForbidden}).WriteFor(w, r)
		if w.Code != 403 {
			t.Errorf("%+v: %d", r, w.Code)
		}
	}
}

// rewriter sets a new body on the request and the response, and denies where told.
type rewriter struct {
	deny bool
}

func (*rewriter) Name() string                                { return "rewriter" }
func (w *rewriter) OnRequest(context.Context, *Request) *Deny { return nil }
func (w *rewriter) OnResponse(_ context.Context, r *Request) *Deny {
	r.Response.Body = []byte("rewritten")
	if w.deny {
		return Denied(CodeContentBlocked, "would block")
	}
	return nil
}

type requestRewriter struct{ rewriter }

func (w *requestRewriter) OnRequest(_ context.Context, r *Request) *Deny {
	r.Body = []byte("rewritten")
	if w.deny {
		return Denied(CodeContentBlocked, "would block")
	}
	return nil
}

// TestObserve: an observe entry's denial is recorded, logged at WARN and not enforced,
// and the body it sets is put back; an enforce entry's is kept.
func TestObserve(t *testing.T) {
	for _, tc := range []struct {
		name     string
		onError  OnError
		deny     bool
		wantBody string
		wantDeny bool
		wantWarn bool
	}{
		{name: "observe, denying", onError: Observe, deny: true, wantBody: "original", wantWarn: true},
		{name: "observe, allowing", onError: Observe, wantBody: "original"},
		{name: "enforce, allowing", onError: Enforce, wantBody: "rewritten"},
		{name: "enforce, denying", onError: Enforce, deny: true, wantBody: "rewritten", wantDeny: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf strings.Builder
			log := logr.FromSlogHandler(slog.NewJSONHandler(&buf, nil))
			p, err := New(Outbound, []Entry{{Plugin: &requestRewriter{rewriter{deny: tc.deny}}, OnError: tc.onError}}, WithLog(log))
			if err != nil {
				t.Fatal(err)
			}
			r := &Request{Direction: Outbound, Body: []byte("original"), Path: "/reset/secret-token"}
			d := p.Request(t.Context(), r)
			if (d != nil) != tc.wantDeny || string(r.Body) != tc.wantBody {
				t.Errorf("request: denial %v, body %q; want denial %v, body %q", d, r.Body, tc.wantDeny, tc.wantBody)
			}
			if d == nil {
				r.Response = &Response{StatusCode: 200, Body: []byte("original")}
				d = p.Response(t.Context(), r)
				if (d != nil) != tc.wantDeny || string(r.Response.Body) != tc.wantBody {
					t.Errorf("response: denial %v, body %q; want denial %v, body %q", d, r.Response.Body, tc.wantDeny, tc.wantBody)
				}
			}
			lines := strings.Count(buf.String(), "\n")
			switch {
			case !tc.wantWarn && lines != 0:
				t.Errorf("logged %s", buf.String())
			case tc.wantWarn && lines != 2: // the request's and the response's
				t.Errorf("want two WARN lines, got %q", buf.String())
			case tc.wantWarn:
				var line map[string]any
				if err := json.Unmarshal([]byte(strings.SplitN(buf.String(), "\n", 2)[0]), &line); err != nil {
					t.Fatal(err)
				}
				if line["level"] != "WARN" || line["msg"] != "plugin would have denied (shadow)" || line["plugin"] != "rewriter" || line["code"] != CodeContentBlocked || line["phase"] != "request" {
					t.Errorf("log line %v", line)
				}
				if strings.Contains(buf.String(), "secret-token") {
					t.Error("the log carries the request's path")
				}
			}
			want := ActionAllow
			if tc.deny {
				want = map[OnError]Action{Observe: ActionShadow, Enforce: ActionDeny}[tc.onError]
			}
			if len(r.Invocations) == 0 || r.Invocations[0].Action != want {
				t.Errorf("invocations %+v, want the first %s", r.Invocations, want)
			}
		})
	}
}
