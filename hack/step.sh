#!/usr/bin/env bash
# Runs one slow, cacheable step quietly: its output goes to LOG, not the terminal. A step
# that ends within two seconds (its result was cached) prints nothing; a longer one
# prints what it builds and roughly how long the first time takes, then how long it took.
# On failure it prints the log's last 40 lines and its path, and fails with the step.
#
# usage: hack/step.sh WHAT ESTIMATE LOG -- COMMAND [ARGS...]
#   e.g. hack/step.sh "kube-apiserver v1.37.2 and etcd v3.6.16" "about 10 min" ~/.cache/trustsync/logs/envtest.log -- hack/envtest-assets.sh …
set -uo pipefail
what=${1:?usage: $0 WHAT ESTIMATE LOG -- COMMAND...}
estimate=${2:?estimate}
log=${3:?log}
shift 3
[[ ${1:-} == -- ]] && shift
mkdir -p "$(dirname "$log")"

start=$SECONDS
"$@" >"$log" 2>&1 &
pid=$!
announced=false
for _ in 1 2 3 4; do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
if kill -0 "$pid" 2>/dev/null; then
  printf '==> %s (first time only, %s; log: %s)\n' "$what" "$estimate" "$log"
  announced=true
fi
wait "$pid"
status=$?
elapsed=$((SECONDS - start))
if ((status != 0)); then
  printf '==> %s failed (exit %d) after %dm%02ds; the last lines of %s:\n' "$what" "$status" $((elapsed / 60)) $((elapsed % 60)) "$log" >&2
  tail -n 40 "$log" >&2
  exit "$status"
fi
if $announced; then
  printf '    done in %dm%02ds\n' $((elapsed / 60)) $((elapsed % 60))
fi
