#!/usr/bin/env bash
# Copies the Gateway API Inference Extension's CRDs (InferencePool, inference.networking.k8s.io/v1,
# and the x-k8s.io alpha ones beside it) from its Go module's config/crd/bases to
# $QWEN_CACHE/inference-crds-<version>, linked as $QWEN_CACHE/inference-crds. The integration tests
# install them where a test needs an apiserver that serves InferencePool. Nothing is built.
# Idempotent. Skipped with QWEN_SKIP_INFERENCE_CRDS=1.
. "$(dirname "$0")/../../scripts/lib.sh"
. "$QWEN_ROOT/test/support/gobuild.sh"

GIE_VERSION=v1.6.2
GIE_MODULE=sigs.k8s.io/gateway-api-inference-extension
[ "${QWEN_SKIP_INFERENCE_CRDS:-0}" = 1 ] && { log "skipping the inference extension's CRDs (QWEN_SKIP_INFERENCE_CRDS=1)"; exit 0; }

crds="$QWEN_CACHE/inference-crds-$GIE_VERSION"
if [ ! -f "$crds/inference.networking.k8s.io_inferencepools.yaml" ]; then
  mod="$(module_dir "$GIE_MODULE@$GIE_VERSION")"
  [ -n "$mod" ] || die "could not download $GIE_MODULE@$GIE_VERSION"
  rm -rf "$crds.partial" && mkdir -p "$crds.partial"
  cp "$mod"/config/crd/bases/*.yaml "$crds.partial/"
  chmod -R u+w "$crds.partial"; rm -rf "$crds"; mv "$crds.partial" "$crds"
fi
ln -sfn "inference-crds-$GIE_VERSION" "$QWEN_CACHE/inference-crds"
log "inference extension CRDs $GIE_VERSION in $crds"
