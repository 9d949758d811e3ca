#!/usr/bin/env bash
# Runs every fault drill of the module (each func TestDrill… in a _test.go file, see
# internal/drills) and prints RESULT R1 drills=N passed=N.
#
# usage: hack/drills.sh
set -uo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
pkgs=$(git grep -l -E '^func TestDrill[A-Za-z0-9_]*\(t \*testing\.T\)' -- '*_test.go' | xargs -n1 dirname | sort -u | sed 's|^|./|')
drills=$(git grep -h -E '^func TestDrill[A-Za-z0-9_]*\(t \*testing\.T\)' -- '*_test.go' | wc -l)
out=$(mktemp)
# shellcheck disable=SC2086 # one argument per package
go test -count=1 -v -run '^TestDrill' $pkgs 2>&1 | tee "$out" | grep -E '^(=== RUN|--- (PASS|FAIL)|(ok|FAIL)\s)' | grep -v '=== RUN'
passed=$(grep -c -E '^--- PASS: TestDrill' "$out")
rm -f "$out"
echo "RESULT R1 drills=$drills passed=$passed"
[[ $passed -eq $drills ]]
