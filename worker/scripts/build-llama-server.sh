#!/usr/bin/env bash
# Builds llama.cpp's llama-server (the benchmark's peer) from the llama.cpp sources vendored in the
# PyPI llama-cpp-python sdist, CPU only, into $QWEN_CACHE/llama-server-<version>/, and links
# $QWEN_CACHE/bin/llama-server. Optional (only test/bench/worker.bench.ts uses it); ~10+ min on 2 cores.
. "$(dirname "$0")/../../scripts/lib.sh"
VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
# "-portable": built for this CPU without AMX (see below); the key keeps an older native build from being reused.
dir="$QWEN_CACHE/llama-server-$VERSION-portable"
if [ -x "$dir/bin/llama-server" ]; then
  mkdir -p "$QWEN_CACHE/bin" && ln -sfn "$dir/bin/llama-server" "$QWEN_CACHE/bin/llama-server"
  echo "$dir/bin/llama-server"; exit 0
fi
command -v cmake >/dev/null || die "cmake is needed (apt-get install cmake g++)"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
log "fetching llama-cpp-python $VERSION sdist"
python3 -m pip download --no-deps --no-binary :all: --quiet --disable-pip-version-check -d "$tmp" "llama-cpp-python==$VERSION" >&2 \
  || die "pip download of the llama-cpp-python sdist failed"
tar xzf "$tmp"/llama_cpp_python-"$VERSION".tar.gz -C "$tmp"
src="$tmp/llama_cpp_python-$VERSION/vendor/llama.cpp"
[ -f "$src/CMakeLists.txt" ] || die "no vendored llama.cpp in the sdist"
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
log "building llama-server (CPU) from $src"
# These VMs advertise AMX but trap on it: GGML_NATIVE=ON dies with SIGILL (tilezero) at the first
# matmul. Native flags minus AMX keep every other extension (AVX-512, VNNI) the CPU really runs.
flags="-march=native -mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
cmake -S "$src" -B "$tmp/build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON >&2
cmake --build "$tmp/build" --target llama-server -j "$(nproc)" >&2
rm -rf "$dir.partial" && mkdir -p "$dir.partial/bin"
cp "$tmp/build/bin/llama-server" "$dir.partial/bin/"
rm -rf "$dir" && mv "$dir.partial" "$dir"
mkdir -p "$QWEN_CACHE/bin" && ln -sfn "$dir/bin/llama-server" "$QWEN_CACHE/bin/llama-server"
log "llama-server ready: $dir/bin/llama-server"
echo "$dir/bin/llama-server"
