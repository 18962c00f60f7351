#!/usr/bin/env bash
# Build the small test OS tree that demos and boot tests commit:
#   testos.sh VERSION OUTDIR [ARCH]
# busybox-static for ARCH (Debian package), an init that reports its
# state on the console, os-release, and config under usr/etc (the OSTree
# layout: /etc is populated from usr/etc at deploy time), and the
# `ostree -> sysroot/ostree` link every OSTree OS tree carries.
#
# /usr/bin/testos-report prints what a booted deployment looks like (its
# mounts, /etc writability, /run/ostree-booted, `uptree admin status
# --json` if /usr/bin/uptree exists, `ostree admin status` if ostree
# does) between UPTREE-TESTOS-REPORT-BEGIN/END markers. The init runs it;
# with `testos.poweroff` on the kernel command line it then powers off
# (QEMU exits: the fast lane), otherwise it stays up with a shell.
# Executables in /usr/lib/testos.d/ run first (board setup from a layer).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../.ci/lib.sh"

version=${1:?version}
out=${2:?output dir}
arch=${3:-arm64}
cache=${UPTREE_CACHE:-/var/tmp/uptree-cache}

fetch_busybox() {
  local deb_dir="$cache/debs/$arch"
  if ! ls "$deb_dir"/busybox-static_*_"$arch".deb >/dev/null 2>&1; then
    if [ "$arch" != "$(dpkg --print-architecture)" ] && ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
      as_root dpkg --add-architecture "$arch"
      apt_update
    fi
    mkdir -p "$deb_dir"
    (cd "$deb_dir" && apt-get download -qq "busybox-static:$arch")
  fi
  ls "$deb_dir"/busybox-static_*_"$arch".deb
}

deb=$(fetch_busybox)
rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$deb" "$work"

install -d -m 0755 "$out"/usr/bin "$out"/usr/sbin "$out"/usr/lib "$out"/usr/etc "$out"/usr/share/testos
install -m 0755 "$work/bin/busybox" "$out/usr/bin/busybox"
for applet in sh ash cat ls mount umount mkdir echo sleep sync reboot poweroff dmesg uname grep sed head tail wc stat ln rm cp mv df touch tr; do
  ln -s busybox "$out/usr/bin/$applet"
done
ln -s usr/bin "$out/bin"
ln -s usr/sbin "$out/sbin"
ln -s usr/lib "$out/lib"
ln -s sysroot/ostree "$out/ostree"

cat >"$out/usr/sbin/init" <<INIT
#!/bin/sh
# Test OS init: report state on the console, then stay up (or power off
# with testos.poweroff on the kernel command line).
export PATH=/usr/bin:/usr/sbin
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
# Board or scenario setup layered in by a test (mounts, network), in name order.
for hook in /usr/lib/testos.d/*; do
  [ -x "\$hook" ] && "\$hook"
done
echo "UPTREE-TESTOS: booted version=$version"
echo "UPTREE-TESTOS: init-pid \$\$"
testos-report "\$@"
case " \$(cat /proc/cmdline) " in
  *" testos.poweroff "*) sync; poweroff -f ;;
esac
exec sh
INIT
cat >"$out/usr/bin/testos-report" <<'REPORT'
#!/bin/sh
# What the booted deployment looks like, one "UPTREE-TESTOS: key value"
# line each, between markers.
echo "UPTREE-TESTOS-REPORT-BEGIN"
echo "UPTREE-TESTOS: init-args $*"
# mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
while read -r _id _parent _dev root mp opts rest; do
  case $rest in
    "- "*) prop="" fs=${rest#- } ;;
    *) prop=${rest%% - *} fs=${rest#* - } ;;
  esac
  case $mp in
    /|/usr|/var|/etc|/boot|/sysroot) echo "UPTREE-TESTOS: mount $mp root=$root opts=$opts propagation=${prop:-private} fs=$fs" ;;
  esac
done </proc/self/mountinfo
if touch /etc/.testos-probe 2>/dev/null; then rm -f /etc/.testos-probe; echo "UPTREE-TESTOS: etc-writable yes"; else echo "UPTREE-TESTOS: etc-writable no"; fi
if touch /usr/.testos-probe 2>/dev/null; then rm -f /usr/.testos-probe; echo "UPTREE-TESTOS: usr-writable yes"; else echo "UPTREE-TESTOS: usr-writable no"; fi
if [ -d /sysroot/ostree/repo ]; then echo "UPTREE-TESTOS: sysroot-has-repo yes"; else echo "UPTREE-TESTOS: sysroot-has-repo no"; fi
if [ -e /run/ostree-booted ]; then echo "UPTREE-TESTOS: ostree-booted present $(wc -c </run/ostree-booted) bytes"; else echo "UPTREE-TESTOS: ostree-booted absent"; fi
[ -f /run/uptree-init/boot-times ] && while read -r l; do echo "UPTREE-TESTOS: boot-time $l"; done </run/uptree-init/boot-times
if [ -x /usr/bin/uptree ]; then
  echo "UPTREE-TESTOS: uptree-status-json $(uptree admin status --json 2>&1 | tr -d '\n')"
fi
if command -v ostree >/dev/null 2>&1; then
  ostree admin status 2>&1 | while read -r l; do echo "UPTREE-TESTOS: ostree-status $l"; done
fi
echo "UPTREE-TESTOS-REPORT-END"
REPORT
chmod 0755 "$out/usr/bin/testos-report"
chmod 0755 "$out/usr/sbin/init"

cat >"$out/usr/lib/os-release" <<OSR
ID=uptree-testos
NAME="uptree test OS"
VERSION_ID=$version
PRETTY_NAME="uptree test OS $version"
OSR
ln -s ../usr/lib/os-release "$out/usr/etc/os-release"
echo "testos" >"$out/usr/etc/hostname"
printf 'channel=stable\nversion=%s\n' "$version" >"$out/usr/etc/testos.conf"
printf 'This is release %s of the test OS.\n' "$version" >"$out/usr/share/testos/release-notes"
for d in dev proc sys run tmp var sysroot boot; do install -d -m 0755 "$out/$d"; done
chmod 1777 "$out/tmp"
