#!/usr/bin/env bash
# Builds llama.cpp's llama-server (the benchmark's peer) from the very llama.cpp sources the worker
# runs: the git bundle node-llama-cpp ships in its npm package (llama/gitRelease.bundle, no network
# needed). CPU only, into $QWEN_CACHE/llama-server-nlc<node-llama-cpp version>-<commit>/, and links
# $QWEN_CACHE/bin/llama-server. Optional (only test/bench/worker.bench.ts uses it); ~8 min on 2 cores.
. "$(dirname "$0")/../../scripts/lib.sh"
nlc="$QWEN_ROOT/worker/node_modules/node-llama-cpp"
bundle="$nlc/llama/gitRelease.bundle"
[ -f "$bundle" ] || die "no llama.cpp bundle at $bundle: run scripts/setup.sh first"
nlc_version="$(sed -n 's/^ *"version": "\(.*\)",$/\1/p' "$nlc/package.json" | head -1)"
commit="$(git bundle list-heads "$bundle" | awk '{print substr($1, 1, 7); exit}')"
[ -n "$nlc_version" ] && [ -n "$commit" ] || die "cannot read node-llama-cpp's version or its bundle's commit"
dir="$QWEN_CACHE/llama-server-nlc$nlc_version-$commit"
if [ -x "$dir/bin/llama-server" ]; then
  mkdir -p "$QWEN_CACHE/bin" && ln -sfn "$dir/bin/llama-server" "$QWEN_CACHE/bin/llama-server"
  echo "$dir/bin/llama-server"; exit 0
fi
command -v cmake >/dev/null || die "cmake is needed (apt-get install cmake g++)"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
log "cloning llama.cpp $commit from node-llama-cpp $nlc_version's bundle"
git clone -q "$bundle" "$tmp/llama.cpp" >&2 || die "git clone of $bundle failed"
src="$tmp/llama.cpp"
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
log "building llama-server (CPU) from $src"
# These VMs advertise AMX but trap on it: GGML_NATIVE=ON dies with SIGILL (tilezero) at the first
# matmul. Native flags minus AMX keep every other extension (AVX-512, VNNI) the CPU really runs.
flags="-march=native -mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
cmake -S "$src" -B "$tmp/build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON >&2
cmake --build "$tmp/build" --target llama-server -j "$(nproc)" >&2
rm -rf "$dir.partial" && mkdir -p "$dir.partial/bin"
cp "$tmp/build/bin/llama-server" "$dir.partial/bin/"
rm -rf "$dir" && mv "$dir.partial" "$dir"
mkdir -p "$QWEN_CACHE/bin" && ln -sfn "$dir/bin/llama-server" "$QWEN_CACHE/bin/llama-server"
log "llama-server ready: $dir/bin/llama-server"
echo "$dir/bin/llama-server"
