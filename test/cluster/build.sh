#!/usr/bin/env bash
# Builds the real control plane the integration tests run against, from the Go module proxy, once:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok (+ its Stage
# documents), Helm, and copies the prometheus-operator CRDs out of their module.
# Everything lands in $QWEN_CACHE (bin/<name>-<version> + stable symlink bin/<name>).
# Idempotent: a second run only checks versions. Pins: edit the variables below.
. "$(dirname "$0")/../../scripts/lib.sh"
. "$QWEN_ROOT/test/support/gobuild.sh"

K8S_VERSION=v1.36.3          # newest 1.36 patch of k8s.io/kubernetes on the module proxy
K8S_STAGING_VERSION=v0.36.3  # the published staging modules of that release
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.22.0
PROM_OPERATOR_VERSION=v0.85.0

total_start=$SECONDS

# --- Kubernetes ------------------------------------------------------------------------------
k8s_bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
k8s_missing=()
for b in "${k8s_bins[@]}"; do
  if [ "$b" = kubectl ]; then args=(version --client); else args=(--version); fi
  if have_tool "$b" "$K8S_VERSION" "$K8S_VERSION" "${args[@]}"; then link_tool "$b" "$K8S_VERSION"
  else k8s_missing+=("$b"); fi
done
if [ "${#k8s_missing[@]}" -gt 0 ]; then
  # k8s.io/kubernetes lists its staging modules as v0.0.0 (replaced by ./staging in its own repo);
  # as a dependency each must be replaced with the published release. k8s.io/utils and
  # kube-openapi carry real pseudo-versions and are left alone.
  k8s_mod="$(module_dir "k8s.io/kubernetes@$K8S_VERSION")"
  [ -n "$k8s_mod" ] || die "could not download k8s.io/kubernetes@$K8S_VERSION"
  replaces="$(awk '/^require \(/{r=1;next} r&&/^\)/{r=0} r&&$2=="v0.0.0"{print $1}' "$k8s_mod/go.mod" |
    sed "s|.*|replace & => & $K8S_STAGING_VERSION|")"
  dir="$(throwaway_module "kubernetes-$K8S_VERSION" "k8s.io/kubernetes@$K8S_VERSION" "$replaces")"
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  ld=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld+=" -X $p.gitCommit=module-proxy-$K8S_VERSION -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  out="$QWEN_CACHE/src/kubernetes-$K8S_VERSION/out"; rm -rf "$out"; mkdir -p "$out"
  pkgs=(); for b in "${k8s_missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  go_build "$dir" "$out/" "$ld" "${pkgs[@]}"
  for b in "${k8s_missing[@]}"; do mv "$out/$b" "$QWEN_BIN/$b-$K8S_VERSION"; link_tool "$b" "$K8S_VERSION"; done
  rm -rf "$out"
fi

# --- etcd ------------------------------------------------------------------------------------
if have_tool etcd "$ETCD_VERSION" "etcd Version: ${ETCD_VERSION#v}" --version; then link_tool etcd "$ETCD_VERSION"
else
  dir="$(throwaway_module "etcd-$ETCD_VERSION" "go.etcd.io/etcd/server/v3@$ETCD_VERSION")"
  go_build "$dir" "$QWEN_BIN/etcd-$ETCD_VERSION" "" go.etcd.io/etcd/server/v3
  link_tool etcd "$ETCD_VERSION"
fi

# --- kwok + its Stage documents --------------------------------------------------------------
if have_tool kwok "$KWOK_VERSION" "$KWOK_VERSION" --version; then link_tool kwok "$KWOK_VERSION"
else
  dir="$(throwaway_module "kwok-$KWOK_VERSION" "sigs.k8s.io/kwok@$KWOK_VERSION")"
  go_build "$dir" "$QWEN_BIN/kwok-$KWOK_VERSION" "-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok
  link_tool kwok "$KWOK_VERSION"
fi
stages="$QWEN_CACHE/kwok-stages-$KWOK_VERSION"
if [ ! -f "$stages/pod-delete.yaml" ]; then
  kwok_mod="$(module_dir "sigs.k8s.io/kwok@$KWOK_VERSION")"
  rm -rf "$stages.partial" && mkdir -p "$stages.partial"
  cp "$kwok_mod/kustomize/stage/node/fast/node-initialize.yaml" \
     "$kwok_mod/kustomize/stage/pod/fast/pod-ready.yaml" \
     "$kwok_mod/kustomize/stage/pod/fast/pod-complete.yaml" \
     "$kwok_mod/kustomize/stage/pod/fast/pod-delete.yaml" "$stages.partial/"
  chmod -R u+w "$stages.partial"; rm -rf "$stages"; mv "$stages.partial" "$stages"
fi
ln -sfn "kwok-stages-$KWOK_VERSION" "$QWEN_CACHE/kwok-stages"

# --- Helm ------------------------------------------------------------------------------------
if have_tool helm "$HELM_VERSION" "$HELM_VERSION" version --short; then link_tool helm "$HELM_VERSION"
else
  major="${HELM_VERSION%%.*}"
  dir="$(throwaway_module "helm-$HELM_VERSION" "helm.sh/helm/$major@$HELM_VERSION")"
  go_build "$dir" "$QWEN_BIN/helm-$HELM_VERSION" "-X helm.sh/helm/$major/internal/version.version=$HELM_VERSION" "helm.sh/helm/$major/cmd/helm"
  link_tool helm "$HELM_VERSION"
fi

# --- prometheus-operator CRDs (never hand-written) -------------------------------------------
crds="$QWEN_CACHE/prometheus-operator-crds-$PROM_OPERATOR_VERSION"
if [ ! -f "$crds/.complete" ]; then
  po_mod="$(module_dir "github.com/prometheus-operator/prometheus-operator@$PROM_OPERATOR_VERSION")"
  [ -d "$po_mod/example/prometheus-operator-crd" ] || die "no example/prometheus-operator-crd in prometheus-operator@$PROM_OPERATOR_VERSION"
  rm -rf "$crds.partial" && mkdir -p "$crds.partial"
  cp "$po_mod"/example/prometheus-operator-crd/*.yaml "$crds.partial/"
  chmod -R u+w "$crds.partial"; touch "$crds.partial/.complete"; rm -rf "$crds"; mv "$crds.partial" "$crds"
fi
ln -sfn "prometheus-operator-crds-$PROM_OPERATOR_VERSION" "$QWEN_CACHE/prometheus-operator-crds"

# Rewritten only when it changes: scripts/setup.sh reports a part that wrote a file as built.
versions='{"kubernetes":"'"$K8S_VERSION"'","etcd":"'"$ETCD_VERSION"'","kwok":"'"$KWOK_VERSION"'","helm":"'"$HELM_VERSION"'","prometheusOperator":"'"$PROM_OPERATOR_VERSION"'"}'
if [ "$(cat "$QWEN_CACHE/cluster-versions.json" 2>/dev/null)" != "$versions" ]; then echo "$versions" > "$QWEN_CACHE/cluster-versions.json"; fi
log "cluster tools ready in $((SECONDS - total_start)) s: $QWEN_BIN"
