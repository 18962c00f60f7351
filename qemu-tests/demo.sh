#!/usr/bin/env bash
# README's first command: the main job of uptree on an embedded default
# (aarch64, QEMU virt). A build server commits v1 and v2 of the OS with
# uptree, real ostree verifies what uptree wrote, nginx serves it over HTTPS
# on 127.0.0.1 and a host repo pulls it; then the board: its disk image is
# built with real uptree commands, it boots v1 through U-Boot and
# uptree-init, updates itself to v2 over HTTPS, reboots into v2, and shows
# `uptree admin status` before and after.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
source "$root/.ci/lib.sh"

need_pkgs ostree nginx-light openssl
step "building uptree (release profile)"
(cd "$root" && cargo build --release --locked -p uptree --features generate)
uptree="$root/target/release/uptree"
work=${DEMO_DIR:-$(mktemp -d /var/tmp/uptree-demo.XXXXXX)}
mkdir -p "$work"
echo "working in $work"

step "building test OS v1 and v2 (aarch64 busybox)"
"$here/testos.sh" 1.0 "$work/os-v1" arm64
"$here/testos.sh" 2.0 "$work/os-v2" arm64
echo "feature from v2" >"$work/os-v2/usr/share/testos/new-feature"

step "build server: commit both versions with uptree"
repo="$work/server-repo"
rm -rf "$repo"
"$uptree" --repo="$repo" init --mode=archive
ref=testos/aarch64/stable
for v in 1.0 2.0; do
  "$uptree" --repo="$repo" commit -b "$ref" -s "test OS $v" --add-metadata-string=version=$v "$work/os-v${v%%.*}" >/dev/null
done
"$uptree" --repo="$repo" log "$ref"

step "real ostree reads and verifies the repository uptree wrote"
ostree --repo="$repo" log "$ref" | grep -E '^(commit|Version)'
ostree --repo="$repo" fsck

step "serve the repository over HTTPS on 127.0.0.1 (nginx, demo CA)"
"$uptree" --repo="$repo" summary -u
pki="$work/pki"
test_pki "$pki"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
daemon off; master_process off; worker_processes 1;
pid $work/nginx/nginx.pid; error_log $work/nginx/error.log warn;
events { worker_connections 256; }
http {
  access_log off; default_type application/octet-stream;
  client_body_temp_path $work/nginx/b; proxy_temp_path $work/nginx/p; fastcgi_temp_path $work/nginx/f;
  uwsgi_temp_path $work/nginx/u; scgi_temp_path $work/nginx/s;
  server { listen 127.0.0.1:$port ssl; ssl_certificate $pki/server.pem; ssl_certificate_key $pki/server.key; root $repo; }
}
EOF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
trap 'kill $nginx_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
echo "serving https://127.0.0.1:$port"

step "device: pull v1, then the update to v2, over HTTPS"
device="$work/device-repo"
rm -rf "$device"
"$uptree" --repo="$device" init --mode=bare-user
"$uptree" --repo="$device" remote add --no-gpg-verify --set=tls-ca-path="$pki/ca.pem" origin "https://127.0.0.1:$port"
"$uptree" --repo="$device" remote refs origin
"$uptree" --repo="$device" pull origin "$("$uptree" --repo="$repo" rev-parse "$ref^")"
"$uptree" --repo="$device" pull origin "$ref"
"$uptree" --repo="$device" log "origin:$ref" | grep -E '^(commit|Version)'
ostree --repo="$device" fsck | tail -1
rm -rf "$work/checkout"
"$uptree" --repo="$device" checkout -U "origin:$ref" "$work/checkout"
cat "$work/checkout/usr/lib/os-release"

kill $nginx_pid 2>/dev/null || true

step "the board: build its image and boot it under QEMU through U-Boot, then update v1 -> v2 over HTTPS"
# Builds U-Boot (Debian source + board fragment), the static uptree and
# uptree-init for aarch64, the kernel (Debian), the disk image with real
# uptree admin commands, serves the OS over HTTPS on 127.0.0.1, and drives
# the board's console.
python3 "$here/uboot-lane.py" --board qemu-arm64 --demo
echo
echo "demo finished: build, serve, pull, deploy, boot, update, reboot"
