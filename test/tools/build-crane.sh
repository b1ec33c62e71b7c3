#!/usr/bin/env bash
# Builds go-containerregistry's `crane` once into $QWEN_CACHE/bin/crane-<version> (stable link
# $QWEN_CACHE/bin/crane): scripts/images.sh writes, pushes and inspects the OCI images with it, so no
# container daemon is needed. Idempotent: a second run only checks the version.
. "$(dirname "$0")/../../scripts/lib.sh"
. "$QWEN_ROOT/test/support/gobuild.sh"

CRANE_VERSION=v0.22.1

if ! have_tool crane "$CRANE_VERSION" "$CRANE_VERSION" version; then
  dir="$(throwaway_module "go-containerregistry-$CRANE_VERSION" "github.com/google/go-containerregistry@$CRANE_VERSION")"
  go_build "$dir" "$QWEN_BIN/crane-$CRANE_VERSION" "-X github.com/google/go-containerregistry/cmd/crane/cmd.Version=$CRANE_VERSION" \
    github.com/google/go-containerregistry/cmd/crane
fi
link_tool crane "$CRANE_VERSION"
