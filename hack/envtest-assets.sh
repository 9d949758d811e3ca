#!/usr/bin/env bash
# Builds the envtest control plane (etcd, kube-apiserver, kubectl) from the Go module proxy
# into OUT_DIR. The usual download site for these binaries is unreachable here, so they are
# compiled; the result is keyed by version through OUT_DIR/.versions and reused when it matches.
#
# usage: hack/envtest-assets.sh OUT_DIR [KUBE_VERSION] [ETCD_VERSION]
set -euo pipefail

out=${1:?usage: $0 OUT_DIR [KUBE_VERSION] [ETCD_VERSION]}
kv=${2:-v1.37.2}
ev=${3:-v3.6.16}
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

want="kube=$kv etcd=$ev go=$(go env GOVERSION)"
if [[ -f "$out/.versions" && "$(cat "$out/.versions")" == "$want" ]] \
   && [[ -x "$out/etcd" && -x "$out/kube-apiserver" && -x "$out/kubectl" ]]; then
  echo "envtest assets up to date in $out ($want)"
  exit 0
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
gover=$(go env GOVERSION); gover=${gover#go}

echo "building etcd $ev"
mkdir -p "$scratch/etcd"
(
  cd "$scratch/etcd"
  printf 'module local/etcd\n\ngo %s\n' "$gover" > go.mod
  cat > main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  go get "go.etcd.io/etcd/server/v3@$ev"
  go mod tidy
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/etcd" .
)

echo "building kube-apiserver and kubectl $kv"
sv="v0.${kv#v1.}"
minor=${kv#v1.}; minor=${minor%%.*}
mkdir -p "$scratch/kube"
(
  cd "$scratch/kube"
  kgomod=$(go mod download -json "k8s.io/kubernetes@$kv" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
  {
    printf 'module local/kube\n\ngo %s\n\n' "$gover"
    grep -E '^godebug ' "$kgomod" || true
    printf '\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$kv"
    # Every staging module k8s.io/kubernetes requires at v0.0.0 resolves to its published tag.
    grep -E '^[[:space:]]+k8s\.io/[a-z0-9-]+ v0\.0\.0$' "$kgomod" | awk -v sv="$sv" '{printf "\t%s => %s %s\n",$1,$1,sv}'
    printf ')\n'
  } > go.mod
  cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  go mod tidy
  ld=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$kv -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ld" -o "$out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ld" -o "$out/kubectl" k8s.io/kubernetes/cmd/kubectl
)

echo "$want" > "$out/.versions"
echo "envtest assets ready in $out ($want)"
