#!/usr/bin/env bash
# Build a bootable disk image for a board from an OSTree commit, without
# loop mounts or privileges beyond what uptree's own commands need. The
# deployment steps are real uptree commands — the same path the Yocto
# image class takes.
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
# variables) and on a redundant board uboot-redund.env (its second copy),
# and for the FAT layout the loader.N slots with kernels;
# p2 ext4: the sysroot (ostree layout: /boot inside it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
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
    --remote-set) sets+=("--set=$2"); shift 2 ;;
    --os) os=$2; shift 2 ;;
    --uptree) up=$2; shift 2 ;;
    --root-mib) root_mib=$2; shift 2 ;;
    *) echo "build-image.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$board" ] && [ -n "$src" ] && [ -n "$ref" ] && [ -n "$out" ] || { sed -n '6,9p' "$0" >&2; exit 2; }
need_pkgs dosfstools mtools fdisk e2fsprogs u-boot-tools >&2
gen() { python3 "$root/board-configs/generate.py" "$@"; }
layout=$(gen --get "$board" layout)
if [ -z "$up" ]; then
  (cd "$root" && cargo build --release --locked -q -p uptree) >&2
  up=$root/target/release/uptree
fi
uboot_dir=$(dirname "$("$here/uboot-build.sh" "$board")")

work=$(mktemp -d "$(dirname "$out")/.build-image.XXXXXX")
cleanup() {
  find "$work" -maxdepth 7 -path '*/ostree/deploy/*/deploy/*' -prune -exec chattr -i {} + 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
s=$work/sysroot

# The sysroot, filled by uptree as on a device.
mkdir -p "$s"
"$up" admin init-fs "$s" >/dev/null
"$up" admin --sysroot="$s" os-init "$os" >/dev/null
repo=$s/ostree/repo
[ "$layout" = fat ] && "$up" --repo="$repo" config set uptree.boot-layout fat
refspec=$ref
if [ -n "$remote" ]; then
  "$up" --repo="$repo" remote add --no-gpg-verify "${sets[@]}" "${remote%%=*}" "${remote#*=}"
  "$up" --repo="$repo" pull-local --remote="${remote%%=*}" "$src" "$ref" >/dev/null
  refspec=${remote%%=*}:$ref
else
  "$up" --repo="$repo" pull-local "$src" "$ref" >/dev/null
fi
kargs=()
for k in $(gen --get "$board" kargs); do kargs+=("--karg=$k"); done
"$up" admin --sysroot="$s" deploy --os="$os" "${kargs[@]}" "$refspec" >&2

# p1: FAT boot partition.
fat=$work/fat.img
mkfs.vfat -n UPTREE-BOOT -C "$fat" $((64 * 1024)) >/dev/null
gen --mkimage "$work/scr" "$board" >/dev/null
mcopy -i "$fat" "$work/scr/$board/boot.scr" ::/boot.scr
mkdir "$work/env"
# uboot.env, and uboot-redund.env for a redundant environment.
gen --env-image "$work/env/uboot.env" --board "$board" --default-env "$uboot_dir/u-boot-initial-env" >/dev/null
for f in "$work"/env/*; do mcopy -i "$fat" "$f" "::/$(basename "$f")"; done
if [ "$layout" = fat ]; then
  # The slots hold plain files only (no symlinks on FAT).
  for d in "$s"/boot/*; do mcopy -s -i "$fat" "$d" ::/; done
  rm -rf "${s:?}"/boot/*
fi

# p2: the sysroot as ext4 (hardlinks, xattrs and owners kept by mke2fs -d).
rootimg=$work/root.img
mkfs.ext4 -q -F -L uptree-root -E nodiscard -d "$s" "$rootimg" "${root_mib}M"

# MBR: 1 MiB gap, p1 FAT (type c, bootable), p2 Linux.
fat_sectors=$(( $(stat -c %s "$fat") / 512 ))
root_sectors=$(( $(stat -c %s "$rootimg") / 512 ))
p2=$((2048 + fat_sectors))
rm -f "$out"
truncate -s $(( (p2 + root_sectors) * 512 )) "$out"
printf 'label: dos\nlabel-id: 0x75707472\n2048,%d,c,*\n%d,%d,83\n' "$fat_sectors" "$p2" "$root_sectors" | sfdisk -q "$out"
dd if="$fat" of="$out" bs=512 seek=2048 conv=notrunc,sparse status=none
dd if="$rootimg" of="$out" bs=512 seek="$p2" conv=notrunc,sparse status=none
echo "$out"
