#!/usr/bin/env bash
# Fuzzes every parser of untrusted bytes in convplay-compute (tests/fuzz, cargo-fuzz + libFuzzer):
# IDX files, safetensors weights, layer-spec JSON, share links (as text, and the JSON inside).
#
#   bash scripts/fuzz.sh SECONDS [TARGET...]     e.g. bash scripts/fuzz.sh 120
#
# Each target runs SECONDS (one process: this machine keeps a core free), from its seed corpus in
# tests/fuzz/corpus/<target>/ (read only; new inputs go to tests/fuzz/target/corpus/<target>/),
# with a per-input time limit and memory limits, then a table of executions per target is
# printed. Exits non-zero if any target crashed, hung or went past a memory limit; the input is
# in tests/fuzz/artifacts/<target>/. Once fixed, copy it to tests/fuzz/corpus/<target>/ as
# regression-<what>: crates/compute/tests/fuzz_corpus.rs runs every corpus file on stable.
#
# Uses the nightly toolchain if rustup has one, else stable with RUSTC_BOOTSTRAP=1 (libFuzzer
# builds need -Z flags). FUZZ_TOOLCHAIN=stable forces the fallback.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}
shift
[[ $secs =~ ^[0-9]+$ && $secs -gt 0 ]] || { echo "SECONDS must be a positive integer" >&2; exit 2; }

CARGO_FUZZ_VERSION=0.13.1
# Per input: a hang is an input taking longer than this many seconds.
TIMEOUT_S=10
# Memory: the process's RSS, and any single allocation (the parsers' own limits are far below:
# a link inflates to at most 1 MiB; a weights file allocates about its own size).
RSS_LIMIT_MB=2048
MALLOC_LIMIT_MB=512
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked ||
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

toolchain=${FUZZ_TOOLCHAIN:-}
if [[ -z $toolchain ]]; then
  if rustup toolchain list | grep -q '^nightly'; then toolchain=nightly; else toolchain=stable; fi
fi
if [[ $toolchain != nightly* ]]; then
  export RUSTC_BOOTSTRAP=1
fi
cargo_fuzz() { cargo "+$toolchain" fuzz "$@"; }
echo "== toolchain: $(rustc "+$toolchain" --version)${RUSTC_BOOTSTRAP:+ (RUSTC_BOOTSTRAP=1)}"

fuzz_dir=tests/fuzz
if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo_fuzz list --fuzz-dir "$fuzz_dir")
fi

echo "== building ${targets[*]}"
cargo_fuzz build --fuzz-dir "$fuzz_dir"

logs=$fuzz_dir/target/logs
mkdir -p "$logs"
declare -A execs rate result
failed=()
for t in "${targets[@]}"; do
  seeds=$fuzz_dir/corpus/$t
  scratch=$fuzz_dir/target/corpus/$t
  mkdir -p "$scratch" "$fuzz_dir/artifacts/$t"
  echo "== $t: ${secs}s from $(find "$seeds" -type f | wc -l) seeds (log: $logs/$t.log)"
  start=$SECONDS
  # The first corpus directory receives new inputs: the scratch one, never the seeds.
  if cargo_fuzz run --fuzz-dir "$fuzz_dir" "$t" "$scratch" "$seeds" -- \
    -max_total_time="$secs" -timeout="$TIMEOUT_S" \
    -rss_limit_mb="$RSS_LIMIT_MB" -malloc_limit_mb="$MALLOC_LIMIT_MB" \
    -print_final_stats=1 >"$logs/$t.log" 2>&1; then
    result[$t]=ok
  else
    result[$t]="FAILED (see $logs/$t.log, input in $fuzz_dir/artifacts/$t/)"
    failed+=("$t")
    grep -E 'ERROR: libFuzzer|panicked at|^SUMMARY|Test unit written' "$logs/$t.log" | head -5 || true
  fi
  took=$((SECONDS - start))
  n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -1)
  execs[$t]=${n:-?}
  if [[ -n $n && $took -gt 0 ]]; then rate[$t]=$((n / took)); else rate[$t]=?; fi
done

echo
printf '%-18s %14s %10s  %s\n' target executions "execs/s" result
for t in "${targets[@]}"; do
  printf '%-18s %14s %10s  %s\n' "$t" "${execs[$t]}" "${rate[$t]}" "${result[$t]}"
done
echo "wall time: ${SECONDS}s"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "crashes in: ${failed[*]}" >&2
  exit 1
fi
