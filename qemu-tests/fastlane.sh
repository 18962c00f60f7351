#!/usr/bin/env bash
# Fast lane: boot Debian's arm64 kernel straight into uptree-init
# (QEMU -kernel/-initrd, no U-Boot) on a disk whose sysroot the real
# `uptree admin deploy` wrote, and check from inside the booted
# deployment what ostree-prepare-root would have set up; then the
# failure cases, each of which must end in a reboot (QEMU exits by
# itself: -no-reboot), never a hang — also when the storage stops
# answering before the reboot's sync.
#
#   qemu-tests/fastlane.sh
#
# Installs what it needs (apt packages, rustup targets, the kernel deb).
# Env: FASTLANE_DIR (work dir, kept), FASTLANE_OSTREE=0 (leave the real
# ostree out of the guest), FASTLANE_UPTREE=0 (no static uptree in the guest),
# FASTLANE_ARMHF=0 (skip the 32-bit boots: armmp kernel, armv7 uptree-init).
# Output: one "ok - …" / "FAIL - …" line per check, then "N passed, N failed".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
source "$root/.ci/lib.sh"
for f in build kernel initramfs sysroot qemu guestpkgs; do
  # shellcheck source=/dev/null
  source "$here/lib/$f.sh"
done

arch=arm64
os=testos
with_ostree=${FASTLANE_OSTREE:-1}
with_uptree=${FASTLANE_UPTREE:-1}
with_armhf=${FASTLANE_ARMHF:-1}
if [ -n "${FASTLANE_DIR:-}" ]; then
  work=$FASTLANE_DIR
  mkdir -p "$work"
else
  work=$(mktemp -d /var/tmp/uptree-fastlane.XXXXXX)
  cleanup() {
    local rc=$?
    for s in "$work"/sysroot*; do sysroot_remove "$s" || true; done
    rm -rf "$work" || true
    exit "$rc"
  }
  trap cleanup EXIT
fi
logs=$work/logs
mkdir -p "$logs"

step "packages, toolchains, kernel"
need_pkgs qemu-system-arm e2fsprogs fdisk python3 kmod dpkg-dev file
kdir=$(kernel_fetch "$arch")
kver=$(cat "$kdir/kver")
kernel=$kdir/vmlinuz
echo "kernel $kver"

step "building uptree (host), uptree-init (aarch64 musl, armv7 gnueabihf)"
(cd "$root" && cargo build --release --locked -q -p uptree --features generate)
uptree=$root/target/release/uptree
init_arm64=$(cross_build arm64 uptree-init)
init_armhf=$(cross_build armhf uptree-init)
size_arm64=$(stat -c %s "$init_arm64")
size_armhf=$(stat -c %s "$init_armhf")
is_static() { file -L "$1" | grep -q 'statically linked' && ! file -L "$1" | grep -q 'not stripped'; }
# shellcheck disable=SC2016 # expanded when check evaluates it
check "uptree-init aarch64: static, stripped, $size_arm64 bytes ($((size_arm64 / 1024)) KiB) <= 512 KiB" \
  eval '[ "$size_arm64" -le $((512 * 1024)) ] && is_static "$init_arm64"'
check "uptree-init armv7: static, stripped, $size_armhf bytes ($((size_armhf / 1024)) KiB)" is_static "$init_armhf"
guest_uptree=""
if [ "$with_uptree" = 1 ]; then
  guest_uptree=$(cross_build arm64 uptree)
  echo "static uptree for the guest: $(stat -c %s "$guest_uptree") bytes"
fi

step "initramfs ($kver): uptree-init + virtio/ext4/overlay modules"
initrd=$work/initrd.img
initramfs_build "$initrd" "$init_arm64" "$kdir" crc32c_generic ext4 virtio_mmio virtio_blk overlay

