#!/usr/bin/env bash
# Installs what a command needs, reusing $QWEN_CACHE, and prints the time each part took:
#   bash scripts/setup.sh [all|demo]     all (default): everything `npm test` needs
#                                        demo: only what `npm run demo` uses (no KEDA, Argo
#                                        Rollouts, crane, prometheus-operator, sizing fixture)
#   bash scripts/setup.sh --list [all|demo]   the parts' names, one a line, and nothing else
# Idempotent: a second run only checks versions and stamps.
. "$(dirname "$0")/lib.sh"

# One line per part: name | command (run from the checkout; a script that is absent is skipped) |
# the sets that need it. A new part is one more line.
PARTS=(
  "node                | ensure_node                                   | demo all"
  "npm-deps            | ensure_npm_deps \"\$QWEN_ROOT\"                 | demo all"
  "router-deps         | ensure_npm_deps \"\$QWEN_ROOT/router\"          | all"
  "worker+model        | bash worker/scripts/setup.sh                  | demo all"
  "sizing-fixture      | bash scripts/fetch-sizing-fixture.sh          | all"
  "control-plane       | bash test/cluster/build.sh                    | demo all"
  "prometheus-tools    | bash test/tools/build.sh                      | demo all"
  "prometheus-operator | bash test/tools/build-prometheus-operator.sh  | all"
  "crane               | bash test/tools/build-crane.sh                | all"
  "keda                | bash test/tools/build-keda.sh                 | all"
  "argo-rollouts       | bash test/tools/build-argo-rollouts.sh        | all"
  "inference-crds      | bash test/tools/fetch-inference-crds.sh       | all"
  "python-openai       | bash scripts/python-openai.sh                 | all"
)

list=0
if [ "${1:-}" = --list ]; then list=1; shift; fi
set_name="${1:-all}"
case "$set_name" in
  all | demo) ;;
  *) die "unknown set '$set_name' (all, demo)" ;;
esac
# The demo's Prometheus and Alertmanager are the ones built from source; Debian's older promtool
# and amtool are for the rule tests only.
if [ "$set_name" = demo ]; then export QWEN_SKIP_APT="${QWEN_SKIP_APT:-1}"; fi

trim() { local s="$1"; s="${s#"${s%%[![:space:]]*}"}"; printf '%s' "${s%"${s##*[![:space:]]}"}"; }

table=()
cd "$QWEN_ROOT"
for line in "${PARTS[@]}"; do
  IFS='|' read -r name cmd sets <<< "$line"
  name="$(trim "$name")"; cmd="$(trim "$cmd")"
  case " $(trim "$sets") " in *" $set_name "*) ;; *) continue ;; esac
  if [ "$list" = 1 ]; then echo "$name"; continue; fi
  case "$cmd" in
    "bash "*) if [ ! -f "${cmd#bash }" ]; then table+=("$name - absent"); continue; fi ;;
  esac
  # Built or cached: whether the part wrote any file into the cache (or an npm stamp) meanwhile.
  marker="$(mktemp)"
  start="$EPOCHREALTIME"
  eval "$cmd"
  seconds="$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')"
  state=cached
  if [ -n "$(find "$QWEN_CACHE" -maxdepth 3 -type f -newer "$marker" -print -quit 2>/dev/null)" ] \
     || [ -n "$(find "$QWEN_ROOT/node_modules" "$QWEN_ROOT/router/node_modules" "$QWEN_ROOT/worker/node_modules" -maxdepth 1 -name .qwen-lock-stamp -newer "$marker" -print -quit 2>/dev/null)" ]; then
    state=built
  fi
  rm -f "$marker"
  table+=("$name $seconds $state")
done
[ "$list" = 1 ] && exit 0

total="$(printf '%s\n' "${table[@]}" | awk '$2 != "-" { s += $2 } END { printf "%.1f", s }')"
log "setup ($set_name) done (cache: $QWEN_CACHE); time per part:"
{
  printf '%-20s %8s  %s\n' part seconds state
  printf '%s\n' "${table[@]}" | awk '{ printf "%-20s %8s  %s\n", $1, $2, $3 }'
  printf '%-20s %8s\n' total "$total"
} >&2
