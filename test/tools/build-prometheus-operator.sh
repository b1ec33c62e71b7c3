#!/usr/bin/env bash
# Builds prometheus-operator (the real consumer of our ServiceMonitor, PrometheusRule and
# AlertmanagerConfig) from its Go module, once, into $QWEN_CACHE/bin/prometheus-operator.
# Its go.mod replaces its own sub-modules (pkg/apis/monitoring, pkg/client) with ./pkg/..., which
# `go install ...@version` refuses; and the module zip leaves nested modules out, so the replaces
# cannot point into GOMODCACHE either. A throwaway wrapper module requires the release instead: its
# replaces are ignored there and the sub-modules resolve to their own tags (pkg/.../v0.85.0) on the
# module proxy, which are the same sources.
# Same pin as the CRDs in test/cluster/build.sh. Idempotent. Skipped with QWEN_SKIP_PROM_OPERATOR=1.
. "$(dirname "$0")/../../scripts/lib.sh"
. "$QWEN_ROOT/test/support/gobuild.sh"

PROM_OPERATOR_VERSION=v0.85.0
[ "${QWEN_SKIP_PROM_OPERATOR:-0}" = 1 ] && { log "skipping prometheus-operator (QWEN_SKIP_PROM_OPERATOR=1)"; exit 0; }

if ! have_tool prometheus-operator "$PROM_OPERATOR_VERSION" "${PROM_OPERATOR_VERSION#v}" --version; then
  dir="$(throwaway_module "prometheus-operator-$PROM_OPERATOR_VERSION" "github.com/prometheus-operator/prometheus-operator@$PROM_OPERATOR_VERSION")"
  pv="github.com/prometheus/common/version"
  go_build "$dir" "$QWEN_BIN/prometheus-operator-$PROM_OPERATOR_VERSION" \
    "-X $pv.Version=${PROM_OPERATOR_VERSION#v} -X $pv.Branch=module -X $pv.Revision=$PROM_OPERATOR_VERSION -X $pv.BuildUser=qwen-operator" \
    github.com/prometheus-operator/prometheus-operator/cmd/operator
fi
link_tool prometheus-operator "$PROM_OPERATOR_VERSION"
log "prometheus-operator $PROM_OPERATOR_VERSION ready"
