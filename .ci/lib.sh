# Shared by .ci/setup, .ci/test and .ci/run (sourced, not executed).
# step NAME CMD...: runs CMD, prints its wall time, records it for the summary.

cd "$(dirname "${BASH_SOURCE[0]}")/.."   # every step runs from the repository root
CI_TIMINGS=()

now_ms() { date +%s%3N; }

step() {
  local name=$1; shift
  local t0; t0=$(now_ms)
  echo "==> $name"
  # A subshell with errexit re-armed: in `cmd || rc=$?` bash would silently ignore
  # failures inside shell functions, so errors must be caught this way instead.
  local rc=0
  set +e
  ( set -e; "$@" )
  rc=$?
  set -e
  local ms=$(( $(now_ms) - t0 ))
  local line; line=$(printf '%-58s %6d.%01d s%s' "$name" $((ms / 1000)) $((ms % 1000 / 100)) \
    "$([ $rc -eq 0 ] || echo "  FAILED ($rc)")")
  CI_TIMINGS+=("$line")
  echo "<== $line"
  if [ $rc -ne 0 ]; then summary; exit $rc; fi
}

summary() {
  echo "---- timings ----"
  printf '%s\n' "${CI_TIMINGS[@]}"
}
