#!/usr/bin/env bash
# Commit and checkout: uptree vs the real ostree on the same trees, back to
# back in one run, printing wall-time and peak-RSS ratios (uptree/ostree).
#
#   UPTREE=path/to/uptree BENCH_RUNS=3 bash agent/benches/commit-bench.sh \
#       [--only minbase|synthetic] [--modes archive,bare-user]
#
# Env:
#   UPTREE              binary under test (default: cargo build --release -p uptree)
#   BENCH_RUNS          timed runs per command, median wall / max RSS kept (default 3)
#   UPTREE_BENCH_CACHE  prepared input trees and the scratch filesystem
#                       (default /var/tmp/uptree-bench)
#
# Trees: "minbase" = Debian bookworm minbase arm64 unpacked by debootstrap
# --foreign (shared with pull-bench.sh through lib.sh); "synthetic" = 100,000
# files from gen-tree.py (deterministic).
#
# Targets (ratio uptree/ostree): archive commit wall ≤ 0.50, bare-user commit
# wall ≤ 0.70, checkout wall ≤ 1.00, peak RSS ≤ 1.00 everywhere. Missing a
# target is reported (MISS), never fatal: this is a benchmark. The script
# exits non-zero only on wrong results: different commit checksums, or
# checkouts that differ.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# lib.sh: CACHE, RUNS, need_pkgs, uptree_bin, minbase_tree, bench_scratch.
# shellcheck source=agent/benches/lib.sh
source "$here/lib.sh"

usage() {
  echo "usage: $0 [--only minbase|synthetic] [--modes archive,bare-user]" >&2
  exit 2
}

only="" modes="archive,bare-user"
while [ $# -gt 0 ]; do
  case $1 in
    --only) [ $# -ge 2 ] || usage; only=$2; shift 2 ;;
    --only=*) only=${1#*=}; shift ;;
    --modes) [ $# -ge 2 ] || usage; modes=$2; shift 2 ;;
    --modes=*) modes=${1#*=}; shift ;;
    -h | --help) usage ;;
    *) usage ;;
  esac
done
case $only in "" | minbase | synthetic) ;; *) usage ;; esac
for m in ${modes//,/ }; do
  case $m in archive | bare-user) ;; *) echo "unknown mode: $m" >&2; usage ;; esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_RUNS must be a positive integer" >&2; exit 2; }

SYNTH_FILES=100000
TIMESTAMP='2024-01-01 00:00:00'

# ---------------------------------------------------------------- inputs

# The synthetic tree, cached under a name that includes a hash of the
# generator, so editing gen-tree.py regenerates it instead of silently
# benchmarking a stale tree. Generated beside its final place and renamed,
# so an interrupted run never leaves a half tree that looks complete; the
# completion marker sits beside the tree, not in it, so it is not committed.
synthetic_tree() {
  local key dir
  key=$(sha256sum <"$here/gen-tree.py" | cut -c1-12)
  dir="$CACHE/synthetic-$SYNTH_FILES-$key"
  if [ ! -e "$dir.complete" ]; then
    echo "generating the synthetic tree in $dir" >&2
    rm -rf "$dir" "$dir.tmp"
    python3 "$here/gen-tree.py" "$dir.tmp" "$SYNTH_FILES" >&2
    mv "$dir.tmp" "$dir"
    touch "$dir.complete"
  fi
  echo "$dir"
}

# "F files, D dirs, L symlinks, B bytes (M MiB)" of a tree (regular files'
# apparent sizes).
tree_stats() {
  find "$1" -printf '%y %s\n' | awk '
    $1 == "f" { f++; b += $2 } $1 == "d" { d++ } $1 == "l" { l++ }
    END { printf "%d files, %d dirs, %d symlinks, %d bytes (%.1f MiB)", f, d, l, b, b / 1048576 }'
}

# Read every file of the tree so neither tool pays cold reads. Not
# `tar -cf /dev/null`: GNU tar notices /dev/null and skips reading file
# contents, which leaves the cache cold.
warm() {
  find "$1" -type f -print0 | xargs -0 -r cat >/dev/null
}

# ---------------------------------------------------------------- running

# bin TOOL: the executable for "ostree" or "uptree".
bin() { if [ "$1" = ostree ]; then echo ostree; else echo "$UP"; fi; }

# measure OUT CMD...: run CMD with stdout to OUT; print "WALL_S RSS_KIB".
# Wall time from bash's microsecond clock (GNU time's %e has 10 ms steps,
# too coarse for sub-second checkouts); peak RSS from GNU time's %M, the
# command's own maximum resident set. Everything is flushed first so one
# tool's dirty pages are not written back on the other's time.
measure() {
  local out=$1 tf t0 t1 rc=0
  shift
  tf=$(mktemp)
  sync
  t0=$EPOCHREALTIME
  /usr/bin/time -f '%M' -o "$tf" "$@" >"$out" || rc=$?
  t1=$EPOCHREALTIME
  if [ $rc -ne 0 ]; then
    echo "command failed ($rc): $*" >&2
    rm -f "$tf"
    return $rc
  fi
  awk -v a="$t0" -v b="$t1" -v m="$(tail -1 "$tf")" 'BEGIN { printf "%.3f %d\n", b - a, m }'
  rm -f "$tf"
}

