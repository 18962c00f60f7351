#!/usr/bin/env bash
# Static deltas: uptree vs ostree on the minbase v1 → v2 update (2% of
# files changed, +40 packages), each tool's delta served by the same nginx,
# pulled into bare-user repos that have v1, back to back.
#
#   bash agent/benches/delta-bench.sh [--rtt-ms MS]
#
# Cases: generation (time, peak RSS), apply-offline of ostree's delta
# (time), delta pull vs a plain object pull (bytes, time), and a first
# install from a from-scratch (--empty) delta vs ostree's plain pull.
# --rtt-ms puts the delay proxy (delay-proxy.py) in front of nginx.
#
# Env: UPTREE, BENCH_RUNS (default 3), UPTREE_BENCH_CACHE.
# Targets (issue #14): delta pull bytes ≤ 0.5× a plain pull and ≤ ostree's
# delta pull; at 40 ms RTT delta pull ≤ 0.3× a plain pull; generation time
# ≤ ostree's and RSS ≤ 0.25×; apply time ≤ ostree's; first install from a
# scratch delta ≤ 0.3× ostree's plain pull.
#
# Results (BENCH_RUNS=1, no --rtt-ms, a 2-core machine shared with other
# jobs, so seconds are noisy; bytes and RSS are not), s16-delta:
#   generate v1→v2 peak RSS   before 139.3 MiB (0.36× ostree's 388.5)
#                             after   53.8 MiB (0.14× ostree's 388.6)
#     (parts streamed from a temp-file blob through xz, 4 MiB dictionary)
#   uptree delta v1→v2        before 10,676,084 B (8.9 MB part + the new
#                             4.5 MB libcrypto as a 1.75 MB .filez fallback)
#                             after  10,269,914 B (libcrypto in a part of its
#                             own: 1.33 MB; no fallbacks); ostree's 10,952,988
#   delta pull vs plain pull  before 10,731,428 / 14,480,234 B = 0.74×
#                             after  10,325,184 / 14,480,122 B = 0.71×
#                             (same nginx byte log, delta and plain pulls)
# The 0.5× target is out of reach of any compressor on this corpus: the
# update is mostly 1,139 files of 40 new packages (31.8 MB) with nothing to
# diff against; xz -9 of all new files as one tar is 9.86 MB, zstd -19
# --long with the whole v1 tree as dictionary (--patch-from) 10.58 MB, and
# the plain pull 14.48 MB, so ~0.68× is the floor for this corpus.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

rtt=0
while [ $# -gt 0 ]; do
  case $1 in
    --rtt-ms) rtt=$2; shift 2 ;;
    *) echo "usage: $0 [--rtt-ms MS]" >&2; exit 2 ;;
  esac
done

