#!/usr/bin/env bash
# The local demo. First, offline: renders every example repository with the example
# platform and prints what each contains — agents and their identities, policies, objects
# per kind — and how a broken revision is reported. Then, live: a local control plane, a
# Git server with the multi-tenant example and `trustsync controller`, until Ctrl-C.
#
# usage: hack/demo.sh [TRUSTSYNC_BINARY] [--once]
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

echo
echo "────────────────────────────────────────────────────────────────────────"
echo "live: the multi-tenant example, from a Git server to a cluster"
GOTOOLCHAIN=local go run ./hack/demo --trustsync "$bin" "${@:2}"
