#!/usr/bin/env bash
# Builds KEDA (the engine behind spec.autoscaling) from its Go module, once, into $QWEN_CACHE/bin:
#   keda          its operator (cmd/operator): turns our ScaledObject into an HPA and runs the
#                 Prometheus scaler
#   keda-adapter  its metrics API server (cmd/adapter): serves external.metrics.k8s.io, which the
#                 HPA controller reads through the aggregation layer
# and copies its CRDs (config/crd/bases) to $QWEN_CACHE/keda-crds-<version>.
# The release's go.mod has one replace (nexus-proto-annotations, a licence fix); replaces of a
# dependency are ignored in the throwaway wrapper module, so it is repeated there, with the same
# target, or the wrapper would resolve the unlicensed v0.1.0.
# Neither binary has a --version flag that exits, so the installed one is checked by the module
# version Go stamped into it (`go version -m`: the `mod` line, KEDA being the built package's module).
# Idempotent. Skipped with QWEN_SKIP_KEDA=1.
. "$(dirname "$0")/../../scripts/lib.sh"
. "$QWEN_ROOT/test/support/gobuild.sh"

KEDA_VERSION=v2.21.0
KEDA_MODULE=github.com/kedacore/keda/v2
[ "${QWEN_SKIP_KEDA:-0}" = 1 ] && { log "skipping KEDA (QWEN_SKIP_KEDA=1)"; exit 0; }

total_start=$SECONDS
have_keda() { [ -x "$QWEN_BIN/$1-$KEDA_VERSION" ] && go version -m "$QWEN_BIN/$1-$KEDA_VERSION" 2>/dev/null | grep -E "^\s+(mod|dep)\s+$KEDA_MODULE\s+$KEDA_VERSION\b" >/dev/null; }

need=()
have_keda keda || need+=(operator)
have_keda keda-adapter || need+=(adapter)
if [ "${#need[@]}" -gt 0 ]; then
  mod="$(module_dir "$KEDA_MODULE@$KEDA_VERSION")"
  [ -n "$mod" ] || die "could not download $KEDA_MODULE@$KEDA_VERSION"
  replaces="$(sed -n 's/^replace \(.*\)$/replace \1/p' "$mod/go.mod")"
  dir="$(throwaway_module "keda-$KEDA_VERSION" "$KEDA_MODULE@$KEDA_VERSION" "$replaces")"
  out="$dir/out"; rm -rf "$out"; mkdir -p "$out"
  pkgs=(); for c in "${need[@]}"; do pkgs+=("$KEDA_MODULE/cmd/$c"); done
  go_build "$dir" "$out/" "-X $KEDA_MODULE/version.Version=${KEDA_VERSION#v} -X $KEDA_MODULE/version.GitCommit=module-proxy-$KEDA_VERSION" "${pkgs[@]}"
  for c in "${need[@]}"; do
    name=keda; [ "$c" = adapter ] && name=keda-adapter
    mv "$out/$c" "$QWEN_BIN/$name-$KEDA_VERSION"
  done
  rm -rf "$out"
fi
link_tool keda "$KEDA_VERSION"; link_tool keda-adapter "$KEDA_VERSION"

crds="$QWEN_CACHE/keda-crds-$KEDA_VERSION"
if [ ! -f "$crds/keda.sh_scaledobjects.yaml" ]; then
  mod="$(module_dir "$KEDA_MODULE@$KEDA_VERSION")"
  rm -rf "$crds.partial" && mkdir -p "$crds.partial"
  cp "$mod"/config/crd/bases/*.yaml "$crds.partial/"
  chmod -R u+w "$crds.partial"; rm -rf "$crds"; mv "$crds.partial" "$crds"
fi
ln -sfn "keda-crds-$KEDA_VERSION" "$QWEN_CACHE/keda-crds"
log "KEDA $KEDA_VERSION ready in $((SECONDS - total_start)) s"
