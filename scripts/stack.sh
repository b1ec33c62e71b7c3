#!/usr/bin/env bash
# The README's main command: the whole product on this machine (dev cluster with kwok GPU nodes,
# CRDs, the operator, the example QwenService, a worker serving the test model on loopback,
# Prometheus, Alertmanager, a webhook receiver printing alerts). Offline once scripts/setup.sh has
# filled the caches; it says what is missing otherwise. Ctrl-C stops everything.
#   bash scripts/stack.sh [-f QWENSERVICE.yaml] [--no-load] [--interval 5s]
. "$(dirname "$0")/lib.sh"
ensure_node
cd "$QWEN_ROOT"
[ -d node_modules ] || die "node_modules missing: run bash scripts/setup.sh first"
export PATH="$QWEN_CACHE/bin:$PATH"
exec node --disable-warning=ExperimentalWarning scripts/stack.ts "$@"
