#!/usr/bin/env bash
# Checks of uptree-image.sh's `rootfs` and `commit` steps (with its
# static delta) on small rootfs folders, against the real uptree and the
# real ostree, and of its `sysroot` step as Yocto runs it (a non-root
# user under fakeroot); and that the agent.conf uptree-conf writes is one
# the real agent reads. One line per check, then "N passed, N failed".
# Runs as root (it switches to nobody for the fakeroot check):
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
check "commit --delta-from parent: a first commit (no parent) gets no delta, and no error" \
  bash -c "bash '$script' commit --uptree '$up' --repo '$repo' --branch os/test --subject one --version 1.0 \
    --delta-from parent '$t' >/dev/null 2>'$work/err' && grep -q 'has no parent: no static delta' '$work/err' \
    && [ \"\$(ostree --repo='$repo' static-delta list)\" = '(No static deltas)' ]"
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
  --sign-key "$work/sign.key" --delta-from parent "$t" >/dev/null 2>&1
c2=$("$up" --repo="$repo" rev-parse os/test)
check "commit: a changed tree is a new commit whose parent is the last one" \
  bash -c "[ '$c2' != '$c1' ] && [ \"\$('$up' --repo='$repo' rev-parse os/test^)\" = '$c1' ]"
check "commit: signed with the key file (uptree sign --verify)" "$up" --repo="$repo" sign --verify os/test "$pub"
check "commit: summary and summary.sig written" test -s "$repo/summary" -a -s "$repo/summary.sig"
check "commit: ostree fsck is clean" bash -c "ostree --repo='$repo' fsck >/dev/null"

# The static delta parent -> new commit: listed by both tools and by the
# (signed) summary, and taken by the real ostree's pull.
check "delta: --delta-from parent made $c1-$c2, listed by uptree and by ostree static-delta list" \
  bash -c "'$up' --repo='$repo' static-delta list | grep -qx '$c1-$c2' && ostree --repo='$repo' static-delta list | grep -qx '$c1-$c2'"
check "delta: the summary lists it (ostree.static-deltas, read by ostree)" \
  bash -c "ostree --repo='$repo' summary --view | grep 'ostree.static-deltas' | grep -q '$c1-$c2'"
super=$(find "$repo/deltas" -name superblock)
ino=$(stat -c %i "$super")
bash "$script" commit --uptree "$up" --repo "$repo" --branch os/test --subject two --version 2.0 \
  --sign-key "$work/sign.key" --delta-from parent "$t" >/dev/null 2>&1
check "delta: an unchanged rebuild adds no commit and keeps the delta as it is" \
  test "$("$up" --repo="$repo" rev-parse os/test) $(stat -c %i "$super")" = "$c2 $ino"
dev=$work/device
ostree --repo="$dev" init --mode=bare-user
ostree --repo="$dev" remote add --no-gpg-verify origin "file://$repo"
ostree --repo="$dev" pull origin "os/test@$c1" >/dev/null
check "delta: ostree pull --require-static-deltas from $c1 takes it (signed commit and summary); fsck clean" \
  bash -c "ostree --repo='$dev' pull --require-static-deltas origin os/test >/dev/null \
    && [ \"\$(ostree --repo='$dev' rev-parse origin:os/test)\" = '$c2' ] && ostree --repo='$dev' fsck >/dev/null"
echo three >"$t/usr/etc/changed"
bash "$script" commit --uptree "$up" --repo "$repo" --branch os/test --subject three --delta-from "$c1" "$t" >/dev/null 2>&1
c3=$("$up" --repo="$repo" rev-parse os/test)
check "delta: --delta-from REV makes REV-NEW ($c1-$c3), and no parent delta" \
  bash -c "ostree --repo='$repo' static-delta list | grep -qx '$c1-$c3' && ! ostree --repo='$repo' static-delta list | grep -qx '$c2-$c3'"
dev2=$work/device2
ostree --repo="$dev2" init --mode=bare-user
ostree --repo="$dev2" remote add --no-gpg-verify origin "file://$repo"
ostree --repo="$dev2" pull origin "os/test@$c1" >/dev/null
check "delta: ostree pull --require-static-deltas from $c1 to $c3 takes it" \
  bash -c "ostree --repo='$dev2' pull --require-static-deltas origin os/test >/dev/null \
    && [ \"\$(ostree --repo='$dev2' rev-parse origin:os/test)\" = '$c3' ] && ostree --repo='$dev2' fsck >/dev/null"
echo four >"$t/usr/etc/changed"
bash "$script" commit --uptree "$up" --repo "$repo" --branch os/test --subject four "$t" >/dev/null
c4=$("$up" --repo="$repo" rev-parse os/test)
check "delta: without --delta-from no delta is made (and ostree pull --require-static-deltas fails)" \
  bash -c "! ostree --repo='$repo' static-delta list | grep -q -- '-$c4\$' \
    && ! ostree --repo='$dev2' pull --require-static-deltas origin os/test >/dev/null 2>&1"
