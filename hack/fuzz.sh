#!/usr/bin/env bash
# Runs every Go fuzz target of the module (each func Fuzz… in a _test.go file) for
# FUZZTIME, one after another (go test -fuzz takes one target at a time). A crasher is
# written to the package's testdata/fuzz/<target>/ and fails the run: commit it, and it
# becomes a seed every go test runs.
#
# usage: hack/fuzz.sh [FUZZTIME]    e.g. hack/fuzz.sh 30s
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-10s}
export GOTOOLCHAIN=local
failed=()
while IFS=: read -r file _ decl; do
  name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/' <<<"$decl")
  dir=./$(dirname "$file")
  printf '==> %s %s (%s)\n' "$dir" "$name" "$fuzztime"
  if ! go test "$dir" -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" 2>&1 | grep -v '^fuzz: elapsed'; then
    failed+=("$dir $name")
  fi
done < <(git grep -n -E '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' -- '*_test.go')
if ((${#failed[@]})); then
  printf 'fuzzing found crashers in:\n' >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 1
fi
