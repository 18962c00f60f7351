#!/usr/bin/env bash
# Checks of uptree-image.sh's `rootfs` and `commit` steps on small rootfs
# folders, against the real uptree and the real ostree (one line per
# check, then "N passed, N failed"):
#
#   test-image-script.sh UPTREE_BINARY
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
script=$here/uptree-image.sh
up=${1:?uptree binary}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
check() {
  local what=$1
  shift
  if "$@"; then
    echo "ok - $what"
    passed=$((passed + 1))
  else
    echo "FAIL - $what"
    failed=$((failed + 1))
  fi
}

# A rootfs as do_rootfs leaves it: UsrMove links, /etc, state in /var,
# /home, /opt, passwd with system users.
mkrootfs() {
  local r=$1
  mkdir -p "$r"/usr/bin "$r"/usr/lib "$r"/usr/sbin "$r"/etc "$r"/var/lib/app "$r"/var/volatile/log \
    "$r"/home/root "$r"/opt/app "$r"/boot
  ln -s usr/bin "$r/bin"
  ln -s usr/lib "$r/lib"
  ln -s usr/sbin "$r/sbin"
  ln -s volatile/log "$r/var/log"
  chmod 1777 "$r/var/volatile/log"
  echo seed >"$r/var/lib/app/seed"
  echo 'PS1=x' >"$r/home/root/.profile"
  echo hi >"$r/opt/app/readme"
  echo 'kernel' >"$r/boot/zImage"
  printf 'root:x:0:0:root:/home/root:/bin/sh\nmessagebus:x:998:998::/var/lib/dbus:/bin/false\n' >"$r/etc/passwd"
  printf 'root:x:0:\nmessagebus:x:998:\n' >"$r/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$r/etc/nsswitch.conf"
  echo 'ID=test' >"$r/etc/os-release"
}

r=$work/rootfs t=$work/tree
mkrootfs "$r"
echo kernel >"$work/vmlinuz"
echo initrd >"$work/initrd"
echo dtb >"$work/board.dtb"
bash "$script" rootfs "$r" "$t" --users keep --kver 6.6.0 --kernel "$work/vmlinuz" \
  --initramfs "$work/initrd" --dtb "$work/board.dtb" 2>"$work/warn"
conf=$t/usr/lib/tmpfiles.d/uptree-var.conf
check "rootfs: /etc moved to /usr/etc" test -f "$t/usr/etc/os-release" -a ! -e "$t/etc"
check "rootfs: /home /opt /srv /mnt /root /usr/local /media link into /var and /run" \
  test "$(readlink "$t/home") $(readlink "$t/opt") $(readlink "$t/srv") $(readlink "$t/mnt") $(readlink "$t/root") $(readlink "$t/usr/local") $(readlink "$t/media")" \
  = "var/home var/opt var/srv var/mnt var/roothome ../var/usrlocal run/media"
check "rootfs: /var is empty in the tree" test -z "$(ls -A "$t/var")"
check "rootfs: /var's directories and links became tmpfiles.d lines (modes kept)" \
  grep -qx 'd /var/lib/app 0755 0 0 -' "$conf"
check "rootfs: ... including the sticky log directory and the link" \
  bash -c "grep -qx 'd /var/volatile/log 01777 0 0 -' '$conf' && grep -qx 'L /var/log - - - - volatile/log' '$conf'"
check "rootfs: /home's content is kept as tmpfiles.d directories" grep -qx 'd /var/home/root 0755 0 0 -' "$conf"
check "rootfs: the link targets exist at boot (/var/roothome 0700, /var/usrlocal)" \
  bash -c "grep -qx 'd /var/roothome 0700 0 0 -' '$conf' && grep -qx 'd /var/usrlocal 0755 0 0 -' '$conf'"
check "rootfs: a warning names each dropped file" \
  bash -c "grep -q 'var/lib/app/seed' '$work/warn' && grep -q 'var/home/root/.profile' '$work/warn' && grep -q 'var/opt/app/readme' '$work/warn'"
check "rootfs: kernel, initramfs and device tree in usr/lib/modules/KVER" \
  test -f "$t/usr/lib/modules/6.6.0/vmlinuz" -a -f "$t/usr/lib/modules/6.6.0/initramfs.img" -a -f "$t/usr/lib/modules/6.6.0/dtb/board.dtb"
check "rootfs: /boot emptied, /sysroot and the ostree link made" \
  test -z "$(ls -A "$t/boot")" -a -d "$t/sysroot" -a "$(readlink "$t/ostree")" = sysroot/ostree
