#!/usr/bin/env bash
# Commit and checkout: uptree vs ostree on the same trees, back to back.
#
#   bash agent/benches/commit-bench.sh [--only minbase|synthetic] [--modes archive,bare-user]
#
# Env: UPTREE (binary; default: release build), BENCH_RUNS (default 3),
# UPTREE_BENCH_CACHE (prepared trees, default /var/tmp/uptree-bench).
# Targets: archive commit ≤ 0.5× ostree's wall time, bare-user commit ≤ 0.7×,
# checkout ≤ 1×, peak RSS ≤ 1× — and identical commit checksums always.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

only="" modes="archive,bare-user"
while [ $# -gt 0 ]; do
  case $1 in
    --only) only=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    *) echo "usage: $0 [--only minbase|synthetic] [--modes archive,bare-user]" >&2; exit 2 ;;
  esac
done

need_pkgs ostree time python3
UP=$(uptree_bin)
work=$(bench_scratch)
trap 'bench_cleanup "$work"' EXIT

bench_tree() {
  local label=$1 tree=$2 mode
  echo "== $label: $(tree_stats "$tree")"
  warm "$tree"
  for mode in ${modes//,/ }; do
    local ow=() uw=() orss=() urss=() oc uc run
    for run in $(seq "$RUNS"); do
      for tool in ostree uptree; do
        local repo="$work/$tool-$mode"
        rm -rf "$repo"
        if [ $tool = ostree ]; then ostree --repo="$repo" init --mode="$mode"; else "$UP" --repo="$repo" init --mode="$mode"; fi
        settle
        local bin=ostree
        [ $tool = uptree ] && bin=$UP
        local t
        t=$(TIMED_OUT="$work/$tool.out" timed "$bin" --repo="$repo" commit -b bench -s bench --timestamp='2024-01-01 00:00:00' "$tree")
        if [ $tool = ostree ]; then ow+=("${t% *}"); orss+=("${t#* }"); oc=$(cat "$work/$tool.out"); else uw+=("${t% *}"); urss+=("${t#* }"); uc=$(cat "$work/$tool.out"); fi
      done
      if [ "$oc" != "$uc" ]; then
        echo "CHECKSUM MISMATCH ($label, $mode): ostree $oc, uptree $uc" >&2
        FAILED=1
      fi
    done
    echo "   $mode commit: ostree $oc, uptree $uc"
    local target=0.50
    [ "$mode" = bare-user ] && target=0.70
    record "$label $mode commit" $target "$(printf '%s\n' "${ow[@]}" | median)" "$(printf '%s\n' "${uw[@]}" | median)" \
      "$(printf '%s\n' "${orss[@]}" | maxof)" "$(printf '%s\n' "${urss[@]}" | maxof)"

    # Checkout of that commit, each tool from its own repo, same flags.
    # ostree keeps an uncompressed copy of archive objects for checkout -U
    # (uncompressed-objects-cache/); it is cleared so every run is a first
    # checkout, as on a freshly pulled repo.
    ow=() uw=() orss=() urss=()
    for run in $(seq "$RUNS"); do
      for tool in ostree uptree; do
        local dest="$work/co-$tool"
        rm -rf "$dest" "$work/$tool-$mode/uncompressed-objects-cache"
        settle
        local bin=ostree
        [ $tool = uptree ] && bin=$UP
        local t
        t=$(timed "$bin" --repo="$work/$tool-$mode" checkout -U bench "$dest")
        if [ $tool = ostree ]; then ow+=("${t% *}"); orss+=("${t#* }"); else uw+=("${t% *}"); urss+=("${t#* }"); fi
      done
    done
    if ! diff -r --no-dereference "$work/co-ostree" "$work/co-uptree" >/dev/null; then
      echo "CHECKOUT DIFFERS ($label, $mode)" >&2
      FAILED=1
    fi
    record "$label $mode checkout -U" 1.00 "$(printf '%s\n' "${ow[@]}" | median)" "$(printf '%s\n' "${uw[@]}" | median)" \
      "$(printf '%s\n' "${orss[@]}" | maxof)" "$(printf '%s\n' "${urss[@]}" | maxof)"
    rm -rf "$work/co-ostree" "$work/co-uptree"
  done
}

if [ -z "$only" ] || [ "$only" = minbase ]; then bench_tree "minbase arm64" "$(minbase_tree)"; fi
if [ -z "$only" ] || [ "$only" = synthetic ]; then bench_tree "synthetic 100k" "$(synthetic_tree)"; fi
print_results
