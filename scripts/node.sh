#!/usr/bin/env bash
# Runs the project's Node 24 (installed into the cache if needed) with the given arguments, so npm
# scripts work whatever node the machine has: `bash scripts/node.sh file.ts ...`.
. "$(dirname "$0")/lib.sh"
ensure_node
exec node --disable-warning=ExperimentalWarning "$@"