check "rootfs: the source rootfs is untouched" test -d "$r/etc" -a -f "$r/var/lib/app/seed"

# Without UsrMove: refused, nothing written.
r2=$work/rootfs-split
mkrootfs "$r2"
rm "$r2/bin"
mkdir "$r2/bin"
check "rootfs: a rootfs without UsrMove is refused, no output" \
  bash -c "! bash '$script' rootfs '$r2' '$work/t2' 2>'$work/err' && grep -q UsrMove '$work/err' && [ ! -e '$work/t2' ]"

# Users.
check "rootfs: --users altfiles without nss-altfiles is refused" \
  bash -c "! bash '$script' rootfs '$r' '$work/t3' --users altfiles 2>'$work/err' && grep -q nss-altfiles '$work/err'"
touch "$r/usr/lib/libnss_altfiles.so.2"
bash "$script" rootfs "$r" "$work/t4" --users altfiles 2>/dev/null
check "rootfs: --users altfiles: system users in /usr/lib/passwd, root stays in /etc, nsswitch has altfiles" \
  bash -c "grep -q '^messagebus:' '$work/t4/usr/lib/passwd' && ! grep -q '^root:' '$work/t4/usr/lib/passwd' \
    && [ \"\$(cat '$work/t4/usr/etc/passwd')\" = 'root:x:0:0:root:/home/root:/bin/sh' ] \
    && grep -qx 'passwd: files altfiles' '$work/t4/usr/etc/nsswitch.conf' && grep -qx 'hosts: files dns' '$work/t4/usr/etc/nsswitch.conf'"
mkdir -p "$r/usr/bin" && touch "$r/usr/bin/systemd-sysusers" && chmod +x "$r/usr/bin/systemd-sysusers"
bash "$script" rootfs "$r" "$work/t5" --users sysusers 2>/dev/null
check "rootfs: --users sysusers: a sysusers.d file with the image's system users" \
  bash -c "grep -qx 'g messagebus 998' '$work/t5/usr/lib/sysusers.d/uptree-image.conf' \
    && grep -qx 'u messagebus 998:998 \"\" /var/lib/dbus /bin/false' '$work/t5/usr/lib/sysusers.d/uptree-image.conf'"

# Commit: archive repo created, SOURCE_DATE_EPOCH, version, skip if
# unchanged, parent chained, signed commit and summary; real ostree reads it.
repo=$work/repo
export SOURCE_DATE_EPOCH=1700000000
bash "$script" commit --uptree "$up" --repo "$repo" --branch os/test --subject one --version 1.0 "$t" >/dev/null
c1=$("$up" --repo="$repo" rev-parse os/test)
bash "$script" commit --uptree "$up" --repo "$repo" --branch os/test --subject one --version 1.0 "$t" >/dev/null
check "commit: an unchanged tree adds no commit" test "$("$up" --repo="$repo" rev-parse os/test)" = "$c1"
check "commit: archive mode, time from SOURCE_DATE_EPOCH, version metadata (read by ostree)" \
  bash -c "grep -q 'mode=archive' '$repo/config' && ostree --repo='$repo' show os/test | grep -q 'Date:  2023-11-14 22:13:20 +0000' \
    && ostree --repo='$repo' show os/test | grep -q 'Version: 1.0'"
openssl genpkey -algorithm ed25519 -out "$work/k.pem" 2>/dev/null
pub=$(openssl pkey -in "$work/k.pem" -pubout -outform DER | tail -c 32 | base64 -w0)
{ openssl pkey -in "$work/k.pem" -outform DER | tail -c 32; openssl pkey -in "$work/k.pem" -pubout -outform DER | tail -c 32; } |
  base64 -w0 >"$work/sign.key"
echo >>"$work/sign.key"
echo changed >"$t/usr/etc/changed"
bash "$script" commit --uptree "$up" --repo "$repo" --branch os/test --subject two --version 2.0 \
  --sign-key "$work/sign.key" "$t" >/dev/null
c2=$("$up" --repo="$repo" rev-parse os/test)
check "commit: a changed tree is a new commit whose parent is the last one" \
  bash -c "[ '$c2' != '$c1' ] && [ \"\$('$up' --repo='$repo' rev-parse os/test^)\" = '$c1' ]"
check "commit: signed with the key file (uptree sign --verify)" "$up" --repo="$repo" sign --verify os/test "$pub"
check "commit: summary and summary.sig written" test -s "$repo/summary" -a -s "$repo/summary.sig"
check "commit: ostree fsck is clean" bash -c "ostree --repo='$repo' fsck >/dev/null"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
