#!/usr/bin/env bash
# `npm run cluster [-- --bare|--no-crds|--nodes=N]`: builds (or reuses) the control plane, then
# runs test/cluster/dev.ts in the foreground until Ctrl-C.
. "$(dirname "$0")/../../scripts/lib.sh"
ensure_node
bash "$QWEN_ROOT/test/cluster/build.sh"
export PATH="$QWEN_CACHE/bin:$PATH"
exec node "$QWEN_ROOT/test/cluster/dev.ts" "$@"
