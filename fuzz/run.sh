#!/usr/bin/env bash
# Builds every fuzz target and runs each for a while; a short run is CI's smoke.
#
#   fuzz/run.sh [SECONDS] [TARGET...]        SECONDS per target (default 10), all targets
#                                            unless some are named
#   fuzz/run.sh --build                      only build
#
# Stable toolchain, no sanitizer: the core forbids `unsafe` and host-native has none, so
# what a fuzzer can find here are panics (indexing, overflow under debug assertions, which
# are on), hangs (-timeout) and huge allocations (-malloc_limit_mb). The coverage flags are
# cargo-fuzz's (`-s none`), passed by hand so nothing but cargo is needed; libFuzzer itself
# is compiled from libfuzzer-sys's bundled sources with the system C++ compiler.
#
# Environment: FUZZ_TARGET_DIR (default target/fuzz in the repository), FUZZ_PROFILE (cargo
# profile: release, the default, or smoke: opt-level 1, quicker to build), FUZZ_JOBS (cargo -j),
# FUZZ_ARGS (more libFuzzer flags). New inputs go to $FUZZ_TARGET_DIR/corpus/<target>, crashes
# to $FUZZ_TARGET_DIR/artifacts/<target>/; the checked-in seeds in fuzz/corpus/ stay as they
# are. A summary line per target (runs, cov, ft, result) ends the output; the exit status is
# non-zero if any target crashed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
out=${FUZZ_TARGET_DIR:-$repo/target/fuzz}
profile=${FUZZ_PROFILE:-release}

build_only=0
secs=10
if [ "${1-}" = "--build" ]; then build_only=1; shift; elif [ $# -gt 0 ]; then secs=$1; shift; fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' "$here/Cargo.toml" | grep -v '^smoothcast-fuzz$')
fi

# An explicit --target keeps build scripts and proc macros uninstrumented.
triple=$(cd "$here" && rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing \
-Cllvm-args=-simplifycfg-branch-fold-threshold=0 -Cllvm-args=-sanitizer-coverage-stack-depth \
-Cdebug-assertions"
build() {
  local t0=$SECONDS
  (cd "$here" && CARGO_TARGET_DIR="$out" cargo build --profile "$profile" --locked --target "$triple" \
    ${FUZZ_JOBS:+-j "$FUZZ_JOBS"} ${FUZZ_CARGO_ARGS-} $(printf -- '--bin %s ' "${targets[@]}"))
  echo "fuzz: built ${#targets[@]} targets in $((SECONDS - t0)) s"
}
build
[ $build_only -eq 1 ] && exit 0

bin=$out/$triple/$profile
summary=()
failed=0
for t in "${targets[@]}"; do
  mkdir -p "$out/corpus/$t" "$out/artifacts/$t" "$here/corpus/$t"
  log=$out/$t.log
  rc=0
  # The scratch corpus comes first: libFuzzer adds new inputs to the first directory only.
  # shellcheck disable=SC2086
  "$bin/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
    -print_final_stats=1 -artifact_prefix="$out/artifacts/$t/" ${FUZZ_ARGS-} \
    "$out/corpus/$t" "$here/corpus/$t" >"$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  covft=$(grep -aE '^#[0-9]+' "$log" | tail -1 | grep -aoE 'cov: [0-9]+ ft: [0-9]+' || true)
  if [ $rc -eq 0 ]; then result=ok; else result="CRASH (exit $rc, see $log)"; failed=1; tail -40 "$log"; fi
  line=$(printf '%-18s %10s runs  %-20s %s' "$t" "${runs:-?}" "${covft:-cov: ? ft: ?}" "$result")
  echo "fuzz: $line"
  summary+=("$line")
done
echo "---- fuzz summary ($secs s per target) ----"
printf '%s\n' "${summary[@]}"
exit $failed
