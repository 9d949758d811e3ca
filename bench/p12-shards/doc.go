// Command p12-shards is benchmark P12 (issue 16): 2,000 Syncs reconciled by one
// controller replica against the same number reconciled by two controller shards
// (docs/fleet.md, "Controller shards"), in the same run, on a real API server
// (envtest), Gitea and the controller binary (package stack).
//
// One Gitea repository holds a directory per Sync, one ConfigMap each, pushed once.
// Each phase creates namespaces of its own (20 by default, -namespaces), a GitSource of
// the repository in each, and waits for their first fetch; then it creates the Syncs
// (interval 1h, no wait, no commit status, targetNamespace their own namespace) and
// times from the first create to every Sync Ready. It follows the Syncs with a watch,
// not a List polled: at 2,000 Syncs one List took the loaded API server half a second,
// CPU the controllers would otherwise have had.
//
//   - Phase 1: the stack's own controller, alone and with no selector — the main set,
//     whose run-time controllers idle here. Once its memory is read it is killed.
//   - Phase 2: two controller processes, --watch-label-selector
//     sharding.fluxcd.io/key=shard1 and =shard2, each with --leader-elect on a Lease of
//     its own, both held before the timing starts; the namespaces alternate between the
//     shards, and their GitSources and Syncs carry the shard label.
//
// It prints, each phase, the API requests served while it was timed (five a Sync from
// the controllers: a dry-run apply, an apply, a patch and a status patch of the Sync, an
// event; and this program's create) and where the CPU went, then
//
//	RESULT P12 syncs=… namespaces=… one_s=… shards_s=… ratio=<one_s/shards_s> shard1_s=… shard2_s=… one_rss_mb=… shard_rss_mb=<mean> one_peak_mb=… shard_peak_mb=… one_idle_mb=… shard_idle_mb=… one_cpu_s=… shards_cpu_s=… one_apiserver_cpu_s=… shards_apiserver_cpu_s=… one_busy_pct=… shards_busy_pct=…
//
// The *_idle_mb are read once the GitSources are fetched, before the Syncs; *_cpu_s are
// the controllers' CPU seconds while timed (both shards together), *_apiserver_cpu_s
// kube-apiserver's and etcd's, *_busy_pct the whole machine's (other work on it
// included).
//
// What bounds it. One replica reconciles four Syncs at once (--concurrent) and each waits
// on the API server, so it leaves part of the cores idle; two shards reconcile eight at
// once and then meet the CPU: both shards, the API server and etcd, Gitea and this
// program share the machine's cores (two where it was written), and the API server and
// etcd spend two and a half to three CPU seconds for each of the controllers'. The ratio is
// therefore capped by the CPU one replica leaves idle, and by whatever else the machine
// runs at the time; with the API server on machines of its own it would come nearer two.
// Phase 2 also runs with phase 1's objects still in the API server (its 2,000 Syncs, 20
// GitSources, 2,000 ConfigMaps and their events: a larger etcd and watch cache; the
// shards select by label and cache none of them), while phase 1 starts on a fresh one.
// A shard's memory is that of a process caching half the objects: smaller than the one
// replica's, the two together larger, each carrying the runtime's and binary's own.
package main
