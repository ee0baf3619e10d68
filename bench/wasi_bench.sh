#!/usr/bin/env bash
# The WASI components against `smoothcast package`, same input, same run (see
# host-wasi/host/src/bin/bench.rs). Not a test: prints numbers.
#   bench/wasi_bench.sh [CLIP.mp4] [--rounds N]
# Without a clip it makes a 60 s 720p one with ffmpeg (cached in target/test-media).
set -euo pipefail
cd "$(dirname "$0")/.."
clip=${1:-}
if [ -z "$clip" ] || [[ "$clip" == --* ]]; then
  clip=target/test-media/wasi-bench-720p-60s.mp4
  if [ ! -f "$clip" ]; then
    mkdir -p target/test-media
    ffmpeg -hide_banner -loglevel error -nostdin -y \
      -f lavfi -i testsrc2=size=1280x720:rate=25:duration=60 \
      -f lavfi -i sine=frequency=440:sample_rate=48000:duration=60 \
      -c:v libx264 -preset veryfast -g 50 -keyint_min 50 -sc_threshold 0 -b:v 3000k \
      -c:a aac -b:a 128k -ac 2 "$clip.tmp.mp4"
    mv "$clip.tmp.mp4" "$clip"
  fi
else
  shift
fi
cargo run --release -q -p smoothcast-wasi-host --bin smoothcast-wasi-bench -- "$clip" "$@"
