#!/usr/bin/env bash
# The build steps of the Dockerfile's targets, in one script so the Dockerfile and the tests run
# the very same commands: `image-build.sh operator|worker|worker-cpu|router OUT` leaves the image's /app in OUT/app.
# Run from the build context (the repository root, or a copy of what the Dockerfile COPYs).
set -euo pipefail
target="${1:?usage: image-build.sh operator|worker|worker-cpu|router OUT}"
out="${2:?usage: image-build.sh TARGET OUT}"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
# Type declarations and source maps are never loaded at run time (about half of client-node's size).
strip_dev_files() { find node_modules -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.js.map' -o -name '*.mjs.map' -o -name '*.cjs.map' -o -name '*.d.ts.map' \) -delete; }
rm -rf "$out/app" && mkdir -p "$out/app"
case "$target" in
  operator)
    npm ci --loglevel=error
    npx tsc -p tsconfig.build.json
    npm prune --omit=dev --loglevel=error
    find node_modules -mindepth 1 -maxdepth 1 -type d -empty -delete  # scopes prune left empty
    strip_dev_files
    cp -r package.json node_modules dist "$out/app/"
    ;;
  worker|worker-cpu)
    cd worker
    npm ci --loglevel=error
    npx tsc -p tsconfig.build.json
    npm prune --omit=dev --loglevel=error
    # node-llama-cpp installs every Linux prebuilt; keep the x64 CPU one, plus CUDA for `worker`.
    keep='^linux-x64$'
    [ "$target" = worker ] && keep='^linux-x64(-cuda|-cuda-ext)?$'
    for d in node_modules/@node-llama-cpp/*; do basename "$d" | grep -Eq "$keep" || rm -rf "$d"; done
    find node_modules -mindepth 1 -maxdepth 1 -type d -empty -delete
    strip_dev_files
    cp -r package.json node_modules dist "$out/app/"
    ;;
  router)
    cd router
    npm ci --loglevel=error
    # The package's tsconfig also type-checks its tests; the image compiles src/ alone, with the
    # worker contract it imports (rootDir ..: dist/router/src/main.js, dist/worker/src/contract.js).
    printf '%s\n' '{ "extends": "./tsconfig.json", "compilerOptions": { "noEmit": false, "outDir": "dist", "rootDir": "..", "sourceMap": false, "declaration": false }, "include": ["src"] }' > tsconfig.image.json
    npx tsc -p tsconfig.image.json
    npm prune --omit=dev --loglevel=error
    find node_modules -mindepth 1 -maxdepth 1 -type d -empty -delete
    strip_dev_files
    # KEDA's externalscaler.proto, read at run time next to src/ (../proto from src/scaler).
    cp -r proto dist/router/
    cp -r package.json node_modules dist "$out/app/"
    ;;
  *) echo "unknown target $target" >&2; exit 2 ;;
esac
echo "image-build: $target -> $out/app ($(du -sh "$out/app" | cut -f1))"
