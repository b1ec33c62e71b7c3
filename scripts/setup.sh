#!/usr/bin/env bash
# Installs everything the project needs, reusing $QWEN_CACHE: Node 24, npm dependencies (operator,
# router and worker), the test model, the sizing tests' truncated Qwen GGUF, and the Go-built tools (control plane, kwok, Helm, Prometheus, Alertmanager,
# crane for the images, KEDA for the autoscaling tests, Argo Rollouts for the rollout tests).
# Idempotent: a second run only checks versions.
. "$(dirname "$0")/lib.sh"
ensure_node
ensure_npm_deps "$QWEN_ROOT"
ensure_npm_deps "$QWEN_ROOT/router"
for part in worker/scripts/setup.sh scripts/fetch-sizing-fixture.sh test/cluster/build.sh test/tools/build.sh test/tools/build-prometheus-operator.sh test/tools/build-crane.sh test/tools/build-keda.sh test/tools/build-argo-rollouts.sh test/tools/fetch-inference-crds.sh scripts/python-openai.sh; do
  if [ -f "$QWEN_ROOT/$part" ]; then bash "$QWEN_ROOT/$part"; fi
done
log "setup done (cache: $QWEN_CACHE)"
