#!/usr/bin/env bash
# Builds the Prometheus-side tools the rule/routing tests use, once, into $QWEN_CACHE/bin:
#   prometheus, promtool      current Prometheus 3.x (module github.com/prometheus/prometheus)
#   amtool                    current Alertmanager CLI
#   alertmanager              newest Alertmanager that builds from the module (>= 0.32 embeds a UI
#                             bundle that is not in the module: "pattern app/dist: no matching files")
#   promtool-debian, amtool-debian, prometheus-debian, alertmanager-debian
#                             symlinks to Debian's 2023 packages (2.42 / 0.25), so rule tests run
#                             with both promtool generations.
# Idempotent: a second run only checks versions. Set QWEN_SKIP_APT=1 to skip the Debian packages.
. "$(dirname "$0")/../../scripts/lib.sh"
. "$QWEN_ROOT/test/support/gobuild.sh"

PROMETHEUS_MODULE_VERSION=v0.316.0   # module v0.3XX.Y is Prometheus 3.XX.Y
PROMETHEUS_VERSION=v3.16.0
AMTOOL_VERSION=v0.35.0
ALERTMANAGER_VERSION=v0.28.1

total_start=$SECONDS
pv="github.com/prometheus/common/version"

# --- Prometheus + promtool (one module, one build) -------------------------------------------
need=()
have_tool prometheus "$PROMETHEUS_VERSION" "version ${PROMETHEUS_VERSION#v}" --version || need+=(prometheus)
have_tool promtool "$PROMETHEUS_VERSION" "version ${PROMETHEUS_VERSION#v}" --version || need+=(promtool)
if [ "${#need[@]}" -gt 0 ]; then
  dir="$(throwaway_module "prometheus-$PROMETHEUS_MODULE_VERSION" "github.com/prometheus/prometheus@$PROMETHEUS_MODULE_VERSION")"
  out="$dir/out"; rm -rf "$out"; mkdir -p "$out"
  pkgs=(); for b in "${need[@]}"; do pkgs+=("github.com/prometheus/prometheus/cmd/$b"); done
  go_build "$dir" "$out/" "-X $pv.Version=${PROMETHEUS_VERSION#v} -X $pv.Branch=module -X $pv.Revision=$PROMETHEUS_MODULE_VERSION -X $pv.BuildUser=qwen-operator" "${pkgs[@]}"
  for b in "${need[@]}"; do mv "$out/$b" "$QWEN_BIN/$b-$PROMETHEUS_VERSION"; done
  rm -rf "$out"
fi
link_tool prometheus "$PROMETHEUS_VERSION"; link_tool promtool "$PROMETHEUS_VERSION"

# --- amtool (current) ------------------------------------------------------------------------
if ! have_tool amtool "$AMTOOL_VERSION" "version ${AMTOOL_VERSION#v}" --version; then
  dir="$(throwaway_module "alertmanager-$AMTOOL_VERSION" "github.com/prometheus/alertmanager@$AMTOOL_VERSION")"
  go_build "$dir" "$QWEN_BIN/amtool-$AMTOOL_VERSION" "-X $pv.Version=${AMTOOL_VERSION#v} -X $pv.Branch=module -X $pv.Revision=$AMTOOL_VERSION" github.com/prometheus/alertmanager/cmd/amtool
fi
link_tool amtool "$AMTOOL_VERSION"

# --- alertmanager (newest that builds from the module) ----------------------------------------
if ! have_tool alertmanager "$ALERTMANAGER_VERSION" "version ${ALERTMANAGER_VERSION#v}" --version; then
  dir="$(throwaway_module "alertmanager-$ALERTMANAGER_VERSION" "github.com/prometheus/alertmanager@$ALERTMANAGER_VERSION")"
  go_build "$dir" "$QWEN_BIN/alertmanager-$ALERTMANAGER_VERSION" "-X $pv.Version=${ALERTMANAGER_VERSION#v} -X $pv.Branch=module -X $pv.Revision=$ALERTMANAGER_VERSION" github.com/prometheus/alertmanager/cmd/alertmanager
fi
link_tool alertmanager "$ALERTMANAGER_VERSION"

# --- Debian's packages (the 2023 generation) --------------------------------------------------
if [ "${QWEN_SKIP_APT:-0}" != 1 ]; then
  if [ ! -x /usr/bin/promtool ] || [ ! -x /usr/bin/amtool ] || [ ! -x /usr/bin/prometheus-alertmanager ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      log "apt-get install prometheus prometheus-alertmanager (Debian's promtool/amtool)"
      # Keep the packages' services from starting (policy-rc.d 101 = "action forbidden"); restore after.
      prc=/usr/sbin/policy-rc.d; saved=""
      if [ -e "$prc" ]; then saved="$(mktemp)"; cp -p "$prc" "$saved"; fi
      printf '#!/bin/sh\nexit 101\n' > "$prc"; chmod +x "$prc"
      restore() { if [ -n "$saved" ]; then mv "$saved" "$prc"; else rm -f "$prc"; fi; }
      trap restore EXIT
      DEBIAN_FRONTEND=noninteractive apt-get update -qq || log "apt-get update failed (continuing)"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager \
        || log "warning: apt-get install prometheus prometheus-alertmanager failed; *-debian tools unavailable"
      restore; trap - EXIT
      # The packages run as services under systemd; make sure nothing of theirs keeps running.
      if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        systemctl disable --now prometheus prometheus-alertmanager prometheus-node-exporter >/dev/null 2>&1 || true
      fi
    else
      log "warning: not root or no apt-get: install Debian's prometheus + prometheus-alertmanager for promtool-debian/amtool-debian"
    fi
  fi
  for pair in promtool:/usr/bin/promtool amtool:/usr/bin/amtool prometheus:/usr/bin/prometheus alertmanager:/usr/bin/prometheus-alertmanager; do
    name="${pair%%:*}-debian" target="${pair#*:}"
    if [ -x "$target" ]; then ln -sfn "$target" "$QWEN_BIN/$name"; else rm -f "$QWEN_BIN/$name"; fi
  done
fi

log "prometheus tools ready in $((SECONDS - total_start)) s: $(cd "$QWEN_BIN" && ls -d prom* am* alert* 2>/dev/null | tr '\n' ' ')"
