// Package config embeds the kustomize bases users install trustsync with, so that
// `trustsync install` applies exactly what `kubectl apply -k config/...` would: one
// source of truth for the installation, and the binary needs no checkout.
//
// It holds data only and must not import anything of trustsync.
package config

import "embed"

// Bases holds every base and component below config/, by their paths relative to it
// (default/kustomization.yaml, crd/bases/…).
//
//go:embed */*.yaml */*/*.yaml
var Bases embed.FS
