# shellcheck shell=bash
# Cross builds for the boards (sourced; needs .ci/lib.sh and $root = repo top).
#
#   cross_target ARCH             arm64 → aarch64-unknown-linux-musl,
#                                 armhf → armv7-unknown-linux-gnueabihf
#   cross_build ARCH PACKAGE [FEATURES]
#                                 static release build; prints the binary's path.
#                                 With FEATURES (e.g. failpoints) it is built
#                                 into a target dir of its own, so switching
#                                 between the two builds never relinks either.
#
# Target settings go through cargo's per-target environment variables
# (CARGO_TARGET_<TRIPLE>_LINKER / _RUSTFLAGS), so host builds in the same
# target dir are untouched and nothing is added to a config file:
#   aarch64 musl: rust-lld (ships with rustup; musl's crt and libc come
#                 with the Rust target), +crt-static;
#   armv7 gnueabihf: arm-linux-gnueabihf-gcc with glibc's static libs.
# C code in dependencies (ring, for the full agent) is compiled with the
# Debian cross gcc of the same architecture and glibc's headers
# (libc6-dev-*-cross; ring's C needs only the freestanding parts, so the
# objects link against musl as well).

cross_target() {
  case $1 in
    arm64) echo aarch64-unknown-linux-musl ;;
    armhf) echo armv7-unknown-linux-gnueabihf ;;
    *) echo "cross_target: unknown arch $1" >&2; return 2 ;;
  esac
}

cross_setup() {
  local arch=$1 triple
  triple=$(cross_target "$arch")
  if ! rustup target list --installed 2>/dev/null | grep -qx "$triple"; then
    rustup target add "$triple" >&2
  fi
  case $arch in
    arm64) need_pkgs gcc-aarch64-linux-gnu libc6-dev-arm64-cross >&2 ;;
    armhf) need_pkgs gcc-arm-linux-gnueabihf libc6-dev-armhf-cross >&2 ;;
  esac
}

# shellcheck disable=SC2154 # $root comes from the sourcing script
cross_build() {
  local arch=$1 pkg=$2 features=${3:-} triple upper target_dir
  target_dir=${CARGO_TARGET_DIR:-$root/target}
  local extra=()
  if [ -n "$features" ]; then
    target_dir=$target_dir/features-${features//[^a-z0-9_-]/_}
    extra=(--features "$features" --target-dir "$target_dir")
  fi
  triple=$(cross_target "$arch")
  cross_setup "$arch"
  upper=$(echo "$triple" | tr 'a-z-' 'A-Z_')
  # --no-eh-frame-hdr: the release profile aborts on panic, so nothing ever
  # unwinds; the unwinder's lookup table (110 KB on arm64) would only serve
  # a backtrace in a panic message. The Yocto recipe links the same way.
  (
    cd "$root" || exit
    case $arch in
      arm64)
        export "CARGO_TARGET_${upper}_LINKER=rust-lld"
        export "CARGO_TARGET_${upper}_RUSTFLAGS=-C linker-flavor=ld.lld -C target-feature=+crt-static -C link-arg=--no-eh-frame-hdr"
        export "CC_${triple//-/_}=aarch64-linux-gnu-gcc"
        ;;
      armhf)
        export "CARGO_TARGET_${upper}_LINKER=arm-linux-gnueabihf-gcc"
        export "CARGO_TARGET_${upper}_RUSTFLAGS=-C target-feature=+crt-static -C link-arg=-Wl,--no-eh-frame-hdr"
        export "CC_${triple//-/_}=arm-linux-gnueabihf-gcc"
        ;;
    esac
    cargo build --release --locked -q -p "$pkg" --target "$triple" "${extra[@]}" >&2
  )
  local bin
  bin=$(cd "$root" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
    python3 -c "import json,sys; m=json.load(sys.stdin); print(next(t['name'] for p in m['packages'] if p['name']=='$pkg' for t in p['targets'] if 'bin' in t['kind']))")
  echo "$target_dir/$triple/release/$bin"
}
