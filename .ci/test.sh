#!/usr/bin/env bash
# README's test command: installs what the tests need on a fresh Debian
# machine, then runs every tier that exists. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/lib.sh

# Reference tools the tests compare against: the real ostree (its Debian
# package is the judge of on-disk compatibility), GNU tar, python3, nginx
# and openssl for the HTTPS tests.
need_pkgs ostree tar cpio gzip python3 attr nginx-light openssl u-boot-tools libubootenv-tool dosfstools e2fsprogs mount fusefat fuse3 python3-jsonschema ostree-tests gnupg

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The opt-in features too: GPG (rpgp) and delta generation.
cargo clippy -p uptree -p uptree-pull --features uptree/gpg,uptree-pull/gpg,uptree/generate,uptree/tar,uptree/p2p --all-targets --locked -- -D warnings

step "board configs: generated files up to date, boot scripts accepted by mkimage"
python3 board-configs/generate.py --check
scr=$(mktemp -d)
python3 board-configs/generate.py --mkimage "$scr" >/dev/null
python3 board-configs/generate.py --env-image "$scr/uboot.env" --board qemu-arm64
# qemu-arm64 keeps two copies (redundant), qemu-arm64-1copy one: fw_printenv reads both kinds.
fw_printenv -c <(printf '%s 0x0 0x40000\n' "$scr/uboot.env" "$scr/uboot-redund.env") bootlimit altbootcmd >/dev/null
python3 board-configs/generate.py --env-image "$scr/1copy.env" --board qemu-arm64-1copy
fw_printenv -c <(echo "$scr/1copy.env 0x0 0x40000") bootlimit altbootcmd >/dev/null
rm -rf "$scr"

step "unit and interop tests (real ostree $(ostree --version | sed -n "s/.*Version: '\(.*\)'/\1/p"))"
# Tests need root: bare repos chown, fixtures have non-root owners and device nodes.
UPTREE_TEST_TMP=${UPTREE_TEST_TMP:-/var/tmp} cargo test --workspace --locked
# GPG verification is a cargo feature the device build leaves out: its tests (signed by real ostree with gnupg), and trust.rs with it on.
UPTREE_TEST_TMP=${UPTREE_TEST_TMP:-/var/tmp} cargo test -p uptree --locked --features gpg --test gpg --test trust
cargo test -p uptree-pull --locked --features gpg --lib
# `export` (ostree's libarchive feature) and create-usb/find-remotes (its p2p feature) are in host builds only: their tests with the features on.
UPTREE_TEST_TMP=${UPTREE_TEST_TMP:-/var/tmp} cargo test -p uptree --locked --features tar,generate,p2p --test tar_export --test ostree_repo_cli

step "ostree's own test suite with uptree as ostree (red only on a regression from agent/tests/ostree-suite.pass)"
# With GPG, as the ostree it is compared with (Debian's, built with gpgme).
UPTREE_FEATURES=gpg bash agent/tests/ostree-suite.sh -j 2

step "fuzz: every decoder, FUZZ_SECONDS (default 60) each"
bash agent/fuzz/run.sh

step "device binary: the default static aarch64 uptree within its 3 MiB budget"
# The same build the QEMU lanes put on the board (qemu-tests/lib/build.sh).
bin=$(root=$PWD; for f in qemu-tests/lib/*.sh; do source "$f"; done; cross_build arm64 uptree)
size=$(stat -c %s "$bin")
echo "$bin: $size bytes (budget 3145728)"
[ "$size" -le 3145728 ]

step "QEMU suite: fast lane (kernel straight into uptree-init), then U-Boot → boot.scr → kernel → init on qemu-arm64 and qemu-arm"
bash qemu-tests/run.sh

step "Yocto layer: crates.inc, oelint-adv, shellcheck, image-script checks, Rust 1.87.0, QEMU boot of an image made from a rootfs folder by the class's script"
bash yocto-layer/scripts/ci-check.sh --boot

step "all tests passed"