# Tools in a different order on odd and even runs, so neither always runs
# second (on a warmer or busier machine).
order() { if [ $(($1 % 2)) -eq 1 ]; then echo "ostree uptree"; else echo "uptree ostree"; fi; }

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
maxof() { sort -g | tail -1; }

# Listing of every path's type, mode, owner, size (regular files) and
# symlink target: `diff -r` compares contents and link targets only.
meta_listing() {
  (cd "$1" && find . -printf '%p %y %m %U:%G %l' -a \( -type f -printf ' %s\n' -o -printf '\n' \)) | LC_ALL=C sort
}

# compare_checkouts A B LABEL: contents with diff -r, then metadata.
compare_checkouts() {
  local a=$1 b=$2 label=$3 d
  if d=$(diff -r --no-dereference "$a" "$b" 2>&1); then
    if d=$(diff <(meta_listing "$a") <(meta_listing "$b")); then
      echo "   checkout: identical trees ($(find "$a" | wc -l) entries; contents, link targets, types, modes)"
      return 0
    fi
    echo "!! CHECKOUT METADATA DIFFERS ($label): < ostree, > uptree" >&2
  else
    echo "!! CHECKOUT CONTENTS DIFFER ($label): diff -r ostree uptree" >&2
  fi
  printf '%s\n' "$d" | head -20 >&2
  FAILED=1
}

ROWS=()
CHECKSUMS=()
FAILED=0

# row TREE MODE OP TIME_TARGET OSTREE_S UPTREE_S OSTREE_KIB UPTREE_KIB
row() {
  local tree=$1 mode=$2 op=$3 tt=$4 ow=$5 uw=$6 ok=$7 uk=$8
  ROWS+=("$(awk -v tree="$tree" -v mode="$mode" -v op="$op" -v tt="$tt" \
    -v ow="$ow" -v uw="$uw" -v ok="$ok" -v uk="$uk" 'BEGIN {
      wr = sprintf("%.2f", ow > 0 ? uw / ow : 0); rr = sprintf("%.2f", ok > 0 ? uk / ok : 0)
      # Judged on the printed (rounded) ratios, so what is shown is what counts.
      miss = ""
      if (wr + 0 > tt + 0) miss = "time"
      if (rr + 0 > 1.00) miss = miss (miss ? "+" : "") "RSS"
      printf "%-10s %-9s %-8s %9.3f %9.3f %6s %5s %9.1f %9.1f %6s %5s  %s",
        tree, mode, op, ow, uw, wr, "≤" tt, ok / 1024, uk / 1024, rr, "≤1.00", miss ? "MISS(" miss ")" : "PASS"
    }')")
}

