// Package dashboard runs the sync dashboard: its cache, its server and its listener,
// alone (`trustsync dashboard`) or in the controller's manager (`--dashboard-addr`).
package dashboard
