# shellcheck shell=bash
# Debian kernels for the QEMU lanes (sourced; needs .ci/lib.sh).
#
#   kernel_fetch ARCH      ARCH = arm64 | armhf; prints the directory that holds
#                          vmlinuz, kver and lib/modules/KVER (with depmod output)
#
# The current linux-image-<abi>-<flavour> is named by the metapackage
# (apt-cache depends linux-image-arm64:arm64). The unpacked, depmod'ed tree
# is cached under $UPTREE_CACHE/kernel/<package>/, so a second run is free.

kernel_flavour() {
  case $1 in
    arm64) echo arm64 ;;
    armhf) echo armmp ;;
    *) echo "kernel_flavour: unknown arch $1" >&2; return 2 ;;
  esac
}

kernel_fetch() {
  local arch=$1 cache=${UPTREE_CACHE:-/var/tmp/uptree-cache}
  local flavour meta pkg dir deb work kver
  flavour=$(kernel_flavour "$arch")
  need_pkgs kmod dpkg-dev >&2
  if ! dpkg --print-foreign-architectures | grep -qx "$arch" && [ "$(dpkg --print-architecture)" != "$arch" ]; then
    as_root dpkg --add-architecture "$arch"
    apt_update
  fi
  meta="linux-image-$flavour:$arch"
  pkg=$(apt-cache depends "$meta" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^:]*\).*/\1/p' | head -1)
  if [ -z "$pkg" ]; then
    apt_update
    pkg=$(apt-cache depends "$meta" | sed -n 's/^ *Depends: \(linux-image-[^:]*\).*/\1/p' | head -1)
  fi
  [ -n "$pkg" ] || { echo "kernel_fetch: apt knows no $meta" >&2; return 1; }
  dir=$cache/kernel/$pkg
  if [ ! -f "$dir/kver" ]; then
    work=$(mktemp -d "$cache/kernel-fetch.XXXXXX")
    (cd "$work" && apt-get download -qq -o APT::Sandbox::User=root "$pkg:$arch" >&2)
    deb=$(ls "$work"/*.deb)
    dpkg-deb -x "$deb" "$work/x"
    kver=$(ls "$work/x/lib/modules")
    # The debs ship no modules.dep: generate it (and modules.alias etc.).
    depmod -b "$work/x" "$kver"
    mkdir -p "$work/out"
    mv "$work/x/lib" "$work/out/lib"
    cp "$work/x/boot/vmlinuz-$kver" "$work/out/vmlinuz"
    echo "$kver" >"$work/out/kver"
    rm -rf "$dir"
    mkdir -p "$(dirname "$dir")"
    mv "$work/out" "$dir"
    rm -rf "$work"
  fi
  echo "$dir"
}