# bench TREE_NAME DIR MODE: commit timings, checksum check, checkout
# timings, checkout comparison.
bench() {
  local name=$1 tree=$2 mode=$3 run tool t cs
  local repo_o="$work/repo-ostree" repo_u="$work/repo-uptree"
  local -a ow=() uw=() ok=() uk=()
  local -A sum=()
  local first_o="" first_u="" mismatch=0

  echo "-- $name / $mode"
  # Commit: every run into a fresh, empty repo so both do the full work.
  for run in $(seq "$RUNS"); do
    warm "$tree"
    for tool in $(order "$run"); do
      local repo="$work/repo-$tool"
      rm -rf "$repo"
      "$(bin "$tool")" --repo="$repo" init --mode="$mode"
      t=$(measure "$work/out" "$(bin "$tool")" --repo="$repo" commit -b bench --timestamp="$TIMESTAMP" -s bench "$tree")
      cs=$(tr -d '[:space:]' <"$work/out")
      sum[$tool]=$cs
      if [ "$tool" = ostree ]; then ow+=("${t% *}") ok+=("${t#* }"); else uw+=("${t% *}") uk+=("${t#* }"); fi
      printf '   commit   run %d %-6s %8.3f s %7.1f MiB  %s\n' "$run" "$tool" "${t% *}" "$(mib "${t#* }")" "$cs"
    done
    [ -n "$first_o" ] || { first_o=${sum[ostree]}; first_u=${sum[uptree]}; }
    if [ "${sum[ostree]}" != "${sum[uptree]}" ] || [ "${sum[ostree]}" != "$first_o" ] || [ "${sum[uptree]}" != "$first_u" ]; then
      mismatch=1
    fi
  done
  if [ $mismatch -eq 0 ]; then
    CHECKSUMS+=("$(printf '%-10s %-9s identical  %s' "$name" "$mode" "$first_o")")
  else
    echo "!! CHECKSUM MISMATCH ($name, $mode): ostree $first_o, uptree $first_u (see the runs above)" >&2
    CHECKSUMS+=("$(printf '%-10s %-9s MISMATCH   ostree %s  uptree %s' "$name" "$mode" "$first_o" "$first_u")")
    FAILED=1
  fi
  row "$name" "$mode" commit "$([ "$mode" = archive ] && echo 0.50 || echo 0.70)" \
    "$(printf '%s\n' "${ow[@]}" | median)" "$(printf '%s\n' "${uw[@]}" | median)" \
    "$(printf '%s\n' "${ok[@]}" | maxof)" "$(printf '%s\n' "${uk[@]}" | maxof)"

  # Checkout of the last commit, each tool from its own repo, same flags
  # (-U: as the committing user, which is what bare-user needs and what an
  # unprivileged archive checkout does), into a fresh directory each run.
  # ostree keeps uncompressed copies of archive objects for -U checkouts
  # (uncompressed-objects-cache/); it is cleared so every run is a first
  # checkout, as from a freshly pulled repo.
  ow=() uw=() ok=() uk=()
  for run in $(seq "$RUNS"); do
    for tool in $(order "$run"); do
      local dest="$work/co-$tool"
      rm -rf "$dest" "$work/repo-$tool/uncompressed-objects-cache"
      t=$(measure /dev/null "$(bin "$tool")" --repo="$work/repo-$tool" checkout -U bench "$dest")
      if [ "$tool" = ostree ]; then ow+=("${t% *}") ok+=("${t#* }"); else uw+=("${t% *}") uk+=("${t#* }"); fi
      printf '   checkout run %d %-6s %8.3f s %7.1f MiB\n' "$run" "$tool" "${t% *}" "$(mib "${t#* }")"
    done
  done
  compare_checkouts "$work/co-ostree" "$work/co-uptree" "$name, $mode"
  row "$name" "$mode" checkout 1.00 \
    "$(printf '%s\n' "${ow[@]}" | median)" "$(printf '%s\n' "${uw[@]}" | median)" \
    "$(printf '%s\n' "${ok[@]}" | maxof)" "$(printf '%s\n' "${uk[@]}" | maxof)"
  rm -rf "$work/co-ostree" "$work/co-uptree" "$repo_o" "$repo_u"
}

# ---------------------------------------------------------------- main

start=$EPOCHREALTIME
need_pkgs ostree time python3
UP=$(uptree_bin)

# Scratch space for repos and checkouts: lib.sh's loop-mounted ext4 (the VM
# disk's online discard made timings swing). Left mounted if it already
# was; unmounted at the end only if this run mounted it.
scratch_mnt="$CACHE/scratch"
was_mounted=0
mountpoint -q "$scratch_mnt" 2>/dev/null && was_mounted=1
work=$(bench_scratch)
cleanup() {
  rm -rf "$work"
  if [ $was_mounted -eq 0 ] && mountpoint -q "$scratch_mnt" 2>/dev/null; then
    as_root umount "$scratch_mnt" || true
  fi
}
trap cleanup EXIT

trees=()
[ "$only" = synthetic ] || trees+=("minbase=$(minbase_tree)")
[ "$only" = minbase ] || trees+=("synthetic=$(synthetic_tree)")

echo "uptree: $UP ($("$UP" --version 2>/dev/null || echo '?')); ostree $(ostree --version | awk -F"'" '/Version/ { print $2 }')"
echo "runs per command: $RUNS (median wall, max RSS); scratch: $work"
STATS=()
for entry in "${trees[@]}"; do
  STATS+=("$(printf '%-10s %s   %s' "${entry%%=*}" "$(tree_stats "${entry#*=}")" "${entry#*=}")")
done
printf '%s\n' "${STATS[@]}"

for entry in "${trees[@]}"; do
  for mode in ${modes//,/ }; do
    bench "${entry%%=*}" "${entry#*=}" "$mode"
  done
done

echo
echo "Trees:"
printf '  %s\n' "${STATS[@]}"
echo
echo "Commit checksums (ostree vs uptree, every run):"
printf '  %s\n' "${CHECKSUMS[@]}"
echo
printf '%-10s %-9s %-8s %9s %9s %6s %5s %9s %9s %6s %5s  %s\n' \
  tree mode op "ostree s" "uptree s" ratio target "ostree M" "uptree M" ratio target verdict
printf '%s\n' "${ROWS[@]}"
echo "(wall: median of $RUNS runs; peak RSS in MiB: max of $RUNS runs; ratio = uptree/ostree)"
awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "total run time: %.0f s\n", b - a }'

if [ "$FAILED" -ne 0 ]; then
  echo "FAILED: wrong results (checksum mismatch or checkout difference), see the !! lines above" >&2
  exit 1
fi