need_pkgs ostree time nginx-light openssl
UP=$(uptree_bin)
work=$(bench_scratch)
NGINX_PID="" PROXY_PID=""
cleanup() {
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null
  [ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null
  bench_cleanup "$work"
}
trap cleanup EXIT

v1_tree=$(minbase_tree)
v2_tree=$(minbase_v2_tree)
echo "== v1: $(tree_stats "$v1_tree"); v2: $(tree_stats "$v2_tree")"

# One archive repo made by ostree, copied so each tool's deltas live apart.
base=$work/base
ostree --repo="$base" init --mode=archive
v1=$(ostree --repo="$base" commit -b os/stable -s v1 --timestamp='2024-01-01 00:00:00' "$v1_tree")
v2=$(ostree --repo="$base" commit -b os/stable -s v2 --timestamp='2024-02-01 00:00:00' "$v2_tree")
srv=$work/srv
mkdir -p "$srv"
cp -a "$base" "$srv/ostree"
cp -a "$base" "$srv/uptree"

# Generation, from v1 and from scratch.
settle
tg=$(timed ostree --repo="$srv/ostree" static-delta generate --from="$v1" --to="$v2")
settle
ug=$(timed "$UP" --repo="$srv/uptree" static-delta generate --from="$v1" --to="$v2")
record "generate v1→v2" 1.00 "${tg% *}" "${ug% *}" "${tg#* }" "${ug#* }" 0.25
echo "   generate v1→v2: ostree $tg, uptree $ug (s, KiB)"
ostree --repo="$srv/ostree" static-delta generate --empty --to="$v2" >/dev/null
"$UP" --repo="$srv/uptree" static-delta generate --empty --to="$v2" >/dev/null
ostree --repo="$srv/ostree" summary -u
"$UP" --repo="$srv/uptree" summary -u
size_of() { "$1" --repo="$2" static-delta show "$3" | awk -F'[ (]' '/^Total Size:/ {print $3}'; }
echo "   delta v1→v2: ostree $(size_of ostree "$srv/ostree" "$v1-$v2") bytes, uptree $(size_of "$UP" "$srv/uptree" "$v1-$v2") bytes"

# A client repo with v1 complete and origin:os/stable at v1.
client_with_v1() {
  local bin=$1 repo=$2
  rm -rf "$repo"
  "$bin" --repo="$repo" init --mode=bare-user
  ostree --repo="$repo" pull-local "$base" "$v1" >/dev/null
  "$bin" --repo="$repo" refs --create=origin:os/stable "$v1"
}

# Apply-offline of ostree's delta, by each tool: one without fallbacks
# (offline there is nowhere to fetch them from), in the base repository.
ostree --repo="$base" static-delta generate --min-fallback-size=0 --from="$v1" --to="$v2" >/dev/null
delta_dir=$base/$(python3 -c "
import base64,sys
b=lambda h: base64.b64encode(bytes.fromhex(h)).decode().rstrip('=').replace('/','_')
f,t=b(sys.argv[1]),b(sys.argv[2]); print(f'deltas/{f[:2]}/{f[2:]}-{t}')" "$v1" "$v2")
declare -A W R
for _ in $(seq "$RUNS"); do
  for tool in ostree uptree; do
    bin=ostree
    [ $tool = uptree ] && bin=$UP
    client_with_v1 "$bin" "$work/apply-$tool"
    settle
    t=$(timed "$bin" --repo="$work/apply-$tool" static-delta apply-offline "$delta_dir")
    W[$tool]+="${t% *} " R[$tool]+="${t#* } "
  done
  ostree --repo="$work/apply-uptree" fsck >/dev/null || FAILED=1
done
med() { tr ' ' '\n' | grep -v '^$' | median; }
mx() { tr ' ' '\n' | grep -v '^$' | maxof; }
record "apply-offline (ostree's delta)" 1.00 "$(echo "${W[ostree]}" | med)" "$(echo "${W[uptree]}" | med)" "$(echo "${R[ostree]}" | mx)" "$(echo "${R[uptree]}" | mx)"
unset W R

# nginx serving both server repos; bytes from its access log.
bench_nginx "$work" "$srv"
CLIENT_PORT=$HTTPS_PORT
if [ "$rtt" != 0 ]; then
  CLIENT_PORT=$(port)
  python3 "$bench_here/delay-proxy.py" "$CLIENT_PORT" "$HTTPS_PORT" "$(awk -v r="$rtt" 'BEGIN {print r / 2}')" &
  PROXY_PID=$!
  sleep 0.5
  echo "   through a delay proxy: ${rtt} ms round trip"
fi

# pull CASE BIN SERVER FROM_V1(yes|no) [ARGS…]: prints "WALL RSS BYTES".
pull_case() {
  local name=$1 bin=$2 server=$3 from=$4
  shift 4
  local repo=$work/client-$name
  if [ "$from" = yes ]; then
    client_with_v1 "$bin" "$repo"
  else
    rm -rf "$repo"
    "$bin" --repo="$repo" init --mode=bare-user
  fi
  "$bin" --repo="$repo" remote add --no-gpg-verify --set=tls-ca-path="$pki/ca.pem" origin "https://127.0.0.1:$CLIENT_PORT/$server"
  settle
  local n t b got
  n=$(log_lines)
  t=$(timed "$bin" --repo="$repo" pull "$@" origin os/stable)
  b=$(bytes_since "$n")
  got=$("$bin" --repo="$repo" rev-parse origin:os/stable)
  if [ "$got" != "$v2" ]; then
    echo "WRONG RESULT ($name): origin:os/stable is $got, expected $v2" >&2
    FAILED=1
  fi
  echo "$t $b"
}

declare -A W R B
for _ in $(seq "$RUNS"); do
  for c in "ostree-delta ostree ostree yes" "uptree-delta $UP uptree yes" "uptree-plain $UP uptree yes --disable-static-deltas" \
    "ostree-plain-first ostree ostree no --disable-static-deltas" "uptree-scratch-first $UP uptree no"; do
    # shellcheck disable=SC2086 # the case's words
    set -- $c
    r=$(pull_case "$@")
    read -r w m b <<<"$r"
    W[$1]+="$w " R[$1]+="$m " B[$1]=$b
  done
  ostree --repo="$work/client-uptree-delta" fsck >/dev/null || FAILED=1
done
wall() { echo "${W[$1]}" | med; }
rss() { echo "${R[$1]}" | mx; }
record "delta pull vs plain pull (uptree)" 0.30 "$(wall uptree-plain)" "$(wall uptree-delta)" "$(rss uptree-plain)" "$(rss uptree-delta)"
record "delta pull, uptree vs ostree" 1.00 "$(wall ostree-delta)" "$(wall uptree-delta)" "$(rss ostree-delta)" "$(rss uptree-delta)"
record "first install: scratch delta" 0.30 "$(wall ostree-plain-first)" "$(wall uptree-scratch-first)" "$(rss ostree-plain-first)" "$(rss uptree-scratch-first)"
print_results
verdict() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN {print (a <= b * f) ? "PASS" : "MISS"}'; }
printf '\n%-40s %12s %12s\n' "bytes sent" "reference" "uptree"
printf '%-40s %12s %12s   %s (≤0.5×)\n' "delta pull vs plain pull" "${B[uptree-plain]}" "${B[uptree-delta]}" "$(verdict "${B[uptree-delta]}" "${B[uptree-plain]}" 0.5)"
printf '%-40s %12s %12s   %s (≤1×)\n' "delta pull vs ostree's delta pull" "${B[ostree-delta]}" "${B[uptree-delta]}" "$(verdict "${B[uptree-delta]}" "${B[ostree-delta]}" 1)"
printf '%-40s %12s %12s\n' "first install: plain vs scratch delta" "${B[ostree-plain-first]}" "${B[uptree-scratch-first]}"
