#!/usr/bin/env bash
# Build a bootable disk image for a board from an OSTree commit, without
# loop mounts or privileges beyond what uptree's own commands need. The
# steps are yocto-layer/scripts/uptree-image.sh's `sysroot` and `disk`:
# the same script the Yocto image class runs; this adds the host builds
# (uptree, the board's U-Boot for its default environment).
#
#   build-image.sh --board B --repo SRC --ref REF --out DISK
#                  [--remote NAME=URL [--remote-set K=V]...] [--os OS]
#                  [--uptree PATH] [--root-mib N]
#
# SRC holds the OS commit; its tree carries the kernel and initramfs at
# usr/lib/modules/KVER/{vmlinuz,initramfs.img} (as ostree expects).
# With --remote, the device repo gets that remote and the deployment's
# origin is NAME:REF, so `uptree admin upgrade` on the device pulls from it.
#
# The disk (MBR): p1 FAT (bootable, 64 MiB): boot.scr from the board's
# template, uboot.env (U-Boot's default environment + the board's
# variables), and for the FAT layout the loader.N slots with kernels;
# p2 ext4: the sysroot (ostree layout: /boot inside it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../.ci/lib.sh
source "$root/.ci/lib.sh"

board="" src="" ref="" out="" remote="" os=testos up="" root_mib=768
sets=()
while [ $# -gt 0 ]; do
  case $1 in
    --board) board=$2; shift 2 ;;
    --repo) src=$2; shift 2 ;;
    --ref) ref=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --remote) remote=$2; shift 2 ;;
    --remote-set) sets+=("$2"); shift 2 ;;
    --os) os=$2; shift 2 ;;
    --uptree) up=$2; shift 2 ;;
    --root-mib) root_mib=$2; shift 2 ;;
    *) echo "build-image.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$board" ] || [ -z "$src" ] || [ -z "$ref" ] || [ -z "$out" ]; then
  sed -n '8,10p' "$0" >&2
  exit 2
fi
need_pkgs dosfstools mtools fdisk e2fsprogs u-boot-tools >&2
image=$root/yocto-layer/scripts/uptree-image.sh
if [ -z "$up" ]; then
  (cd "$root" && cargo build --release --locked -q -p uptree --features generate) >&2
  up=$root/target/release/uptree
fi
uboot_dir=$(dirname "$("$here/uboot-build.sh" "$board")")

work=$(mktemp -d "$(dirname "$out")/.build-image.XXXXXX")
cleanup() {
  find "$work" -maxdepth 8 -path '*/ostree/deploy/*/deploy/*' -prune -exec chattr -i {} + 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The same two steps uptree-image.bbclass runs (yocto-layer/scripts):
# the sysroot and boot files, then one disk from them.
remote_args=()
[ -z "$remote" ] || remote_args=(--remote "$remote")
for s in "${sets[@]}"; do remote_args+=(--remote-set "$s"); done
"$image" sysroot --board "$board" --repo "$src" --ref "$ref" --out "$work/parts" --os "$os" \
  --default-env "$uboot_dir/u-boot-initial-env" --uptree "$up" "${remote_args[@]}"
"$image" disk "$work/parts" "$out" --root-mib "$root_mib"
echo "$out"
