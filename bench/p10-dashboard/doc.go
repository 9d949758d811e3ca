// Command p10-dashboard measures the dashboard at fleet size: 1,000 Syncs and 1,000
// agents in envtest, `trustsync dashboard` as a process of its own, driven by headless
// Chromium. It prints, each the median of several runs: the overview and the agents page
// ready (navigation to the first row drawn), a Sync's status change to screen, the access
// view of 1,000 identities, and the dashboard's memory; the baseline, in the same run, is
// listing the 1,000 Syncs from the API server, which a browser-side list must do before it
// draws anything.
//
//	RESULT P10 syncs=… agents=… overview_ms=… agents_ms=… change_ms=… access_ms=… rss_mb=… peak_mb=… synced_mb=… pages_mb=… list_ms=…
package main
