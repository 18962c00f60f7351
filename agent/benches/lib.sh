# Shared pieces of the benchmark scripts (sourced). Benchmarks compare
# uptree with the real ostree on the same input, back to back in one run,
# and print ratios; they never fail on timing, only on wrong results.

bench_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bench_root=$(cd "$bench_here/../.." && pwd)
source "$bench_root/.ci/lib.sh"

CACHE=${UPTREE_BENCH_CACHE:-/var/tmp/uptree-bench}
RUNS=${BENCH_RUNS:-3}
mkdir -p "$CACHE"

# The uptree binary under test: $UPTREE, else a release build.
uptree_bin() {
  if [ -n "${UPTREE:-}" ]; then
    echo "$UPTREE"
    return
  fi
  # --features generate: the build-server binary (static-delta generate).
  (cd "$bench_root" && cargo build --release --locked -q -p uptree --features generate) >&2
  echo "$bench_root/target/release/uptree"
}

# Debian minbase arm64 (≈5k files): debootstrap's first stage only unpacks,
# so no emulation is needed. Device nodes and other special files are
# dropped: OSTree commits only files, symlinks and directories.
minbase_tree() {
  local dir="$CACHE/minbase"
  if [ ! -f "$dir/.complete" ]; then
    need_pkgs debootstrap >&2
    rm -rf "$dir"
    debootstrap --foreign --variant=minbase --arch=arm64 bookworm "$dir" http://deb.debian.org/debian >&2
    find "$dir" ! -type f ! -type d ! -type l -delete
    rm -rf "$dir/debootstrap" "$dir/var/cache/apt/archives"/*.deb
    touch "$dir/.complete"
  fi
  echo "$dir"
}

# v2 of minbase: +40 packages unpacked into it and 2% of the files changed,
# like a routine OS update.
minbase_v2_tree() {
  local v1 dir debs
  v1=$(minbase_tree)
  dir="$CACHE/minbase-v2"
  if [ ! -f "$dir/.complete" ]; then
    rm -rf "$dir"
    cp -a "$v1" "$dir"
    rm -f "$dir/.complete"
    debs="$CACHE/v2-debs"
    if [ ! -f "$debs/.complete" ]; then
      if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        as_root dpkg --add-architecture arm64
        as_root apt-get update -qq
      fi
      mkdir -p "$debs"
      # arm64 packages, plus architecture-independent ones (no :arm64 suffix).
      (cd "$debs" && apt-get download -qq \
        $(printf '%s:arm64 ' busybox-static curl libcurl4 libnghttp2-14 librtmp1 libssh2-1 libpsl5 libbrotli1 libldap-2.5-0 libsasl2-2 \
          libsasl2-modules-db libkrb5-3 libk5crypto3 libkrb5support0 libkeyutils1 libgssapi-krb5-2 libcom-err2 openssl libssl3 \
          iproute2 libbpf1 libelf1 libmnl0 libxtables12 libcap2-bin iputils-ping nano libncursesw6 less vim-tiny xxd \
          kmod libkmod2 procps libproc2-0 psmisc file libmagic1) ca-certificates vim-common >&2)
      [ "$(ls "$debs"/*.deb | wc -l)" -ge 40 ] || { echo "expected 40 packages in $debs" >&2; return 1; }
      touch "$debs/.complete"
    fi
    for d in "$debs"/*.deb; do dpkg-deb -x "$d" "$dir" || return 1; done
    find "$dir" ! -type f ! -type d ! -type l -delete
    # Change 2% of the existing files (deterministic choice).
    local n total
    total=$(find "$dir/usr" -type f | wc -l)
    n=$((total / 50))
    find "$dir/usr" -type f | sort | awk -v n="$n" -v t="$total" 'NR % int(t/n) == 0' | head -n "$n" |
      while read -r f; do printf '\n# changed in v2\n' >>"$f"; done
    touch "$dir/.complete"
  fi
  echo "$dir"
}

# A synthetic tree of 100k files (deterministic): small files mostly,
# some large, compressible and random data, symlinks, empty files.
synthetic_tree() {
  local dir="$CACHE/synthetic-100k"
  if [ ! -f "$dir/.complete" ]; then
    rm -rf "$dir"
    python3 "$bench_here/gen-tree.py" "$dir" 100000 >&2
    touch "$dir/.complete"
  fi
  echo "$dir"
}

# A scratch filesystem of its own for repos and checkouts: a loop-mounted
# ext4 image without online discard, so deleting the previous run's repo
# does not stall the next one's syncfs (the VM disk made timings swing 4x).
# Falls back to a plain directory where loop devices are unavailable.
BENCH_MNT=""
bench_scratch() {
  local img="$CACHE/scratch.img" mnt="$CACHE/scratch"
  mkdir -p "$mnt"
  if mountpoint -q "$mnt" || { truncate -s 16G "$img" && mkfs.ext4 -q -F -E nodiscard "$img" && as_root mount -o loop,nodiscard "$img" "$mnt"; } 2>/dev/null; then
    BENCH_MNT=$mnt
    mktemp -d "$mnt/run.XXXXXX"
  else
    echo "note: no loop device; using $CACHE directly (timings are noisier)" >&2
    mktemp -d "$CACHE/run.XXXXXX"
  fi
}

bench_cleanup() {
  rm -rf "$1"
  if [ -n "$BENCH_MNT" ]; then
    as_root umount "$BENCH_MNT" 2>/dev/null || true
  fi
}

# Before a timed step: flush everything and let the disk settle.
settle() {
  sync
  sleep 0.5
}

tree_stats() {
  printf '%s files, %s MiB' "$(find "$1" -type f | wc -l)" "$(du -sm --apparent-size "$1" | cut -f1)"
}

# Warm the page cache so neither tool pays cold reads.
warm() { tar -cf /dev/null "$1" 2>/dev/null || true; }

# Run a command under GNU time; prints "WALL_SECONDS MAX_RSS_KB" on fd 3.
# stdout of the command goes to $TIMED_OUT.
timed() {
  local tf
  tf=$(mktemp)
  /usr/bin/time -f '%e %M' -o "$tf" "$@" >"${TIMED_OUT:-/dev/null}"
  cat "$tf"
  rm -f "$tf"
}

# Median of numbers on stdin.
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
maxof() { sort -g | tail -1; }

RESULTS=()
FAILED=0

# record NAME TARGET_RATIO OSTREE_WALL UPTREE_WALL OSTREE_RSS_KB UPTREE_RSS_KB [RSS_TARGET]
record() {
  local name=$1 target=$2 ow=$3 uw=$4 orss=$5 urss=$6 rtarget=${7:-1.00}
  local wr rr verdict
  wr=$(awk -v a="$uw" -v b="$ow" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
  rr=$(awk -v a="$urss" -v b="$orss" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
  verdict=$(awk -v w="$wr" -v t="$target" -v r="$rr" -v rt="$rtarget" 'BEGIN {print ((w <= t && r <= rt) ? "PASS" : "MISS")}')
  RESULTS+=("$(printf '%-34s %8.2f %8.2f %6s (≤%s) %8.1f %8.1f %6s (≤%s)  %s' "$name" "$ow" "$uw" "$wr" "$target" "$((orss / 1024)).$(((orss % 1024) * 10 / 1024))" "$((urss / 1024)).$(((urss % 1024) * 10 / 1024))" "$rr" "$rtarget" "$verdict")")
}

print_results() {
  printf '\n%-34s %8s %8s %14s %8s %8s %14s\n' "case" "ostree s" "uptree s" "time ratio" "ostree MiB" "uptree MiB" "RSS ratio"
  printf '%s\n' "${RESULTS[@]}"
  if [ "$FAILED" -ne 0 ]; then
    echo "RESULT MISMATCH: see the messages above" >&2
    exit 1
  fi
}

# A free TCP port on 127.0.0.1.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# bench_nginx DIR ROOT: nginx on 127.0.0.1 serving ROOT over HTTPS (a
# throwaway CA in DIR/pki), and over plain HTTP too when HTTP_PORT is set;
# each response's body size goes to DIR/nginx/access.log (see bytes_since).
# Sets HTTPS_PORT, NGINX_PID, pki and ng; returns once nginx accepts.
bench_nginx() {
  ng=$1/nginx pki=$1/pki
  local root=$2 plain=""
  test_pki "$pki"
  HTTPS_PORT=$(port)
  [ -n "${HTTP_PORT:-}" ] && plain="server { listen 127.0.0.1:$HTTP_PORT; root $root; }"
  mkdir -p "$ng"
  cat >"$ng/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $ng/nginx.pid;
error_log $ng/error.log warn;
events { worker_connections 1024; }
http {
  log_format bytes '\$body_bytes_sent';
  access_log $ng/access.log bytes;
  client_body_temp_path $ng/body; proxy_temp_path $ng/proxy; fastcgi_temp_path $ng/fastcgi;
  uwsgi_temp_path $ng/uwsgi; scgi_temp_path $ng/scgi;
  default_type application/octet-stream;
  sendfile on;
  keepalive_requests 100000;
  $plain
  server { listen 127.0.0.1:$HTTPS_PORT ssl; ssl_certificate $pki/server.pem; ssl_certificate_key $pki/server.key; root $root; }
}
EOF
  nginx -p "$ng" -c "$ng/nginx.conf" &
  NGINX_PID=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$HTTPS_PORT") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nginx did not start (see $ng/error.log)" >&2
  return 1
}

# Lines in nginx's access log so far; bytes it sent since line N.
log_lines() { wc -l <"$ng/access.log"; }
bytes_since() { tail -n "+$(($1 + 1))" "$ng/access.log" | awk '{s += $1} END {print s + 0}'; }