step "test OS trees: a good one, and one whose /sbin/init is missing"
add_boot_files() {
  mkdir -p "$1/usr/lib/modules/$kver"
  cp "$kernel" "$1/usr/lib/modules/$kver/vmlinuz"
  cp "$initrd" "$1/usr/lib/modules/$kver/initramfs.img"
}
"$here/testos.sh" 1.0 "$work/os-good" "$arch"
add_boot_files "$work/os-good"
[ -n "$guest_uptree" ] && install -m 0755 "$guest_uptree" "$work/os-good/usr/bin/uptree"
if [ "$with_ostree" = 1 ]; then
  guest_add_debs "$work/os-good" "$arch" ostree
fi
"$here/testos.sh" 0.9 "$work/os-broken" "$arch"
add_boot_files "$work/os-broken"
rm "$work/os-broken/usr/sbin/init"

step "sysroot written by uptree admin: broken deployment (rollback), good one (default)"
sysroot=$work/sysroot
sysroot_new "$sysroot" "$os"
sysroot_commit "$sysroot" "$os/broken" "$work/os-broken" 0.9 >/dev/null
sysroot_deploy "$sysroot" "$os" "$os/broken" root=/dev/vda rw
good=$(sysroot_commit "$sysroot" "$os/stable" "$work/os-good" 1.0)
sysroot_deploy "$sysroot" "$os" "$os/stable" root=/dev/vda rw
"$uptree" admin --sysroot="$sysroot" status
arg_good=$(sysroot_ostree_arg "$sysroot" 0)
arg_broken=$(sysroot_ostree_arg "$sysroot" 1)
dep_good=$(sysroot_deployment "$sysroot" 0)
bootdir=$(dirname "$arg_good")
echo "default:  ostree=$arg_good -> $dep_good"
echo "rollback: ostree=$arg_broken -> $(sysroot_deployment "$sysroot" 1)"
# Hostile boot links next to the real ones: an escape through '..' and an
# absolute target (which ostree's realpath would follow out of the sysroot).
linkdir=$(cd "$sysroot/${bootdir#/}" && pwd -P)
ln -s ../../../../../../../../../../../etc "$linkdir/8"
ln -s "/$dep_good" "$linkdir/9"

