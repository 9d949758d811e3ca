// Package spiretest runs a real SPIRE (1.13.3) server and agent for a test: a sqlite
// datastore, disk key managers, join-token node attestation and the unix workload
// attestor, on free 127.0.0.1 ports with short sync intervals (the server's
// experimental cache_reload_interval and the agent's sync_interval are 500 ms), so a
// registration entry reaches the Workload API about a second after it is created.
//
// Every workload entry is registered with the selector unix:uid:<uid of this process>,
// parented to the agent's alias: all entries match the test process itself, so the
// Workload API at SocketAddr returns every SVID registered, and a test can act as several
// workloads at once (X509Source picks one by SPIFFE ID).
//
// API (stable; other packages' tests build on it):
//
//	srv := spiretest.Run(t, spiretest.Options{TrustDomain: "example.org"}) // skip/fail, Start, Cleanup(Stop)
//	srv, err := spiretest.Start(ctx, opts)                                 // without testing.TB; caller Stops
//	id := srv.ID("/ns/team-a/sa/weather")                                  // spiffe://example.org/ns/team-a/sa/weather
//	err = srv.AddWorkload(ctx, id)                                         // registration entry
//	svid, err := srv.WaitForSVID(ctx, id)                                  // first X509-SVID with that ID
//	src, err := srv.X509Source(ctx, id)                                    // go-spiffe source: that SVID + bundles; caller Closes
//	b, err := srv.Bundle(ctx)                                              // the trust domain's X.509 bundle
//	srv.SocketAddr()                                                       // "unix:///tmp/spire-…/a.sock"
//	srv.TrustDomain(), srv.AgentID(), srv.Dir(), srv.Logs(), srv.Stop()
//	spiretest.Require(t)  // Binaries, or the test fails
//	spiretest.Find()      // Binaries, or why not
//
// Every wait is bounded: Start by Options.StartTimeout (1 min), WaitForSVID, X509Source
// and Bundle by 30 s, each CLI call by 30 s, Stop by 5 s per process before SIGKILL; all
// are cut short by ctx.
//
// The binaries come from hack/spire.sh (make spire): the directory in TRUSTSYNC_SPIRE,
// else ~/.cache/trustsync/tools/spire-v1.13.3. Find checks `--version` and that
// spire-server was built with cgo (its sqlite datastore is a stub otherwise). Run (and
// Require) fail the test when no usable binaries are there: a test that needs the real
// SPIRE never skips.
//
// Both processes run in their own process group and die with the test process
// (Pdeathsig), so no SPIRE outlives its test. Their output is kept in memory; errors quote
// its tail. The work directory (config, data, sockets) lives under /tmp-short paths:
// unix socket paths are limited to 108 bytes, which t.TempDir() paths can exceed.
//
// It owns only the SPIRE processes and their work directory. It must not import
// trustsync's own packages, so any package's tests can use it without an import cycle.
package spiretest
