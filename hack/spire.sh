#!/usr/bin/env bash
# Builds a real SPIRE (server and agent) from the Go module proxy into
# CACHE_DIR/tools/spire-VERSION/ and prints that directory. `go install …@VERSION` fails here
# (the proxy refuses SPIRE's version list, which go install reads for its deprecation check),
# so a scratch module pins the version. The result is keyed by version and reused when both
# binaries run and were built with cgo (the server's sqlite datastore needs it); builds
# write temporary names and rename them at the end, so an interrupted build leaves no
# broken binary. Cold: ~11 min on two cores.
#
# usage: hack/spire.sh CACHE_DIR [VERSION]     (VERSION defaults to v1.13.3)
set -euo pipefail

cache=${1:?usage: $0 CACHE_DIR [VERSION]}
ver=${2:-v1.13.3}
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

dir="$cache/tools/spire-$ver"
if [[ -x "$dir/spire-server" && -x "$dir/spire-agent" ]] \
   && "$dir/spire-server" --version >/dev/null 2>&1 && "$dir/spire-agent" --version >/dev/null 2>&1 \
   && go version -m "$dir/spire-server" | grep -q 'CGO_ENABLED=1'; then
  echo "$dir"
  exit 0
fi

command -v gcc >/dev/null || { echo "spire.sh: gcc not found; spire-server's sqlite datastore needs cgo" >&2; exit 1; }

start=$SECONDS
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch" "$dir"/*.tmp.$$' EXIT

(
  cd "$scratch"
  gover=$(go env GOVERSION)
  printf 'module local/spire\n\ngo %s\n' "${gover#go}" > go.mod
  cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "github.com/spiffe/spire/cmd/spire-agent"
	_ "github.com/spiffe/spire/cmd/spire-server"
)
GO
  echo "spire.sh: downloading github.com/spiffe/spire@$ver" >&2
  go get "github.com/spiffe/spire@$ver" >&2
  go mod tidy >&2
  echo "spire.sh: building spire-server and spire-agent $ver (~11 min cold)" >&2
  for cmd in spire-server spire-agent; do
    CGO_ENABLED=1 go build -trimpath -ldflags "-s -w" -o "$dir/$cmd.tmp.$$" "github.com/spiffe/spire/cmd/$cmd" >&2
    mv "$dir/$cmd.tmp.$$" "$dir/$cmd"
  done
)

echo "spire.sh: built $dir in $((SECONDS - start)) s" >&2
echo "$dir"
