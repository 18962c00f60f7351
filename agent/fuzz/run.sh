#!/usr/bin/env bash
# CI's fuzz step: builds every target in fuzz_targets/ with cargo-fuzz
# (libFuzzer + AddressSanitizer, nightly toolchain) and runs each for
# FUZZ_SECONDS from the committed seed corpus. One line per target, then
# "N passed, N failed"; exit status 1 if any target crashed, broke an
# invariant, timed out or went over the memory limit (the input is saved,
# its path printed).
#
# Knobs (environment):
#   FUZZ_SECONDS  time per target (default 60)
#   FUZZ_JOBS     targets run at once (default: number of CPUs, at most 4)
#   FUZZ_TARGETS  space-separated subset (default: all)
#   FUZZ_MAX_LEN  largest input in bytes (default 4096)
#   FUZZ_RSS_MB   memory limit per target in MiB (default 512; a single
#                 allocation may take half of it)
#
# A target's dict/<target>.dict (libFuzzer dictionary) is used if present.
#
# Reproduce a failure: fuzz/target/<triple>/release/<target> <artifact>
# (or `cargo +nightly-2026-05-19 fuzz run --fuzz-dir fuzz <target> <artifact>` from agent/).
# New inputs found during a run stay in fuzz/target/work/<target>/, never
# in the committed corpus/ (regenerate that with seeds.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."

seconds=${FUZZ_SECONDS:-60}
max_len=${FUZZ_MAX_LEN:-4096}
rss_mb=${FUZZ_RSS_MB:-512}
jobs=${FUZZ_JOBS:-$(nproc)}
[ "$jobs" -gt 4 ] && jobs=4
[ "$jobs" -lt 1 ] && jobs=1

# Tools, installed once: a pinned nightly toolchain (sanitizers and
# libFuzzer's instrumentation need one; pinned so that a new nightly cannot
# turn CI red) and cargo-fuzz from crates.io.
nightly=${FUZZ_TOOLCHAIN:-nightly-2026-05-19}
if ! rustup run "$nightly" rustc --version >/dev/null 2>&1; then
  echo "installing the $nightly toolchain" >&2
  rustup toolchain install "$nightly" --profile minimal >&2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked >&2
fi

all=$(sed -n 's|^path = "fuzz_targets/\(.*\)\.rs"$|\1|p' fuzz/Cargo.toml)
targets=${FUZZ_TARGETS:-$all}

# Build every target even when a subset runs, so a target that no longer
# compiles fails here.
cargo "+$nightly" fuzz build --fuzz-dir fuzz >&2
triple=$(rustc "+$nightly" -vV | sed -n 's/^host: //p')
bin=fuzz/target/$triple/release
logs=fuzz/target/logs
mkdir -p "$logs"

# Runs one target; prints its result line; returns non-zero on a finding.
run_target() {
  local t=$1 work=fuzz/target/work/$1 art=fuzz/artifacts/$1/ log=$logs/$1.log rc=0
  mkdir -p "$work" "$art" fuzz/corpus/"$t"
  local dict=()
  [ -f "fuzz/dict/$t.dict" ] && dict=(-dict="fuzz/dict/$t.dict")
  "$bin/$t" "$work" "fuzz/corpus/$t" "${dict[@]}" -max_total_time="$seconds" -max_len="$max_len" \
    -rss_limit_mb="$rss_mb" -malloc_limit_mb=$((rss_mb / 2)) -timeout=10 \
    -artifact_prefix="$art" -print_final_stats=1 >"$log" 2>&1 || rc=$?
  local runs
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ "$rc" -eq 0 ]; then
    printf 'fuzz %-12s ok: %s runs in %ss\n' "$t" "${runs:-?}" "$seconds"
    return 0
  fi
  local artifact what
  artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
  what=$(grep -m1 -E 'invariant failed|panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|out-of-memory|timeout after' "$log" || true)
  printf 'fuzz %-12s FAILED (exit %s): %s\n  artifact: %s\n  log: %s\n' "$t" "$rc" "${what:-see log}" "${artifact:-none}" "$log"
  # The panic message and the top of the stack, for CI logs.
  grep -A3 -E 'invariant failed|panicked at' "$log" | head -20 | sed 's/^/    /' || true
  # CI's work tree is gone after the run: the input itself, to reproduce
  # with `base64 -d > input; fuzz/target/<triple>/release/<target> input`.
  if [ -n "$artifact" ] && [ -f "$artifact" ] && [ "$(stat -c %s "$artifact")" -le 65536 ]; then
    printf '  input (base64): %s\n' "$(base64 -w0 "$artifact")"
  fi
  return 1
}

passed=0
failed=0
results=$(mktemp)
trap 'rm -f "$results"' EXIT
running=0
for t in $targets; do
  if [ ! -x "$bin/$t" ]; then
    echo "fuzz $t: no such target (have: ${all//$'\n'/ })" >&2
    exit 2
  fi
  (if run_target "$t"; then echo pass >>"$results"; else echo fail >>"$results"; fi) &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait
passed=$(grep -c '^pass$' "$results" || true)
failed=$(grep -c '^fail$' "$results" || true)
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
