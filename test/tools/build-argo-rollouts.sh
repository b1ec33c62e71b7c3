#!/usr/bin/env bash
# Builds Argo Rollouts (the engine behind spec.rollout) from its Go module, once, into $QWEN_CACHE/bin:
#   argo-rollouts   its controller (cmd/rollouts-controller): runs canary steps, AnalysisRuns
#                   against Prometheus, aborts and rolls back
# and copies its CRDs (manifests/crds) to $QWEN_CACHE/argo-rollouts-crds-<version>.
# v1.10.2's go.mod asks for Go >= 1.26.10, newer than the Go many machines have: the Go toolchain
# named below is fetched from the module proxy for this build only (GOTOOLCHAIN), the other tools
# keep the local one. The release's go.mod pins k8s.io/* by a replace block; replaces of a
# dependency are ignored in the throwaway wrapper module, so the whole block is repeated there.
# Checked by the version Go stamped into the binary (`go version -m`). Idempotent.
# Skipped with QWEN_SKIP_ARGO_ROLLOUTS=1.
. "$(dirname "$0")/../../scripts/lib.sh"
. "$QWEN_ROOT/test/support/gobuild.sh"

ARGO_ROLLOUTS_VERSION=v1.10.2
ARGO_ROLLOUTS_GO=go1.27.3
ARGO_MODULE=github.com/argoproj/argo-rollouts
[ "${QWEN_SKIP_ARGO_ROLLOUTS:-0}" = 1 ] && { log "skipping Argo Rollouts (QWEN_SKIP_ARGO_ROLLOUTS=1)"; exit 0; }
export GOTOOLCHAIN="$ARGO_ROLLOUTS_GO"

total_start=$SECONDS
bin="$QWEN_BIN/argo-rollouts-$ARGO_ROLLOUTS_VERSION"
if ! { [ -x "$bin" ] && go version -m "$bin" 2>/dev/null | grep -E "^\s+mod\s+$ARGO_MODULE\s+$ARGO_ROLLOUTS_VERSION\b" >/dev/null; }; then
  mod="$(module_dir "$ARGO_MODULE@$ARGO_ROLLOUTS_VERSION")"
  [ -n "$mod" ] || die "could not download $ARGO_MODULE@$ARGO_ROLLOUTS_VERSION"
  # Single-line replaces and `replace ( ... )` blocks, as written upstream.
  replaces="$(awk '/^replace \($/{b=1} b{print} b&&/^\)$/{b=0;next} !b&&/^replace /{print}' "$mod/go.mod")"
  dir="$(throwaway_module "argo-rollouts-$ARGO_ROLLOUTS_VERSION" "$ARGO_MODULE@$ARGO_ROLLOUTS_VERSION" "$replaces")"
  sed -i "s/^go 1\.26\.0$/go ${ARGO_ROLLOUTS_GO#go}/" "$dir/go.mod"
  go_build "$dir" "$bin.partial" "-X $ARGO_MODULE/utils/version.version=${ARGO_ROLLOUTS_VERSION#v} -X $ARGO_MODULE/utils/version.gitTag=$ARGO_ROLLOUTS_VERSION -X $ARGO_MODULE/utils/version.gitCommit=module-proxy-$ARGO_ROLLOUTS_VERSION -X $ARGO_MODULE/utils/version.gitTreeState=clean" "$ARGO_MODULE/cmd/rollouts-controller"
  mv "$bin.partial" "$bin"
fi
link_tool argo-rollouts "$ARGO_ROLLOUTS_VERSION"

crds="$QWEN_CACHE/argo-rollouts-crds-$ARGO_ROLLOUTS_VERSION"
if [ ! -f "$crds/rollout-crd.yaml" ]; then
  mod="$(module_dir "$ARGO_MODULE@$ARGO_ROLLOUTS_VERSION")"
  rm -rf "$crds.partial" && mkdir -p "$crds.partial"
  cp "$mod"/manifests/crds/*-crd.yaml "$crds.partial/"
  chmod -R u+w "$crds.partial"; rm -rf "$crds"; mv "$crds.partial" "$crds"
fi
ln -sfn "argo-rollouts-crds-$ARGO_ROLLOUTS_VERSION" "$QWEN_CACHE/argo-rollouts-crds"
log "Argo Rollouts $ARGO_ROLLOUTS_VERSION ready in $((SECONDS - total_start)) s"
