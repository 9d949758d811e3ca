#!/usr/bin/env bash
# Builds a real Gitea from the Go module proxy into CACHE_DIR/tools/gitea-VERSION/gitea and
# prints its path. Gitea's go.mod has replace directives, so `go install` cannot build it: the
# module is copied to a scratch directory and built as the main module, with the bindata
# (options, public, templates, migration schemas) generated into the binary so it needs no
# files beside it. 1.26 uses cgo sqlite (mattn/go-sqlite3), hence gcc.
# The result is keyed by version and reused when `gitea --version` runs; the build writes a
# temporary name and renames it at the end, so an interrupted build leaves no broken binary.
#
# usage: hack/gitea.sh CACHE_DIR [VERSION]     (VERSION defaults to v1.26.0)
set -euo pipefail

cache=${1:?usage: $0 CACHE_DIR [VERSION]}
ver=${2:-v1.26.0}
export GOTOOLCHAIN=local

dir="$cache/tools/gitea-$ver"
bin="$dir/gitea"
if [[ -x "$bin" ]] && "$bin" --version >/dev/null 2>&1; then
  echo "$bin"
  exit 0
fi

command -v gcc >/dev/null || { echo "gitea.sh: gcc not found; Gitea $ver needs cgo for sqlite" >&2; exit 1; }

start=$SECONDS
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
bin="$dir/gitea"
tmpbin="$bin.tmp.$$"
# The scratch copy lives outside any repository (mktemp) so it can never be committed.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch" "$tmpbin"' EXIT

echo "gitea.sh: downloading code.gitea.io/gitea@$ver" >&2
# Run from the scratch dir so no surrounding go.mod takes part in the download.
moddir=$(cd "$scratch" && go mod download -json "code.gitea.io/gitea@$ver" \
  | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
[[ -n "$moddir" && -d "$moddir" ]] || { echo "gitea.sh: go mod download gave no Dir for code.gitea.io/gitea@$ver" >&2; exit 1; }

src="$scratch/gitea"
cp -r "$moddir" "$src"
chmod -R u+w "$src" # the module cache is read-only; go generate writes into the copy

echo "gitea.sh: generating bindata" >&2
for p in options public templates migration; do
  (cd "$src/modules/$p" && CGO_ENABLED=0 GOFLAGS=-mod=mod go generate -tags bindata ./...) >&2
done

echo "gitea.sh: building gitea $ver (cgo, ~5-8 min cold)" >&2
tags="bindata sqlite sqlite_unlock_notify"
(
  cd "$src"
  CGO_ENABLED=1 GOFLAGS=-mod=mod go build -tags "$tags" \
    -ldflags "-s -w -X \"main.Version=${ver#v}\" -X \"main.Tags=$tags\"" \
    -o "$tmpbin" .
) >&2
"$tmpbin" --version >&2
mv "$tmpbin" "$bin"

echo "gitea.sh: built $bin in $((SECONDS - start)) s" >&2
echo "$bin"
