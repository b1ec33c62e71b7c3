#!/usr/bin/env bash
# The operator, worker-cpu and router images, built without a container daemon (`npm run images`):
#
#   images.sh build [OUT]          OCI image layouts OUT/operator, OUT/worker-cpu and OUT/router (default OUT:
#                                  dist/images), their SBOMs next to them (OUT/<image>.cdx.json),
#                                  and OUT/images.txt (image, name:tag, manifest digest)
#   images.sh push REGISTRY [OUT]  crane-pushes them to REGISTRY/qwen-operator:<appVersion> and
#                                  REGISTRY/qwen-worker:<appVersion>-cpu and REGISTRY/qwen-router:<appVersion>;
#                                  prints the digests and the
#                                  `helm install` line that points the chart at them
#   images.sh context TARGET       the paths the Dockerfile's build stage COPYs (tests compare them)
#
# Three reproducible layers per image (sorted entries, mtime 0, numeric owners, gzip -n): the
# Debian base (scripts/image-rootfs.sh), the Node binary, and /app (scripts/image-build.sh, the
# script the Dockerfile's RUN lines call, so both produce the same /app) with /sbom. The OCI format
# is go-containerregistry's crane: it appends the layers to an empty image, sets the config the
# Dockerfile sets, and writes the layout, through a throwaway in-memory registry on loopback.
. "$(dirname "$0")/lib.sh"
umask 022

IMAGES=(operator worker-cpu router)
APP_VERSION="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$QWEN_ROOT/charts/qwen-operator/Chart.yaml")"
SOURCE_URL="$(sed -n 's/^home: *//p' "$QWEN_ROOT/charts/qwen-operator/Chart.yaml")"
IMAGE_PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# What the Dockerfile's stage for each image COPYs into its build context.
context() {
  case "$1" in
    operator) echo package.json package-lock.json tsconfig.json tsconfig.build.json scripts/image-build.sh src worker/src/contract.ts router/src/contract.ts ;;
    worker-cpu) echo scripts/image-build.sh worker ;;
    router) echo scripts/image-build.sh router worker/package.json worker/src/contract.ts ;;
    *) die "unknown image $1" ;;
  esac
}

# Repository name and tag the chart's defaults expect (image.repository, worker.image + variant).
ref_of() {
  case "$1" in
    operator) echo "qwen-operator:$APP_VERSION" ;;
    worker-cpu) echo "qwen-worker:$APP_VERSION-cpu" ;;
    router) echo "qwen-router:$APP_VERSION" ;;
  esac
}

# The Dockerfile target's config, as crane mutate flags.
config_flags() {
  local common=(--set-platform linux/amd64 --user 65532:65532 --workdir /app --env "PATH=$IMAGE_PATH" --env NODE_ENV=production)
  case "$1" in
    operator) echo "${common[@]}" --entrypoint node,--max-semi-space-size=2,/app/dist/src/cli.js --cmd run --exposed-ports 8081/tcp ;;
    worker-cpu) echo "${common[@]}" --entrypoint node,/app/dist/src/main.js --exposed-ports 8080/tcp ;;
    router) echo "${common[@]}" --entrypoint node,/app/dist/router/src/main.js --exposed-ports 8080/tcp,9090/tcp,9100/tcp ;;
  esac
}

# tar_layer OUT.tar DIR: a tar of DIR's contents that depends on nothing but their names, bytes and modes.
tar_layer() {
  local out="$1" dir="$2"; shift 2
  local entries; mapfile -t entries < <(cd "$dir" && LC_ALL=C ls -A)
  tar --create --file "$out" --format=gnu --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    --mode=go-w --directory "$dir" "$@" -- "${entries[@]}"
}

gz() { gzip -n -f "$1"; }

crane_bin() {
  local crane="$QWEN_CACHE/bin/crane"
  [ -x "$crane" ] || bash "$QWEN_ROOT/test/tools/build-crane.sh" >&2
  printf '%s\n' "$crane"
}

