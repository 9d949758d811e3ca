// Package live keeps the dashboard's pages live over server-sent events: one stream per
// tab, fed by a change signal from the informers. Changes are coalesced, each stream
// re-renders its own view and sends it only when it differs from what the tab shows, and
// streams are bounded in number and in lifetime, so a tab that never closes or a client
// that opens many costs a bounded amount.
//
// It knows nothing of Kubernetes or of the views: it is given a signal and a renderer.
package live
