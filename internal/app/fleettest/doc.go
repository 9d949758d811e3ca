// Package fleettest holds the fleet's end-to-end tests: one hub and two member API
// servers (envtest, on loopback), Gitea for the Git repositories and commit statuses,
// and the controller as it runs (package internal/app/controller) on the hub.
package fleettest
