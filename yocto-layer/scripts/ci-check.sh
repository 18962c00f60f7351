#!/usr/bin/env bash
# CI for the Yocto layer, short of a Yocto build (README.md, "What CI
# checks"):
#   1. uptree-crates.inc matches Cargo.lock (update-crates.py --check)
#   2. oelint-adv (PyPI, pinned) is clean with .oelint.cfg (scarthgap)
#   3. shellcheck: the layer's scripts, the agent's init and mdev scripts
#      (agent/dist, installed by the uptree recipe), and every shell
#      function of its recipes and classes (bb-shell.py)
#   4. uptree-image.sh's rootfs and commit steps on rootfs folders, the
#      static delta to each commit (real ostree lists and pulls it), and
#      the sysroot step as nobody under fakeroot, as Yocto's pseudo runs
#      it, and uptree-conf's agent.conf read by the real agent
#      (test-image-script.sh: real uptree, real ostree)
#   5. the workspace builds with UPTREE_RUST_MIN, the oldest Rust the
#      uptree recipe accepts (the exact toolchain, --locked)
#   6. with --boot: an image made from a rootfs folder by the image
#      class's script (uptree-image.sh rootfs/commit/sysroot/disk) boots
#      in QEMU through U-Boot (qemu-tests/uboot-lane.py --from-rootfs)
#
#   yocto-layer/scripts/ci-check.sh [--boot]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
layer=$(cd "$here/.." && pwd)
root=$(cd "$layer/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../../.ci/lib.sh
source "$root/.ci/lib.sh"

OELINT_VERSION=9.11.2
venv=${UPTREE_CACHE:-/var/tmp/uptree-cache}/oelint-$OELINT_VERSION

step "yocto-layer: uptree-crates.inc matches Cargo.lock"
python3 "$here/update-crates.py" --check

step "yocto-layer: oelint-adv $OELINT_VERSION (scarthgap)"
need_pkgs python3-venv shellcheck
if [ ! -x "$venv/bin/oelint-adv" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "oelint-adv==$OELINT_VERSION"
fi
mapfile -t bbfiles < <(cd "$layer" && find . \( -name '*.bb' -o -name '*.bbappend' -o -name '*.bbclass' -o -name '*.inc' \) | LC_ALL=C sort)
(cd "$layer" && "$venv/bin/oelint-adv" --quiet "${bbfiles[@]}")
echo "oelint-adv: ${#bbfiles[@]} files clean"

step "yocto-layer: shellcheck"
shellcheck -x "$here"/*.sh "$root/qemu-tests/build-image.sh" "$root/agent/dist/uptree-agent.init" "$root/agent/dist/uptree-usb-mdev" \
  "$layer"/recipes-core/uptree-conf/files/uptree-mark-good.init
for f in "${bbfiles[@]}"; do
  python3 "$here/bb-shell.py" "$layer/$f" | shellcheck -s sh - || { echo "shellcheck: $f" >&2; exit 1; }
done
echo "shellcheck: scripts and the shell functions of ${#bbfiles[@]} recipe files clean"

step "yocto-layer: uptree-image.sh rootfs, commit (+ static delta) and sysroot (fakeroot) steps"
need_pkgs ostree openssl fakeroot u-boot-tools
(cd "$root" && cargo build --locked -q -p uptree --features generate)
bash "$here/test-image-script.sh" "$root/target/debug/uptree"

min=$(sed -n 's/^UPTREE_RUST_MIN = "\(.*\)"$/\1/p' "$layer/recipes-core/uptree/uptree.inc")
step "yocto-layer: the workspace builds with Rust $min (UPTREE_RUST_MIN)"
rustup toolchain list | grep -q "^$min" || rustup toolchain install "$min" --profile minimal
(cd "$root" && CARGO_TARGET_DIR="$root/target/rust-$min" nice cargo "+$min" check --workspace --all-targets --locked)

if [ "${1:-}" = "--boot" ]; then
  step "yocto-layer: boot an image made by the class's script from a rootfs folder (QEMU, U-Boot)"
  python3 "$root/qemu-tests/uboot-lane.py" --board qemu-arm64 --scenarios 1 --from-rootfs
fi
