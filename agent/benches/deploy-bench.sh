#!/usr/bin/env bash
# Deploy: `uptree admin deploy` vs `ostree admin deploy` of Debian minbase
# arm64 (≈5k files, ≈210 MiB) plus a kernel layer, back to back: the first
# deploy into a fresh sysroot, then the upgrade to v2 (+40 packages, 2% of
# files changed; /etc three-way merged), U-Boot backend (uEnv.txt).
#
#   bash agent/benches/deploy-bench.sh
#
# Env: UPTREE, BENCH_RUNS (default 3), UPTREE_BENCH_CACHE.
# Target: each deploy ≤ ostree's wall time (ostree measured ≈0.3 s each).
# Both sysroots live on the bench's own loop-mounted filesystem: real
# `ostree admin deploy` freezes the filesystem holding /boot.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

need_pkgs ostree time
UP=$(uptree_bin)
work=$(bench_scratch)
# Deployment roots are immutable, as ostree makes them.
unfreeze() { find "$1" -maxdepth 6 -path '*/ostree/deploy/*/deploy/*' -prune -exec chattr -i {} + 2>/dev/null || true; }
trap 'unfreeze "$work"; bench_cleanup "$work"' EXIT

# OSTree layout: config under usr/etc. (ostree 2022.7 fails to deploy
# minbase's plain /etc: "Preparing /etc: No such file or directory:
# /usr/etc", although its code means to move it; uptree moves it.)
# Hardlinked copies in the cache, made once.
ostree_layout() {
  local from=$1 dir=$1-usretc
  if [ ! -f "$dir/.complete" ]; then
    rm -rf "$dir"
    cp -al "$from" "$dir"
    rm -f "$dir/.complete"
    mv "$dir/etc" "$dir/usr/etc"
    touch "$dir/.complete"
  fi
  echo "$dir"
}
v1_tree=$(ostree_layout "$(minbase_tree)")
v2_tree=$(ostree_layout "$(minbase_v2_tree)")
echo "== v1: $(tree_stats "$v1_tree"); v2: $(tree_stats "$v2_tree")"

# A kernel, initramfs and device tree where ostree looks for them.
kernel=$work/kernel-layer
kdir=$kernel/usr/lib/modules/6.1.0-bench
mkdir -p "$kdir"
head -c $((8 << 20)) /dev/urandom >"$kdir/vmlinuz"
head -c $((4 << 20)) /dev/urandom >"$kdir/initramfs.img"
head -c $((64 << 10)) /dev/urandom >"$kdir/devicetree"

src=$work/src
ostree --repo="$src" init --mode=archive
v1=$(ostree --repo="$src" commit -b os/stable -s v1 --timestamp='2024-01-01 00:00:00' --tree=dir="$v1_tree" --tree=dir="$kernel")
v2=$(ostree --repo="$src" commit -b os/stable -s v2 --timestamp='2024-02-01 00:00:00' --tree=dir="$v2_tree" --tree=dir="$kernel")
echo "   commits: v1 $v1, v2 $v2"

# A fresh sysroot with both commits in its repo (not timed).
fresh_sysroot() {
  local tool=$1 root=$2 bin=ostree
  [ "$tool" = uptree ] && bin=$UP
  if [ -d "$root" ]; then unfreeze "$root"; rm -rf "$root"; fi
  mkdir -p "$root"
  "$bin" admin init-fs "$root" >/dev/null
  "$bin" admin os-init os --sysroot="$root" >/dev/null
  "$bin" --repo="$root/ostree/repo" pull-local "$src" "$v1" os/stable >/dev/null
  # ostree's U-Boot backend is chosen by an existing uEnv.txt (and needs
  # it); give both tools the same start.
  mkdir -p "$root/boot/loader.0"
  : >"$root/boot/loader.0/uEnv.txt"
  ln -s loader.0 "$root/boot/loader"
}

declare -A W R
for run in $(seq "$RUNS"); do
  for tool in ostree uptree; do
    root=$work/sysroot-$tool
    bin=ostree
    [ "$tool" = uptree ] && bin=$UP
    fresh_sysroot "$tool" "$root"
    settle
    t=$(timed "$bin" admin deploy --sysroot="$root" --os=os --karg=root=/dev/vda2 --karg=rw "$v1")
    W[$tool-first]+="${t% *} " R[$tool-first]+="${t#* } "
    echo "# local change" >>"$root/ostree/deploy/os/deploy/$v1.0/etc/hostname"
    settle
    t=$(timed "$bin" admin deploy --sysroot="$root" --os=os "$v2")
    W[$tool-upgrade]+="${t% *} " R[$tool-upgrade]+="${t#* } "
  done
  # Same deployments, same boot configuration, and each tool reads the other's sysroot.
  for tool in ostree uptree; do
    root=$work/sysroot-$tool
    got=$("$UP" admin status --json --sysroot="$root" | python3 -c 'import json,sys; print(" ".join(d["checksum"] for d in json.load(sys.stdin)["deployments"]))')
    if [ "$got" != "$v2 $v1" ]; then echo "WRONG RESULT ($tool): deployments $got" >&2; FAILED=1; fi
    ostree admin status --sysroot="$root" >/dev/null || FAILED=1
  done
  if ! cmp -s "$work/sysroot-ostree/boot/loader/uEnv.txt" "$work/sysroot-uptree/boot/loader/uEnv.txt"; then
    echo "WRONG RESULT: uEnv.txt differs" >&2
    diff "$work/sysroot-ostree/boot/loader/uEnv.txt" "$work/sysroot-uptree/boot/loader/uEnv.txt" >&2 || true
    FAILED=1
  fi
done

med() { tr ' ' '\n' | grep -v '^$' | median; }
mx() { tr ' ' '\n' | grep -v '^$' | maxof; }
for step in first upgrade; do
  record "admin deploy ($step)" 1.00 "$(echo "${W[ostree-$step]}" | med)" "$(echo "${W[uptree-$step]}" | med)" \
    "$(echo "${R[ostree-$step]}" | mx)" "$(echo "${R[uptree-$step]}" | mx)"
done
print_results
