#!/usr/bin/env bash
# The Python `openai` client (PyPI), a second real client beside the npm one: the router's tenant
# test checks that its built-in retry honours our Retry-After. A venv in the tool cache, by version.
. "$(dirname "$0")/lib.sh"
OPENAI_PY_VERSION="3.63.0"
venv="$QWEN_CACHE/py-openai"
stamp="$venv/.qwen-openai-$OPENAI_PY_VERSION"
if [ -f "$stamp" ]; then exit 0; fi
command -v python3 >/dev/null || die "python3 is needed for the Python openai client"
log "Python openai $OPENAI_PY_VERSION into $venv"
rm -rf "$venv"
python3 -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
"$venv/bin/pip" install --quiet --disable-pip-version-check "openai==$OPENAI_PY_VERSION" || die "pip install openai==$OPENAI_PY_VERSION failed"
touch "$stamp"