step "disk images (mkfs.ext4 -d, no loop mounts)"
sysroot_image "$sysroot" "$work/disk.img" 640 uptree-root
partuuid=$(sysroot_partitioned "$work/disk.img" "$work/disk-mbr.img")
# The hotfix overlay of `admin unlock --hotfix`, as it is left on disk.
chattr -i "$sysroot/$dep_good" 2>/dev/null || true
mkdir "$sysroot/$dep_good/.usr-ovl-upper" "$sysroot/$dep_good/.usr-ovl-work"
sysroot_image "$sysroot" "$work/disk-hotfix.img" 640 uptree-root
rmdir "$sysroot/$dep_good/.usr-ovl-upper" "$sysroot/$dep_good/.usr-ovl-work"
ls -ls "$work"/*.img

base="console=ttyAMA0 panic=-1 testos.poweroff"
boot() { # NAME DISK APPEND [EXPECT SEND]; sets $log for the checks
  local name=$1 disk=$2 append=$3
  log=$logs/$name.log
  qemu_direct "$arch" "$logs/$name.log" 90 "$kernel" "$initrd" "$disk" "$base $append" "${4:-}" "${5:-}"
  echo "# $name: QEMU exited with $QEMU_RC after $QEMU_MS ms"
}
has() { log_has "$log" "$1"; }
# uptree-init's lines with the kernel's printk output (six-decimal
# timestamps) taken out: the serial console may put a kernel message in
# the middle of a line uptree-init wrote (seen once, on a loaded machine).
has_init() { tr -d '\r' <"$log" | perl -0pe 's/\[ *[0-9]+\.[0-9]{6}\] [^\n]*\n?//g' | grep -qE -- "$1"; }
exited() { [ "$QEMU_RC" -eq 0 ]; }
mount_line() { tr -d '\r' <"$log" | grep -E "^UPTREE-TESTOS: mount $1 " | tail -1; }
failed_before=$CHECKS_FAILED
done_with() {
  [ "$CHECKS_FAILED" -gt "$failed_before" ] && note_failed_log "$log"
  failed_before=$CHECKS_FAILED
}

step "boot 1: the default deployment, root=/dev/vda"
boot good "$work/disk.img" "root=/dev/vda rw ostree=$arg_good testos_arg"
check "good: powered off by itself (no hang, rc=$QEMU_RC, ${QEMU_MS} ms wall)" exited
check "good: uptree-init handed over to /sbin/init" has 'uptree-init: handing over to /sbin/init after [0-9.]+ s'
check "good: the deployment's init ran as PID 1" has '^UPTREE-TESTOS: init-pid 1$'
check "good: booted version 1.0" has '^UPTREE-TESTOS: booted version=1\.0'
check "good: init got the kernel's argument (testos_arg)" has '^UPTREE-TESTOS: init-args testos_arg$'
check "good: / is the deployment" has "^UPTREE-TESTOS: mount / root=/$dep_good opts=rw"
check "good: /usr is the deployment's usr, read-only" has "^UPTREE-TESTOS: mount /usr root=/$dep_good/usr opts=ro,"
check "good: /usr not writable" has '^UPTREE-TESTOS: usr-writable no$'
check "good: /var is the stateroot's shared var (shared propagation)" \
  eval "mount_line /var | grep -qE 'root=/ostree/deploy/$os/var opts=rw[^ ]* propagation=shared:'"
check "good: /sysroot is the physical root with the repo" \
  eval "has '^UPTREE-TESTOS: mount /sysroot root=/ opts=rw' && has '^UPTREE-TESTOS: sysroot-has-repo yes$'"
check "good: /boot is the sysroot's boot (ostree layout)" has '^UPTREE-TESTOS: mount /boot root=/boot '
check "good: /etc writable" has '^UPTREE-TESTOS: etc-writable yes$'
check "good: /run/ostree-booted written (136-byte a{sv})" has '^UPTREE-TESTOS: ostree-booted present 136 bytes$'
check "good: the initramfs was freed at the switch" has 'uptree-init: switched root to /sysroot.tmp \(freed the initramfs: [0-9]+ entries'
if [ -n "$guest_uptree" ]; then
  check "good: uptree admin status --json in the guest: deployment $good.0 booted" \
    python3 - "$log" "$good" <<'PY'
import json, sys
line = next(l for l in open(sys.argv[1], errors="replace") if l.startswith("UPTREE-TESTOS: uptree-status-json "))
st = json.loads(line.split(" ", 2)[2])
booted = [d for d in st["deployments"] if d["booted"]]
sys.exit(0 if len(booted) == 1 and booted[0]["checksum"] == sys.argv[2] and booted[0]["index"] == 0 else 1)
PY
fi
if [ "$with_ostree" = 1 ]; then
  check "good: real ostree admin status in the guest marks the booted deployment" \
    has "^UPTREE-TESTOS: ostree-status \* $os $good\.0"
fi
init_s=$(tr -d '\r' <"$log" | sed -n 's/.*handing over to \/sbin\/init after \([0-9.]*\) s.*/\1/p' | tail -1)
started=$(tr -d '\r' <"$log" | sed -n 's/^UPTREE-TESTOS: boot-time init_started_s=//p')
echo "# boot time: kernel start -> /init ${started:-?} s, /init -> exec of /sbin/init ${init_s:-?} s, QEMU wall ${QEMU_MS} ms"
done_with

step "boot 2: root=LABEL= (superblock label, no udev)"
boot label "$work/disk.img" "root=LABEL=uptree-root rw ostree=$arg_good"
check "label: found /dev/vda by superblock label and booted" \
  eval "has_init 'found root device LABEL=uptree-root: /dev/vda \(superblock label\)' && has '^UPTREE-TESTOS: booted version=1\.0' && exited"
