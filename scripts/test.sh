#!/usr/bin/env bash
# The project's test command (README, .ci/run): setup, then type-check, lint, and every jest suite.
. "$(dirname "$0")/lib.sh"
bash "$QWEN_ROOT/scripts/setup.sh"
ensure_node
cd "$QWEN_ROOT"
export QWEN_BIN="$QWEN_CACHE/bin"
log "typecheck"; npx tsc --noEmit -p tsconfig.json
if [ -f worker/tsconfig.json ]; then (cd worker && npx tsc --noEmit -p tsconfig.json); fi
if [ -f router/tsconfig.json ]; then (cd router && npx tsc --noEmit -p tsconfig.json); fi
log "lint"; npx eslint --max-warnings=0 .
log "jest"; node --experimental-vm-modules --disable-warning=ExperimentalWarning node_modules/jest/bin/jest.js --ci "$@"
