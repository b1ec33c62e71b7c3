#!/usr/bin/env bash
# Renders manifests/install.yaml from the chart with default values (for `kubectl apply` users).
# A test fails when the checked-in file drifts from the chart.
. "$(dirname "$0")/lib.sh"
cd "$QWEN_ROOT"
{ echo "# Generated: helm template qwen-operator charts/qwen-operator --namespace qwen-system --include-crds"
  "$QWEN_CACHE/bin/helm" template qwen-operator charts/qwen-operator --namespace qwen-system --include-crds; } > manifests/install.yaml
log "wrote manifests/install.yaml"