# The base layer: the Debian root filesystem, plus the directories whose owner or mode differ.
base_layer() {
  local work="$1" special="$1/special"
  bash "$QWEN_ROOT/scripts/image-rootfs.sh" "$work/rootfs"
  tar_layer "$work/base.tar" "$work/rootfs"
  rm -rf "$special" && mkdir -p "$special/tmp" "$special/root" "$special/home/nonroot"
  chmod 1777 "$special/tmp"; chmod 700 "$special/root" "$special/home/nonroot"; chmod 755 "$special/home"
  local fixed=(--format=gnu --mtime=@0 --numeric-owner --directory "$special")
  tar --append --file "$work/base.tar" "${fixed[@]}" --owner=0 --group=0 --no-recursion tmp root home
  tar --append --file "$work/base.tar" "${fixed[@]}" --owner=65532 --group=65532 --no-recursion home/nonroot
  gz "$work/base.tar"
}

node_layer() {
  local work="$1" dir="$1/node"
  ensure_node
  local src; src="$(dirname "$(dirname "$(command -v node)")")"
  rm -rf "$dir" && mkdir -p "$dir/usr/local/bin" "$dir/usr/local/share/doc/node"
  cp "$src/bin/node" "$dir/usr/local/bin/node"
  cp "$src/LICENSE" "$dir/usr/local/share/doc/node/LICENSE"
  tar_layer "$work/node.tar" "$dir"
  gz "$work/node.tar"
}

# app_layer WORK IMAGE: /app built by image-build.sh from a copy of the Dockerfile's context, and the SBOM.
app_layer() {
  local work="$1" image="$2" ctx="$1/ctx-$2" dir="$1/app-$2"
  rm -rf "$ctx" "$dir" && mkdir -p "$ctx" "$dir/sbom"
  # shellcheck disable=SC2046
  tar -C "$QWEN_ROOT" --exclude=node_modules --exclude=dist -cf - $(context "$image") | tar -C "$ctx" -xf -
  (cd "$ctx" && bash scripts/image-build.sh "$image" "$ctx/out") >&2
  mv "$ctx/out/app" "$dir/app"
  rm -rf "$ctx"
  node --disable-warning=ExperimentalWarning "$QWEN_ROOT/scripts/sbom.ts" --image "${IMAGE_NAME%%:*}" --version "${IMAGE_NAME#*:}" \
    --timestamp "$CREATED" --rootfs "$work/rootfs" --node "$QWEN_NODE_VERSION" --app "$dir/app" > "$dir/sbom/$image.cdx.json"
  tar_layer "$work/app-$image.tar" "$dir"
  gz "$work/app-$image.tar"
}

# start_registry WORK: a throwaway registry on loopback (crane mutate and pull work against one); sets REGISTRY.
start_registry() {
  local crane="$1" work="$2"
  mkdir -p "$work/registry"
  # The log exists before the poll reads it: the background child opens it only when it runs, and
  # a failed read inside the assignment below would end the script (set -e).
  : > "$work/registry.log"
  "$crane" registry serve --address 127.0.0.1:0 --disk "$work/registry" 2>"$work/registry.log" &
  REGISTRY_PID=$!
  for _ in $(seq 100); do
    REGISTRY="127.0.0.1:$(sed -n 's/.*serving on port \([0-9]*\).*/\1/p' "$work/registry.log")"
    [ "$REGISTRY" != "127.0.0.1:" ] && return 0
    sleep 0.1
  done
  die "crane registry serve did not start: $(cat "$work/registry.log")"
}

