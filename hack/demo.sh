#!/usr/bin/env bash
# The local demo: renders every example repository with the example platform and prints
# what each contains — agents and their identities, policies, objects per kind — then
# shows how a broken revision is reported.
#
# usage: hack/demo.sh [TRUSTSYNC_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-bin/trustsync}

for example in single-agent multi-tenant modes; do
  echo "────────────────────────────────────────────────────────────────────────"
  "$bin" render "examples/$example" --platform examples/platform.yaml -o summary
  echo
done

echo "────────────────────────────────────────────────────────────────────────"
echo "examples/broken: a revision that must not reach the cluster"
echo
if "$bin" render examples/broken --platform examples/platform.yaml >/dev/null; then
  echo "examples/broken rendered, but it should not have" >&2
  exit 1
fi
echo
echo "Render any example in full with: $bin render examples/multi-tenant --platform examples/platform.yaml"
