#!/usr/bin/env bash
# Build the small test OS tree that demos and boot tests commit:
#   testos.sh VERSION OUTDIR [ARCH]
# busybox-static for ARCH (Debian package), an init that reports its
# state on the console, os-release, and config under usr/etc (the OSTree
# layout: /etc is populated from usr/etc at deploy time).
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
      as_root apt-get update -qq
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
for applet in sh ash cat ls mount umount mkdir echo sleep sync reboot poweroff dmesg uname grep sed head tail wc stat ln rm cp mv df; do
  ln -s busybox "$out/usr/bin/$applet"
done
ln -s usr/bin "$out/bin"
ln -s usr/sbin "$out/sbin"
ln -s usr/lib "$out/lib"

cat >"$out/usr/sbin/init" <<INIT
#!/bin/sh
# Test OS init: report state on the console, then stay up.
export PATH=/usr/bin:/usr/sbin
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
echo "UPTREE-TESTOS: booted version=$version"
exec sh
INIT
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
