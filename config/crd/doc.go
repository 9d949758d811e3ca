// Package crd embeds trustsync's CustomResourceDefinitions as `make generate` writes them
// into bases/ from api/, so that render validates objects against the very schemas the
// API server is given (renderers/schema); there is no second copy to go stale.
//
// It holds data only and must not import anything of trustsync.
package crd

import "embed"

// Bases holds bases/*.yaml, one CustomResourceDefinition per file.
//
//go:embed bases/*.yaml
var Bases embed.FS