check "delta: --delta-from a name that is no commit fails and names it" \
  bash -c "echo five >'$t/usr/etc/changed' && ! bash '$script' commit --uptree '$up' --repo '$repo' --branch os/test \
    --delta-from nosuch '$t' >/dev/null 2>'$work/err' && grep -q 'delta-from nosuch' '$work/err'"

# Yocto runs image tasks as the build user under pseudo, which fakes
# ownership but cannot set the immutable flag; fakeroot is the same model.
# The sysroot step must complete there (it did not before it asked for a
# mutable deployment: chattr +i failed with EPERM).
fr=$work/fakeroot
mkdir -p "$fr"
chmod a+rx "$work"
chmod -R a+rX "$repo"
chown nobody "$fr"
echo 'bootdelay=2' >"$fr/default-env"
check "sysroot: as nobody under fakeroot (Yocto's pseudo model): deployment, boot.scr and uboot.env written" \
  bash -c "setpriv --reuid=nobody --regid=\"\$(id -g nobody)\" --clear-groups env HOME='$fr' TMPDIR='$fr' \
      fakeroot bash '$script' sysroot --uptree '$(realpath "$up")' --board qemu-arm64 --repo '$repo' --ref os/test \
      --os test --out '$fr/parts' --default-env '$fr/default-env' >/dev/null 2>'$work/err' \
    && [ -f '$fr/parts/boot/boot.scr' ] && [ -f '$fr/parts/boot/uboot.env' ] \
    && compgen -G '$fr/parts/root/ostree/deploy/test/deploy/*.0/usr/etc/os-release' >/dev/null \
    || { cat '$work/err' >&2; false; }"

# uptree-conf writes /etc/uptree/agent.conf in do_install; the agent
# refuses a file with a key it does not read. Run that part of the
# recipe with its ??= defaults, and with every optional key set, and
# have the real agent read the result (it then stops at the missing
# sysroot, after the config).
recipe=$here/../recipes-core/uptree-conf/uptree-conf_1.0.bb
agent_conf() {
  local out=$1 vars=$2
  # shellcheck disable=SC2016 # ${...} are BitBake's, replaced by sed
  sed -n '/agent.conf: only keys/,/chmod 0644/p' "$recipe" | sed -f "$vars" \
    -e "s,\${D}\${sysconfdir}/uptree/agent.conf,$out,g" >"$work/agent-conf.sh"
  sh -e -c 'bbfatal() { echo "bbfatal: $*" >&2; exit 1; }; . "$1"' sh "$work/agent-conf.sh"
}
agent_reads() {
  local err
  err=$("$up" agent --config "$1" --once --sysroot "$work/no-sysroot" 2>&1)
  case $err in *"is not an OSTree sysroot"*) return 0 ;; esac
  echo "$err" >&2
  return 1
}
# shellcheck disable=SC2016 # sed scripts for BitBake's ${...}
sed -n 's/^UPTREE_AGENT_\([A-Z_]*\) ??= "\([^$]*\)"$/s,${UPTREE_AGENT_\1},\2,g/p' "$recipe" >"$work/defaults.sed"
cat >>"$work/defaults.sed" <<'SED'
s,${UPTREE_AGENT_TRUSTED_KEYS},,g
SED
check "uptree-conf: agent.conf from the recipe's defaults is read by the agent" \
  bash -c "$(declare -f agent_conf agent_reads); recipe='$recipe' work='$work' up='$up'; \
    agent_conf '$work/agent.conf' '$work/defaults.sed' && grep -qx 'interval=6h' '$work/agent.conf' && agent_reads '$work/agent.conf'"
{
  grep -v -e WINDOW -e REBOOT -e USB -e TRUSTED "$work/defaults.sed"
  cat <<'SED'
s,${UPTREE_AGENT_WINDOW},23:30-02:00,g
s,${UPTREE_AGENT_REBOOT},window,g
s,${UPTREE_AGENT_USB},false,g
SED
  echo "s,\${UPTREE_AGENT_TRUSTED_KEYS},/etc/uptree/trusted.ed25519;$pub,g"
} >"$work/all.sed"
check "uptree-conf: agent.conf with window, reboot=window, usb=false and trusted keys is read by the agent" \
  bash -c "$(declare -f agent_conf agent_reads); recipe='$recipe' work='$work' up='$up'; \
    agent_conf '$work/agent-all.conf' '$work/all.sed' && grep -qx 'window=23:30-02:00' '$work/agent-all.conf' \
    && grep -q '^trusted-keys=' '$work/agent-all.conf' && agent_reads '$work/agent-all.conf'"
{
  grep -v REBOOT "$work/defaults.sed"
  cat <<'SED'
s,${UPTREE_AGENT_REBOOT},bogus,g
SED
} >"$work/bad.sed"
check "uptree-conf: a reboot policy the agent does not know stops do_install (bbfatal)" \
  bash -c "$(declare -f agent_conf); recipe='$recipe' work='$work'; ! agent_conf '$work/agent-bad.conf' '$work/bad.sed' 2>'$work/err' \
    && grep -q 'UPTREE_AGENT_REBOOT must be' '$work/err'"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
