package spiretest

import (
	"bytes"
	"context"
	"crypto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

func TestFindNamesTheFix(t *testing.T) {
	t.Setenv(EnvDir, filepath.Join(t.TempDir(), "no-spire"))
	_, err := find()
	if err == nil || !strings.Contains(err.Error(), EnvDir) || !strings.Contains(err.Error(), "make spire") {
		t.Fatalf("find() with a missing %s: got %v, want an error naming %s and `make spire`", EnvDir, err, EnvDir)
	}
}

func TestFindRejectsOtherVersions(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"spire-server", "spire-agent"} {
		script := "#!/bin/sh\necho 1.12.0 >&2\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(EnvDir, dir)
	_, err := find()
	if err == nil || !strings.Contains(err.Error(), `"1.12.0"`) {
		t.Fatalf("find() with SPIRE 1.12.0: got %v, want a version mismatch", err)
	}
}

func TestWorkDirFitsUnixSockets(t *testing.T) {
	long := filepath.Join(t.TempDir(), strings.Repeat("d", 120))
	if err := os.MkdirAll(long, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := workDir(long)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if len(dir+"/a.sock") > 104 { // macOS's limit; Linux allows 108
		t.Fatalf("work dir %s is too long for a unix socket", dir)
	}
}

func TestTailBufferKeepsTheEnd(t *testing.T) {
	b := &tailBuffer{max: 8}
	for _, s := range []string{"0123", "4567", "89ab"} {
		if _, err := b.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.tail(100); got != "456789ab" {
		t.Fatalf("tail = %q, want the last 8 bytes %q", got, "456789ab")
	}
	if got := b.tail(3); got != "9ab" {
		t.Fatalf("tail(3) = %q", got)
	}
}

// TestTwoWorkloads runs a real SPIRE and proves that the Workload API serves two
// registered workloads two distinct SVIDs, each chaining to the trust domain's bundle, and
// that Stop takes the Workload API and the work directory away.
func TestTwoWorkloads(t *testing.T) {
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	begin := time.Now()
	srv, err := Start(ctx, Options{TrustDomain: "spiretest.example"})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = srv.Stop()
		}
	})
	t.Logf("SPIRE %s server and agent ready in %s; Workload API at %s", Version, time.Since(begin).Round(time.Millisecond), srv.SocketAddr())
	if !strings.HasPrefix(srv.SocketAddr(), "unix:///") {
		t.Errorf("SocketAddr() = %q, want unix:///…", srv.SocketAddr())
	}

	a, b := srv.ID("/ns/team-a/sa/weather"), srv.ID("/ns/team-b/sa/planner")
	if err := srv.AddWorkload(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddWorkload(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddWorkload(ctx, srv.ID("/ns/team-c/sa/other")); err != nil {
		t.Fatal(err) // a third entry, so "two distinct" is not just "all there are"
	}

	srcA, err := srv.X509Source(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer srcA.Close()
	srcB, err := srv.X509Source(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer srcB.Close()
	t.Logf("both SVIDs served %s after start", time.Since(begin).Round(time.Millisecond))

	svidA, err := srcA.GetX509SVID()
	if err != nil {
		t.Fatal(err)
	}
	svidB, err := srcB.GetX509SVID()
	if err != nil {
		t.Fatal(err)
	}
	if svidA.ID != a || svidB.ID != b {
		t.Fatalf("sources serve %s and %s, want %s and %s", svidA.ID, svidB.ID, a, b)
	}
	if bytes.Equal(svidA.Certificates[0].Raw, svidB.Certificates[0].Raw) {
		t.Fatal("both workloads got the same certificate")
	}
	if pubA, pubB := svidA.Certificates[0].PublicKey, svidB.Certificates[0].PublicKey; pubA.(interface{ Equal(crypto.PublicKey) bool }).Equal(pubB) {
		t.Fatal("both workloads got the same key")
	}

	bundle, err := srv.Bundle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if bundle.TrustDomain() != srv.TrustDomain() || len(bundle.X509Authorities()) == 0 {
		t.Fatalf("bundle for %s with %d authorities, want %s with at least one", bundle.TrustDomain(), len(bundle.X509Authorities()), srv.TrustDomain())
	}
	for _, svid := range []*x509svid.SVID{svidA, svidB} {
		id, _, err := x509svid.Verify(svid.Certificates, bundle)
		if err != nil {
			t.Fatalf("SVID %s does not verify against the bundle: %v", svid.ID, err)
		}
		if id != svid.ID {
			t.Fatalf("verified ID %s, want %s", id, svid.ID)
		}
	}
	// The source's own bundle set is the same trust anchor.
	if _, _, err := x509svid.Verify(svidB.Certificates, srcA); err != nil {
		t.Fatalf("SVID %s does not verify against source A's bundles: %v", b, err)
	}

	if err := srv.AddWorkload(ctx, spiffeid.RequireFromString("spiffe://other.example/ns/a/sa/b")); err == nil {
		t.Error("AddWorkload accepted an ID of another trust domain")
	}

	srcA.Close()
	srcB.Close()
	stopped = true
	if err := srv.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := os.Stat(srv.Dir()); !os.IsNotExist(err) {
		t.Errorf("work dir %s still there after Stop (%v)", srv.Dir(), err)
	}
	fctx, fcancel := context.WithTimeout(ctx, 2*time.Second)
	defer fcancel()
	if _, err := workloadapi.FetchX509SVIDs(fctx, workloadapi.WithAddr(srv.SocketAddr())); err == nil {
		t.Error("the Workload API still answers after Stop")
	}
}

// TestAgentRestart: with the agent stopped its socket answers nothing while an open
// X509Source keeps its SVID; started again, it serves the registered workloads again.
func TestAgentRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := Run(t, Options{})
	id := srv.ID("/ns/team-a/sa/weather")
	if err := srv.AddWorkload(ctx, id); err != nil {
		t.Fatal(err)
	}
	src, err := srv.X509Source(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := srv.StopAgent(); err != nil {
		t.Fatal(err)
	}
	if err := srv.StopAgent(); err == nil {
		t.Error("stopping a stopped agent succeeded")
	}
	down, cancelDown := context.WithTimeout(ctx, 2*time.Second)
	_, err = srv.fetchSVID(down, id)
	cancelDown()
	if err == nil {
		t.Error("the Workload API served an SVID with the agent stopped")
	}
	if svid, err := src.GetX509SVID(); err != nil || svid.ID != id {
		t.Errorf("the open source with the agent stopped: %v, %v; want its SVID", svid, err)
	}
	if err := srv.StartAgent(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.WaitForSVID(ctx, id); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
}
