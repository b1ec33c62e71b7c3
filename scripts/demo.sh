#!/usr/bin/env bash
# The README's main command: set up, then run the main job on the embedded default
# (manifests/examples/full-sla.yaml): validate it, print what the operator generates, then bring
# it up as a local stack (scripts/stack.sh: cluster, operator, worker, Prometheus, Alertmanager)
# until Ctrl-C. QWEN_DEMO_NO_STACK=1 stops after the render.
. "$(dirname "$0")/lib.sh"
bash "$QWEN_ROOT/scripts/setup.sh" demo
cd "$QWEN_ROOT"
example="${1:-manifests/examples/full-sla.yaml}"
log "validating $example"
bin/qwen-operator validate -f "$example"
log "objects the operator generates for it (qwen-operator render -f $example --explain):"
bin/qwen-operator render -f "$example" --explain || log "render not available yet"
if [ "${QWEN_DEMO_NO_STACK:-0}" = 1 ]; then exit 0; fi
log "bringing $example up as a local stack (scripts/stack.sh; Ctrl-C stops it)"
exec bash "$QWEN_ROOT/scripts/stack.sh" -f "$example"
