#!/usr/bin/env bash
# Copies the dash.js files the built-in player page needs from the npm package pinned in
# tests/player (run `npm ci` there first) into this folder, where the binary embeds them
# at build time. Run it after changing the dashjs version in tests/player/package.json;
# `cargo test -p smoothcast --lib vendored_dashjs` checks the copies are current.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pkg="$here/../../../tests/player/node_modules/dashjs"
[ -f "$pkg/package.json" ] || { echo "no $pkg: run npm ci in tests/player" >&2; exit 1; }
cp "$pkg/dist/modern/umd/dash.all.min.js" "$pkg/dist/modern/umd/dash.mss.min.js" "$pkg/LICENSE.md" "$here/"
node -p "require('$pkg/package.json').version" > "$here/VERSION"
echo "dash.js $(cat "$here/VERSION") copied to $here"