build() {
  local out="${1:-$QWEN_ROOT/dist/images}" start=$SECONDS crane work
  ensure_node
  crane="$(crane_bin)"
  mkdir -p "$out" && out="$(cd "$out" && pwd)"
  work="$(mktemp -d "${TMPDIR:-/tmp}/qwen-images.XXXXXX")"
  REGISTRY_PID="" WORK="$work"
  trap 'if [ -n "$REGISTRY_PID" ]; then kill "$REGISTRY_PID" 2>/dev/null || true; wait "$REGISTRY_PID" 2>/dev/null || true; fi; rm -rf "$WORK"' EXIT
  # Fixed for a given commit: the last commit's time (or SOURCE_DATE_EPOCH), never the clock.
  local epoch="${SOURCE_DATE_EPOCH:-$(git -C "$QWEN_ROOT" log -1 --format=%ct 2>/dev/null || echo 0)}"
  local revision; revision="$(git -C "$QWEN_ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
  CREATED="$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)"

  base_layer "$work"; node_layer "$work"
  start_registry "$crane" "$work"
  : > "$out/images.txt.partial"
  for image in "${IMAGES[@]}"; do
    IMAGE_NAME="$(ref_of "$image")"
    app_layer "$work" "$image"
    local staged="$REGISTRY/${IMAGE_NAME%%:*}:staged" final="$REGISTRY/$IMAGE_NAME"
    "$crane" append --oci-empty-base -f "$work/base.tar.gz" -f "$work/node.tar.gz" -f "$work/app-$image.tar.gz" -t "$staged" >/dev/null 2>"$work/crane.log" \
      || die "crane append $image failed: $(cat "$work/crane.log")"
    # shellcheck disable=SC2046
    "$crane" mutate "$staged" -t "$final" $(config_flags "$image") \
      -l "org.opencontainers.image.title=${IMAGE_NAME%%:*}" -l "org.opencontainers.image.version=${IMAGE_NAME#*:}" \
      -l "org.opencontainers.image.revision=$revision" -l "org.opencontainers.image.created=$CREATED" \
      -l "org.opencontainers.image.source=$SOURCE_URL" -l "org.opencontainers.image.licenses=Apache-2.0" \
      -l "io.qwenops.image.sbom=/sbom/$image.cdx.json" >/dev/null 2>"$work/crane.log" || die "crane mutate $image failed: $(cat "$work/crane.log")"
    rm -rf "$out/$image" "$out/$image.partial"
    "$crane" pull --format=oci "$final" "$out/$image.partial" 2>"$work/crane.log" || die "crane pull $final failed: $(cat "$work/crane.log")"
    mv "$out/$image.partial" "$out/$image"
    cp "$work/app-$image/sbom/$image.cdx.json" "$out/$image.cdx.json"
    local digest size
    digest="$("$crane" digest "$final")"
    size="$(du -sb "$out/$image/blobs" | cut -f1)"
    printf '%s %s %s %s\n' "$image" "$IMAGE_NAME" "$digest" "$size" >> "$out/images.txt.partial"
    log "$image: $IMAGE_NAME@$digest ($((size / 1048576)) MiB compressed)"
  done
  mv "$out/images.txt.partial" "$out/images.txt"
  log "images built in $((SECONDS - start)) s -> $out (push: scripts/images.sh push REGISTRY)"
}

push() {
  local registry="${1:?usage: images.sh push REGISTRY [OUT]   (e.g. ghcr.io/you)}" out="${2:-$QWEN_ROOT/dist/images}" crane
  crane="$(crane_bin)"
  [ -f "$out/images.txt" ] || die "no images in $out: run scripts/images.sh build first"
  local image name digest size pushed op_repo op_digest wk_repo wk_tag rt_repo rt_tag
  while read -r image name digest size; do
    pushed="$("$crane" push "$out/$image" "$registry/$name")" || die "crane push $image failed"
    [ "${pushed##*@}" = "$digest" ] || die "pushed $image as ${pushed##*@}, built $digest"
    echo "pushed $registry/$name@$digest"
    case "$image" in
      operator) op_repo="$registry/${name%%:*}" op_digest="$digest" ;;
      worker-cpu) wk_repo="$registry/${name%%:*}" wk_tag="${name#*:}@$digest" ;;
      router) rt_repo="$registry/${name%%:*}" rt_tag="${name#*:}@$digest" ;;
    esac
  done < "$out/images.txt"
  echo
  echo "helm install qwen-operator charts/qwen-operator --namespace qwen-system --create-namespace \\"
  echo "  --set image.repository=$op_repo,image.digest=$op_digest \\"
  echo "  --set worker.image.repository=$wk_repo,worker.image.variant=cpu,worker.image.tag=$wk_tag \\"
  echo "  --set router.image.repository=$rt_repo,router.image.tag=$rt_tag"
}

case "${1:-build}" in
  build) shift || true; build "$@" ;;
  push) shift; push "$@" ;;
  context) context "${2:?image}" ;;
  *) die "usage: images.sh build [OUT] | push REGISTRY [OUT] | context operator|worker-cpu|router" ;;
esac
