#!/usr/bin/env bash
# Builds one pinned Go command into the tools cache and prints its path.
# `go install pkg@version` is avoided on purpose: the module proxy here refuses many version
# lists, which `go install` needs for its deprecation check. A scratch module pins the version.
#
# usage: hack/gotool.sh CACHE_DIR MODULE VERSION PACKAGE [BINARY_NAME]
#   e.g. hack/gotool.sh ~/.cache/trustsync/tools sigs.k8s.io/controller-tools v0.23.0 \
#        sigs.k8s.io/controller-tools/cmd/controller-gen
set -euo pipefail

cache=${1:?usage: $0 CACHE_DIR MODULE VERSION PACKAGE [BINARY_NAME]}
mod=${2:?module}
ver=${3:?version}
pkg=${4:?package}
name=${5:-$(basename "$pkg")}
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

dir="$cache/$name-$ver"
bin="$dir/$name"
if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$dir"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
(
  cd "$scratch"
  gover=$(go env GOVERSION)
  printf 'module local/tool\n\ngo %s\n' "${gover#go}" > go.mod
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" > tools.go
  go get "$mod@$ver" >&2
  go mod tidy >&2
  CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" "$pkg" >&2
  mv "$bin.tmp" "$bin"
)
echo "$bin"