done_with

step "boot 3: root=PARTUUID= on an MBR disk (partition table, no udev)"
boot partuuid "$work/disk-mbr.img" "root=PARTUUID=$partuuid rw ostree=$arg_good"
check "partuuid: found /dev/vda1 by PARTUUID=$partuuid and booted" \
  eval "has 'found root device PARTUUID=$partuuid: /dev/vda1 \(partition table\)' && has '^UPTREE-TESTOS: booted version=1\.0' && exited"
done_with

step "boot 4: hotfix overlay on /usr (.usr-ovl-work in the deployment)"
boot hotfix "$work/disk-hotfix.img" "root=/dev/vda rw ostree=$arg_good"
check "hotfix: /usr is the overlay, writable" \
  eval "mount_line /usr | grep -q 'fs=overlay overlay rw,.*upperdir=/sysroot/$dep_good/.usr-ovl-upper' && has '^UPTREE-TESTOS: usr-writable yes$' && exited"
done_with

fails_cleanly() { # LOG-REGEX: the failure line, then a reboot, and QEMU ended by itself
  has "uptree-init: FAILED: $1" && has 'uptree-init: rebooting in [0-9.]+ s' && has 'reboot: Restarting system' &&
    ! has 'Kernel panic' && ! has '^UPTREE-TESTOS: booted' && exited
}

step "boot 5: missing root device"
boot noroot "$work/disk.img" "root=/dev/vdb rw uptree.roottimeout=2 ostree=$arg_good"
check "missing root: 'root device /dev/vdb did not appear', lists vda, reboots (${QEMU_MS} ms)" \
  fails_cleanly 'root device /dev/vdb did not appear within 2\.[0-9]+ s; block devices: vda \(254:0'
done_with

step "boot 6: ostree= pointing nowhere"
boot nowhere "$work/disk.img" "root=/dev/vda rw ostree=$bootdir/7"
check "ostree= nowhere: 'does not exist in the sysroot', reboots" fails_cleanly "ostree=$bootdir/7: .*/7 does not exist in the sysroot"
done_with

step "boot 7: hostile ostree= links"
boot escape "$work/disk.img" "root=/dev/vda rw ostree=$bootdir/8"
check "ostree= escaping with '..': refused, reboots" fails_cleanly "ostree=$bootdir/8: [^ ]*/8 -> (\.\./)+etc leads outside the sysroot"
done_with
boot absolute "$work/disk.img" "root=/dev/vda rw ostree=$bootdir/9"
check "ostree= with an absolute link: refused, reboots" fails_cleanly "ostree=$bootdir/9: .* is an absolute symlink"
done_with

step "boot 8: a deployment whose init is missing"
boot noinit "$work/disk.img" "root=/dev/vda rw ostree=$arg_broken"
check "missing init: 'init /sbin/init of deployment …: /usr/sbin/init does not exist', reboots" \
  fails_cleanly "init /sbin/init of deployment /ostree/deploy/$os/deploy/[0-9a-f]{64}\.0: /usr/sbin/init does not exist"
done_with

step "boot 9: the same with uptree.emergency: the deployment's shell, then a reboot"
# shellcheck disable=SC2016 # the command is typed into the guest's shell, which expands it
boot emergency "$work/disk.img" "root=/dev/vda rw ostree=$arg_broken uptree.emergency" \
  'uptree.emergency: starting /bin/sh' 'echo EMERGENCY-SHELL-$((6*7)); exit'
check "emergency: the shell ran commands, exited, the board rebooted" \
  eval "has 'uptree.emergency: starting /bin/sh \(in /sysroot.tmp\)' && has '^EMERGENCY-SHELL-42' && has 'emergency shell exited with status 0' && has 'reboot: Restarting system' && exited"
done_with

