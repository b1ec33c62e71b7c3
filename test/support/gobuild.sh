# Helpers for test/cluster/build.sh and test/tools/build.sh: build pinned Go programs from the
# module proxy into $QWEN_CACHE/bin/<name>-<version>, with a stable symlink $QWEN_CACHE/bin/<name>.
# Source after scripts/lib.sh.
#
# Every program is built inside a small throwaway module ($QWEN_CACHE/src/<key>) that requires the
# pinned module: that way replace directives in the upstream go.mod (etcd, kubernetes) do not stop
# the build, and the dependency graph is exactly the pinned module's.
QWEN_BIN="$QWEN_CACHE/bin"
mkdir -p "$QWEN_BIN" "$QWEN_CACHE/src"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then export PATH="/usr/local/go/bin:$PATH"; fi
command -v go >/dev/null || die "Go is needed to build the test tools (https://go.dev/dl, 1.26+)"

# have_tool NAME VERSION WANT ARGS...: the versioned binary exists and `bin ARGS` prints WANT.
have_tool() {
  local name="$1" version="$2" want="$3"; shift 3
  local bin="$QWEN_BIN/$name-$version"
  [ -x "$bin" ] || return 1
  "$bin" "$@" 2>&1 | grep -qF -- "$want"
}

# link_tool NAME VERSION: point the stable name at the pinned version.
link_tool() { ln -sfn "$1-$2" "$QWEN_BIN/$1"; }

# throwaway_module KEY MODULE@VERSION [REPLACE_LINES]: prints the module dir, created with go.mod.
throwaway_module() {
  local key="$1" req="$2" replaces="${3:-}"
  local dir="$QWEN_CACHE/src/$key"
  if [ ! -f "$dir/.ready" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    {
      printf 'module qwen.local/build/%s\n\ngo 1.26.0\n\nrequire %s %s\n' "$key" "${req%@*}" "${req#*@}"
      if [ -n "$replaces" ]; then printf '\n%s\n' "$replaces"; fi
    } > "$dir/go.mod"
    # tools.go-free: `go build PKG` with -mod=mod resolves and records what it needs.
    (cd "$dir" && go mod download "${req%@*}" >&2) || die "go mod download $req failed"
    touch "$dir/.ready"
  fi
  printf '%s\n' "$dir"
}

# module_dir MODULE@VERSION: the unpacked module in GOMODCACHE (downloads it).
module_dir() {
  (cd "$QWEN_CACHE/src" && go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
}

# go_build DIR OUT LDFLAGS PKG...: build PKG(s) in DIR. With one PKG, OUT is the file; with more, a dir.
go_build() {
  local dir="$1" out="$2" ldflags="$3"; shift 3
  local start=$SECONDS
  log "go build $* (in ${dir#$QWEN_CACHE/})"
  (cd "$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$out" "$@") || die "go build $* failed"
  log "built $* in $((SECONDS - start)) s"
}
