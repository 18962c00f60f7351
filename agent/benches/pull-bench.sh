#!/usr/bin/env bash
# Pull: uptree vs `ostree pull` from the same nginx on 127.0.0.1, back to
# back, into bare-user repos: a full pull of Debian minbase arm64 (v1) and
# an incremental pull to v2 (+40 packages, 2% of files changed), over HTTPS
# and plain HTTP.
#
#   bash agent/benches/pull-bench.sh [--protocols https,http] [--jobs N] [--rtt-ms MS]
#
# --rtt-ms puts a TCP delay proxy (delay-proxy.py) between clients and
# nginx, to compare over a link with round-trip time instead of loopback.
#
# Env: UPTREE, BENCH_RUNS (default 3), UPTREE_BENCH_CACHE.
# Targets: HTTPS ≤ 0.3× ostree's wall time and ≤ 0.25× its peak RSS;
# HTTP ≤ 0.8× and ≤ 0.5×; bytes transferred ≤ ostree's in every case.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

protocols="https,http" jobs="" rtt=0
while [ $# -gt 0 ]; do
  case $1 in
    --protocols) protocols=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --rtt-ms) rtt=$2; shift 2 ;;
    *) echo "usage: $0 [--protocols https,http] [--jobs N] [--rtt-ms MS]" >&2; exit 2 ;;
  esac
done

need_pkgs ostree time nginx-light openssl
UP=$(uptree_bin)
work=$(bench_scratch)
NGINX_PID="" PROXY_PIDS=""
cleanup() {
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null
  [ -n "$PROXY_PIDS" ] && kill $PROXY_PIDS 2>/dev/null
  bench_cleanup "$work"
}
trap cleanup EXIT

v1_tree=$(minbase_tree)
v2_tree=$(minbase_v2_tree)
echo "== v1: $(tree_stats "$v1_tree"); v2: $(tree_stats "$v2_tree")"

# The server repository, made by the real ostree.
server=$work/server
ostree --repo="$server" init --mode=archive
v1=$(ostree --repo="$server" commit -b os/stable -s v1 --timestamp='2024-01-01 00:00:00' "$v1_tree")
v2=$(ostree --repo="$server" commit -b os/stable -s v2 --timestamp='2024-02-01 00:00:00' "$v2_tree")
ostree --repo="$server" summary -u
echo "   server: v1 $v1, v2 $v2, $(du -sm "$server/objects" | cut -f1) MiB of objects"

# nginx on 127.0.0.1, HTTP and HTTPS (a throwaway CA).
HTTP_PORT=$(port)
bench_nginx "$work" "$server"

# Optionally reach nginx through a delay proxy (half the RTT each way).
CLIENT_HTTP_PORT=$HTTP_PORT CLIENT_HTTPS_PORT=$HTTPS_PORT
if [ "$rtt" != 0 ]; then
  CLIENT_HTTP_PORT=$(port)
  CLIENT_HTTPS_PORT=$(port)
  python3 "$bench_here/delay-proxy.py" "$CLIENT_HTTP_PORT" "$HTTP_PORT" "$(awk -v r="$rtt" 'BEGIN {print r / 2}')" &
  PROXY_PIDS="$!"
  python3 "$bench_here/delay-proxy.py" "$CLIENT_HTTPS_PORT" "$HTTPS_PORT" "$(awk -v r="$rtt" 'BEGIN {print r / 2}')" &
  PROXY_PIDS="$PROXY_PIDS $!"
  sleep 0.5
  echo "   through a delay proxy: ${rtt} ms round trip"
fi

BYTES=()
job_args=()
[ -n "$jobs" ] && job_args=(--jobs="$jobs")

for proto in ${protocols//,/ }; do
  url="http://127.0.0.1:$CLIENT_HTTP_PORT"
  [ "$proto" = https ] && url="https://127.0.0.1:$CLIENT_HTTPS_PORT"
  declare -A W R B
  for run in $(seq "$RUNS"); do
    for tool in ostree uptree; do
      repo=$work/client-$tool
      rm -rf "$repo"
      bin=ostree
      [ $tool = uptree ] && bin=$UP
      "$bin" --repo="$repo" init --mode=bare-user
      "$bin" --repo="$repo" remote add --no-gpg-verify --set=tls-ca-path="$pki/ca.pem" origin "$url"
      extra=()
      [ $tool = uptree ] && extra=("${job_args[@]}")
      for step in full incremental; do
        rev=$v1
        [ $step = incremental ] && rev=os/stable
        settle
        n=$(log_lines)
        t=$(timed "$bin" --repo="$repo" pull "${extra[@]}" origin "$rev")
        b=$(bytes_since "$n")
        W[$tool-$step]+="${t% *} "
        R[$tool-$step]+="${t#* } "
        B[$tool-$step]=$b
      done
      got=$("$bin" --repo="$repo" rev-parse origin:os/stable)
      if [ "$got" != "$v2" ]; then
        echo "WRONG RESULT ($tool, $proto): origin:os/stable is $got, expected $v2" >&2
        FAILED=1
      fi
    done
    "$UP" --repo="$work/client-uptree" fsck -q || FAILED=1
    ostree --repo="$work/client-uptree" fsck >/dev/null || FAILED=1
  done
  for step in full incremental; do
    tt=0.80 rt=0.50
    [ "$proto" = https ] && tt=0.30 rt=0.25
    med() { tr ' ' '\n' | grep -v '^$' | median; }
    mx() { tr ' ' '\n' | grep -v '^$' | maxof; }
    record "$proto $step pull" $tt "$(echo "${W[ostree-$step]}" | med)" "$(echo "${W[uptree-$step]}" | med)" \
      "$(echo "${R[ostree-$step]}" | mx)" "$(echo "${R[uptree-$step]}" | mx)" $rt
    ob=${B[ostree-$step]} ub=${B[uptree-$step]}
    verdict=PASS
    [ "$ub" -le "$ob" ] || verdict=MISS
    BYTES+=("$(printf '%-34s %12s %12s   %s' "$proto $step bytes sent" "$ob" "$ub" "$verdict")")
  done
  unset W R B
done
print_results
printf '\n%-34s %12s %12s\n' "case" "ostree" "uptree"
printf '%s\n' "${BYTES[@]}"
