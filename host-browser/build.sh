#!/usr/bin/env bash
# Builds the npm package `smoothcast` into host-browser/pkg/:
#   wasm-pack once per target (web, bundler, nodejs; cargo compiles once, the rest is
#   wasm-bindgen + wasm-opt), then the hand-written JS API, types and README from npm/.
# Needs wasm-pack 0.15.1, wasm-bindgen-cli 0.2.130 and wasm-opt (npm binaryen in
# www/node_modules; .ci/setup installs all three).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
export PATH="$here/../www/node_modules/.bin:$PATH"
# Whole-program optimisation for the .wasm only (env, so the native workspace profile stays as is).
# opt-level "s": less inlining, so V8 has smaller hot functions to re-optimise (tier up) in
# each process; a packaging run is over before bigger optimised code would repay its compile
# time (packaging 100 MB in Node: about -20% CPU against opt-level 3, same speed once warm).
export CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 CARGO_PROFILE_RELEASE_OPT_LEVEL=s
out=pkg
rm -rf "$out"
for target in web bundler nodejs; do
  dir=$target; [ "$target" = nodejs ] && dir=node
  wasm-pack --quiet build --release --target "$target" --out-dir "$out/$dir" --out-name smoothcast --no-pack
  # wasm-pack drops a "*" .gitignore in each folder, which would also hide the files from npm pack.
  rm -f "$out/$dir/.gitignore"
done
# The Node glue is CommonJS, the others ESM; say so, since the package itself is "type": "module".
echo '{ "type": "commonjs" }' > "$out/node/package.json"
cp -r npm/. "$out/"
ls -l "$out"/*/smoothcast_bg.wasm
