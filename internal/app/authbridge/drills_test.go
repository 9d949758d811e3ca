package authbridge_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/internal/keycloaktest"
	"github.com/trustsync/trustsync/internal/waitfor"
)

// drillPair is a world with A's and B's sidecars running, both strict, each with its
// first bundle: A may call B.
type drillPair struct {
	w         *world
	a, b      *sidecar
	toB, tokA string
	ctx       context.Context
	t         *testing.T
}

func newDrillPair(t *testing.T, ctx context.Context) *drillPair {
	w := newWorld(t, ctx)
	a := w.newSidecar("sidecar-a", w.a, startApp(t), w.b, "strict")
	b := w.newSidecar("sidecar-b", w.b, startApp(t), w.a, "strict", w.a)
	a.start()
	b.start()
	w.startBundleServer()
	for _, sc := range []*sidecar{a, b} {
		waitfor.NoError(t, sc.name+" ready", func() error { return getOK("http://" + sc.addrs.Health + "/readyz") })
	}
	p := &drillPair{w: w, a: a, b: b, toB: "http://" + b.addrs.Reverse, tokA: w.token(w.a), ctx: ctx, t: t}
	if r := p.call("/hello"); r.status != http.StatusOK {
		t.Fatalf("A→B with both sidecars ready: %d %s", r.status, r.body)
	}
	return p
}

// call is A's app calling B's path through both sidecars.
func (p *drillPair) call(path string) reply {
	return mustDo(p.t, p.a.via(), "GET", p.toB+path, p.tokA, "")
}

// denyAtB changes B's inbound policy in the API server to deny path too.
func (p *drillPair) denyAtB(path string) {
	t := p.t
	pol := &agentv1.AuthorizationPolicy{}
	if err := env.Client.Get(p.ctx, client.ObjectKey{Namespace: "team-b", Name: "agent-b"}, pol); err != nil {
		t.Fatal(err)
	}
	for i := range pol.Spec.Policies {
		if pol.Spec.Policies[i].Path == "inbound/request.rego" {
			pol.Spec.Policies[i].Content = strings.Replace(pol.Spec.Policies[i].Content, "allow if {", "allow if {\n\tinput.path != \""+path+"\"", 1)
		}
	}
	if err := env.Client.Update(p.ctx, pol); err != nil {
		t.Fatal(err)
	}
}

// TestDrillBundleServerDownLastBundleDecides: with the bundle server stopped, the
// sidecars keep deciding by the last bundle, also a sidecar restarted meanwhile (from
// the bundle it persisted) — in permissive mode it then takes plaintext too, and still
// decides; a policy changed during the outage is decided by nobody until the server is
// back, then by the sidecar.
func TestDrillBundleServerDownLastBundleDecides(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p := newDrillPair(t, ctx)
	w, a, b := p.w, p.a, p.b
	p.denyAtB("/closed")
	waitfor.True(t, "the changed policy at B", func() bool { return p.call("/closed").status == http.StatusForbidden })

	w.stopBS()
	if r := p.call("/hello"); r.status != http.StatusOK {
		t.Errorf("A→B with the bundle server down: %d %s", r.status, r.body)
	}
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	b.agent.MTLS = "permissive"
	b.write()
	b.start()
	waitfor.NoError(t, "B ready from its persisted bundle", func() error { return getOK("http://" + b.addrs.Health + "/readyz") })
	if r := p.call("/hello"); r.status != http.StatusOK {
		t.Errorf("A→B after B restarted with the bundle server down: %d %s", r.status, r.body)
	}
	if r := p.call("/closed"); r.status != http.StatusForbidden {
		t.Errorf("the persisted bundle is the last one, which denies /closed: %d", r.status)
	}
	// Permissive: plaintext is served (and refused by jwt-validation, not closed).
	plain := &http.Client{Timeout: 5 * time.Second}
	if r := mustDo(t, plain, "GET", p.toB+"/hello", "", ""); r.status != http.StatusUnauthorized {
		t.Errorf("plaintext to permissive B: %d %s", r.status, r.body)
	}
	// Over plaintext there is no peer, so B's policy (which wants A's SVID) refuses
	// even A's valid exchanged token.
	exchanged, err := keycloaktest.Exchange(ctx, w.issuer, w.a.String(), w.secrets[w.a], p.tokA, w.b.String())
	if err != nil {
		t.Fatal(err)
	}
	if r := mustDo(t, plain, "GET", p.toB+"/hello", exchanged, ""); r.status != http.StatusForbidden {
		t.Errorf("plaintext with a valid token but no peer SVID: %d %s, want 403", r.status, r.body)
	}

	p.denyAtB("/later")
	if r := p.call("/later"); r.status == http.StatusForbidden {
		t.Errorf("with the bundle server down, /later is decided by the last bundle, which lets it reach B's app: %d %s", r.status, r.body)
	}
	w.startBundleServer()
	waitfor.True(t, "the policy changed during the outage at B", func() bool { return p.call("/later").status == http.StatusForbidden })
	if r := mustDo(t, a.via(), "GET", p.toB+"/hello", p.tokA, ""); r.status != http.StatusOK {
		t.Errorf("A→B once the bundle server is back: %d %s", r.status, r.body)
	}
}

// TestDrillSPIREAgentGoneSidecarsKeepTheirIdentity: the node's SPIRE agent stopped
// under running sidecars. They keep their SVIDs and A→B keeps working over mutual TLS;
// a sidecar started meanwhile waits for its identity, not ready, and does not exit
// (no crash loop); once the agent is back it becomes ready and A→B works again.
func TestDrillSPIREAgentGoneSidecarsKeepTheirIdentity(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p := newDrillPair(t, ctx)
	w, b := p.w, p.b

	if err := w.spire.StopAgent(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if r := p.call("/hello"); r.status != http.StatusOK {
			t.Fatalf("A→B with the SPIRE agent stopped: %d %s", r.status, r.body)
		}
	}
	// B restarted without the agent: it waits for its SVID, not ready, still running.
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	exited := b.run()
	time.Sleep(3 * time.Second)
	select {
	case <-exited:
		t.Fatalf("B exited without the SPIRE agent (a crash loop in a pod): %v", b.exitErr)
	default:
	}
	if err := getOK("http://" + b.addrs.Health + "/readyz"); err == nil {
		t.Error("B is ready without its SVID")
	}
	if r, err := do(t, p.a.via(), "GET", p.toB+"/hello", p.tokA, ""); err == nil && r.status == http.StatusOK {
		t.Errorf("A→B reached B's app while B has no identity: %d %s", r.status, r.body)
	}

	if err := w.spire.StartAgent(ctx); err != nil {
		t.Fatal(err)
	}
	waitfor.NoError(t, "B ready once the agent is back", func() error { return getOK("http://" + b.addrs.Health + "/readyz") })
	waitfor.True(t, "A→B once the agent is back", func() bool { return p.call("/hello").status == http.StatusOK })
}
