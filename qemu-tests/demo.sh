#!/usr/bin/env bash
# README's first command: the main job of uptree on an embedded default
# (aarch64 test OS). Today it covers the repository half: a build server
# commits v1 and v2 of the OS with uptree, real ostree reads and verifies
# what uptree wrote, and a device-style bare-user repo checks v2 out.
# Serving over HTTPS, pulling, deploying and booting under QEMU come with
# their issues; the script says so instead of pretending.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
source "$root/.ci/lib.sh"

need_pkgs ostree
step "building uptree (release profile)"
(cd "$root" && cargo build --release --locked -p uptree)
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

step "device side: check v2 out of the repository with uptree"
rm -rf "$work/checkout"
"$uptree" --repo="$repo" checkout "$ref" "$work/checkout"
cat "$work/checkout/usr/lib/os-release"
"$uptree" --repo="$repo" fsck

step "not yet available: HTTPS serving, pull, deploy into a sysroot, U-Boot boot under QEMU (issues 3-6)"
echo "demo finished: repository stage OK"
