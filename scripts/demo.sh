#!/usr/bin/env bash
# The README's main command: set up, then run the main job on the embedded default
# (manifests/examples/full-sla.yaml): validate it and print every object the operator generates.
. "$(dirname "$0")/lib.sh"
bash "$QWEN_ROOT/scripts/setup.sh"
cd "$QWEN_ROOT"
example="${1:-manifests/examples/full-sla.yaml}"
log "validating $example"
bin/qwen-operator validate -f "$example"
log "objects the operator generates for it (qwen-operator render -f $example --explain):"
bin/qwen-operator render -f "$example" --explain || log "render not available yet"
