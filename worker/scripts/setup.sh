#!/usr/bin/env bash
# Worker setup (called by scripts/setup.sh): Node 24, the worker's npm dependencies (npm ci against
# the checked-in lock; node-llama-cpp is pinned to 3.21.1 because newer releases list platform
# packages this registry does not serve, and npm ci then refuses the lock), and the test model.
# Idempotent: a second run only checks stamps and the model's SHA-256 stamp.
. "$(dirname "$0")/../../scripts/lib.sh"
ensure_node
ensure_npm_deps "$QWEN_ROOT/worker"
bash "$QWEN_ROOT/worker/scripts/fetch-test-model.sh" >/dev/null
