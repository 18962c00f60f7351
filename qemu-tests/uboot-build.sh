#!/usr/bin/env bash
# Build U-Boot for a board in board-configs/ from Debian's u-boot source
# package with the board's generated config fragment (boot counting,
# environment in uboot.env on the FAT partition) — what a Yocto BSP does.
# The prebuilt u-boot-qemu cannot count boots or save its environment.
#
#   uboot-build.sh BOARD        prints the path of u-boot.bin
#
# Cached under $UPTREE_CACHE/u-boot/BOARD-<hash of source + fragment>.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
source "$root/.ci/lib.sh"

board=${1:?board}
conf=$root/board-configs/$board
[ -f "$conf/board.conf" ] || { echo "no board $board" >&2; exit 2; }
cache=${UPTREE_CACHE:-/var/tmp/uptree-cache}
src_cache=$cache/u-boot-src

val() { python3 "$root/board-configs/generate.py" --get "$board" "$1"; }
defconfig=$(val defconfig)
cross=$(val cross_compile)
case $cross in
  aarch64-linux-gnu-) need_pkgs gcc-aarch64-linux-gnu >&2 ;;
  arm-linux-gnueabihf-) need_pkgs gcc-arm-linux-gnueabihf >&2 ;;
esac
need_pkgs make bison flex libssl-dev libgnutls28-dev bc device-tree-compiler python3-dev swig dpkg-dev xz-utils >&2

# Debian's source package (the upstream tarball; Debian's patches only
# touch packaging and boards we do not build).
orig=$(ls "$src_cache"/u-boot_*.orig.tar.xz 2>/dev/null | head -1 || true)
if [ -z "$orig" ]; then
  list=/etc/apt/sources.list.d/uptree-deb-src.sources
  if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list 2>/dev/null; then
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
      as_root tee "$list" >/dev/null
    apt_update
  fi
  mkdir -p "$src_cache"
  (cd "$src_cache" && apt-get source --download-only -qq u-boot >&2)
  orig=$(ls "$src_cache"/u-boot_*.orig.tar.xz | head -1)
fi

key=$( (basename "$orig"; cat "$conf/uboot.config" "$0") | sha256sum | cut -c1-16)
out=$cache/u-boot/$board-$key
if [ ! -f "$out/u-boot.bin" ]; then
  build=$(mktemp -d "$cache/u-boot-build.XXXXXX")
  trap 'rm -rf "$build"' EXIT
  tar -xf "$orig" -C "$build" --strip-components=1
  (
    cd "$build"
    export CROSS_COMPILE=$cross
    make -s "$defconfig" >&2
    # Verbatim: "# CONFIG_X is not set" lines switch options off.
    cat "$conf/uboot.config" >>.config
    make -s olddefconfig >&2
    # Every option of the fragment must have survived olddefconfig.
    while IFS= read -r line; do
      case $line in
        "# CONFIG_"*" is not set")
          opt=${line#\# }; opt=${opt%% *}
          if grep -q "^$opt=" .config; then echo "u-boot: $opt is still set (selected by the board?)" >&2; exit 1; fi ;;
        \#*|"") continue ;;
        *) grep -qxF "$line" .config || { echo "u-boot: $line did not take (dependency missing?)" >&2; exit 1; } ;;
      esac
    done <"$conf/uboot.config"
    make -s -j"$(nproc)" >&2
    make -s u-boot-initial-env >&2
  )
  mkdir -p "$out.tmp"
  cp "$build/u-boot.bin" "$build/u-boot-initial-env" "$build/.config" "$out.tmp/"
  rm -rf "$out"
  mv "$out.tmp" "$out"
fi
echo "$out/u-boot.bin"
