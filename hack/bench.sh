#!/usr/bin/env bash
# Runs the benchmarks under bench/ (one program each, named after its RESULT id, e.g.
# bench/p3-render prints "RESULT P3 ..."). With an argument, runs only that id.
#
# usage: hack/bench.sh [ID]      e.g. hack/bench.sh P3
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local

want=$(echo "${1:-}" | tr '[:upper:]' '[:lower:]')
ran=0
for dir in bench/*/; do
  name=$(basename "$dir")
  [[ "$name" == internal ]] && continue
  id=${name%%-*}
  [[ -n "$want" && "$id" != "$want" ]] && continue
  echo "== $name"
  out=$(mktemp)
  go run "./$dir" | tee "$out"
  if ! tail -n 1 "$out" | grep -q "^RESULT ${id^^} "; then
    echo "bench $name did not end with a RESULT ${id^^} line" >&2
    rm -f "$out"
    exit 1
  fi
  rm -f "$out"
  ran=$((ran + 1))
done
if [[ $ran -eq 0 ]]; then
  echo "no benchmark matches '${1:-}'" >&2
  exit 1
fi