step "boot 10: wedged storage: the sync before the reboot never finishes, the board reboots anyway"
# Writes crawl at 256 KiB/s (reads are not throttled): the boot's few
# metadata writes pass, but the 64 MiB the emergency shell leaves dirty
# would take minutes to flush, far past the init's 10 s bound on its sync.
# shellcheck disable=SC2016 # the command is typed into the guest's shell, which expands it
QEMU_DRIVE_OPTS=throttling.bps-write=262144 boot wedged "$work/disk.img" "root=/dev/vda rw ostree=$arg_broken uptree.emergency uptree.rebootdelay=0" \
  'uptree.emergency: starting /bin/sh' '/usr/bin/busybox dd if=/dev/zero of=/var/wedged bs=1M count=64 2>/dev/null && echo WEDGE-WRITTEN-$((6*7)); exit'
check "wedged sync: 64 MiB left dirty, sync given up after 10 s, the board rebooted (${QEMU_MS} ms)" \
  eval "has '^WEDGE-WRITTEN-42' && has 'uptree-init: sync did not finish within 10 s' && has 'reboot: Restarting system' && ! has 'Kernel panic' && exited"
done_with

if [ "$with_armhf" = 1 ]; then
  step "armv7: Debian's armmp kernel, the armv7 uptree-init, a 32-bit test OS"
  arch=armhf
  kdir32=$(kernel_fetch armhf)
  kver32=$(cat "$kdir32/kver")
  kernel=$kdir32/vmlinuz
  initrd=$work/initrd-armhf.img
  initramfs_build "$initrd" "$init_armhf" "$kdir32" crc32c_generic ext4 virtio_mmio virtio_blk
  "$here/testos.sh" 1.0 "$work/os-armhf" armhf
  mkdir -p "$work/os-armhf/usr/lib/modules/$kver32"
  cp "$kernel" "$work/os-armhf/usr/lib/modules/$kver32/vmlinuz"
  cp "$initrd" "$work/os-armhf/usr/lib/modules/$kver32/initramfs.img"
  sysroot32=$work/sysroot-armhf
  sysroot_new "$sysroot32" "$os"
  good32=$(sysroot_commit "$sysroot32" "$os/armhf" "$work/os-armhf" 1.0)
  sysroot_deploy "$sysroot32" "$os" "$os/armhf" root=/dev/vda rw >/dev/null
  arg32=$(sysroot_ostree_arg "$sysroot32" 0)
  sysroot_image "$sysroot32" "$work/disk-armhf.img" 256 uptree-root
  boot armhf-good "$work/disk-armhf.img" "root=LABEL=uptree-root rw ostree=$arg32"
  check "armhf: powered off by itself (rc=$QEMU_RC, ${QEMU_MS} ms wall)" exited
  check "armhf: handed over to /sbin/init; / is deployment $good32.0, /usr read-only, /var shared" \
    eval "has 'uptree-init: handing over to /sbin/init after' && has '^UPTREE-TESTOS: mount / root=/ostree/deploy/$os/deploy/$good32\.0 ' &&
      mount_line /usr | grep -q 'opts=ro,' && mount_line /var | grep -q 'propagation=shared:' && has '^UPTREE-TESTOS: ostree-booted present 136 bytes$'"
  init32=$(tr -d '\r' <"$log" | sed -n 's/.*handing over to \/sbin\/init after \([0-9.]*\) s.*/\1/p' | tail -1)
  echo "# armhf boot time: /init -> exec of /sbin/init ${init32:-?} s, QEMU wall ${QEMU_MS} ms"
  done_with
  boot armhf-noroot "$work/disk-armhf.img" "root=PARTUUID=00000000-01 rw uptree.roottimeout=2 uptree.rebootdelay=0 ostree=$arg32"
  check "armhf: missing root device reboots" fails_cleanly 'root device PARTUUID=00000000-01 did not appear within 2\.[0-9]+ s'
  done_with
fi

echo
checks_summary
