#!/usr/bin/env bash
# Regenerates the committed seed corpus (corpus/<target>/) from real
# producers: objects, summary and detached metadata written by the real
# `ostree`, environment blocks by `mkenvimage`, plus the golden inputs of
# the unit tests. Run by hand after a format change and commit the result;
# run.sh only reads the corpus. Needs ostree, mkenvimage (u-boot-tools)
# and python3.
set -euo pipefail
cd "$(dirname "$0")"
corpus=$PWD/corpus
rm -rf "$corpus"
sed -n 's|^path = "fuzz_targets/\(.*\)\.rs"$|\1|p' Cargo.toml | while read -r t; do
  mkdir -p "$corpus/$t"
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One small tree with what every object type can carry: a regular file, an
# executable, a symlink, a subdirectory, an xattr, non-root owners.
tree=$work/tree
mkdir -p "$tree/sub/deeper"
printf 'hello world\n' >"$tree/hello.txt"
printf '#!/bin/sh\necho hi\n' >"$tree/sub/run.sh"
chmod 0755 "$tree/sub/run.sh"
printf 'abc' >"$tree/sub/deeper/a.txt"
ln -s hello.txt "$tree/link"
setfattr -n user.seed -v value "$tree/hello.txt" 2>/dev/null || true
chown 1000:1001 "$tree/sub/run.sh"

repo=$work/repo
ostree init --repo="$repo" --mode=archive-z2
ostree commit --repo="$repo" --branch=test/main --subject='Seed commit' --body='Body text' \
  --timestamp=2023-11-14T22:13:20Z --add-metadata-string=version=1.0 \
  --add-metadata=ostree.endoflife-rebase="'test/next'" \
  --add-detached-metadata-string=seed.note=detached "$tree" >/dev/null
printf 'v2\n' >"$tree/hello.txt"
ostree commit --repo="$repo" --branch=test/main --subject='Second' --timestamp=2023-11-15T00:00:00Z --add-metadata-string=version=2.0 \
  --add-metadata=seed.numbers='<[uint32 1, 2, 3]>' --add-metadata=seed.nested="<(byte 1, <int64 -2>, {'k': <true>})>" \
  "$tree" >/dev/null
ostree commit --repo="$repo" --branch=other/x86_64/stable --subject='Other' --timestamp=2023-11-16T00:00:00Z "$tree" >/dev/null
ostree summary --repo="$repo" -u --add-metadata=seed.title="'seed repository'"
ostree remote add --repo="$repo" --set=gpg-verify=false --set=sign-verify=ed25519=inline:AAAA \
  --set=branches='a;b\;c;' origin https://example.com/repo test/main

# Object files, named by checksum (stable across runs: fixed timestamps);
# small enough to keep them all.
while IFS= read -r obj; do
  ext=${obj##*.}
  name=$(basename "$(dirname "$obj")")$(basename "$obj")
  case $ext in
    dirmeta | dirtree | commit | commitmeta | filez) cp "$obj" "$corpus/$ext/${name:0:16}.$ext" ;;
  esac
done < <(find "$repo/objects" -type f | sort)
cp "$repo/summary" "$corpus/summary/ostree-summary"
cp "$repo/config" "$corpus/keyfile/ostree-repo-config"

python3 - "$corpus" <<'EOF'
import os, sys, struct, zlib
corpus = sys.argv[1]
def put(target, name, data):
    with open(os.path.join(corpus, target, name), "wb") as f:
        f.write(data)
def each(target):
    d = os.path.join(corpus, target)
    for n in sorted(os.listdir(d)):
        with open(os.path.join(d, n), "rb") as f:
            yield n, f.read()

# gvariant: a selector byte picks the type (index into OSTREE_TYPES in
# fuzz_targets/gvariant.rs), then the serialised value.
types = {"commit": 0, "dirtree": 1, "dirmeta": 2, "summary": 5, "commitmeta": 6}
for target, sel in types.items():
    for n, data in each(target):
        put("gvariant", f"{target}-{n}", bytes([sel]) + data)
for n, data in each("filez"):
    (hlen,) = struct.unpack(">I", data[:4])
    put("gvariant", f"filez-header-{n}", bytes([4]) + data[8:8 + hlen])
# The uncompressed content header (uuuusa(ayay)) of "hello world\n",
# root 0644, as the unit tests pin it.
hello = bytes([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 0xa4, 0, 0, 0, 0, 0, 0x11])
put("filez", "golden-stream-hello", struct.pack(">I", len(hello)) + b"\0" * 4 + hello + b"hello world\n")
put("gvariant", "golden-content-header", bytes([3]) + hello)
# Variants with their type after the last NUL (selector 0xff).
put("gvariant", "variant-string", b"\xff" + b"1.0\0s")
put("gvariant", "variant-as", b"\xff" + b"test/main\0\x0a\0as")
put("gvariant", "nested-variants", b"\xff" + b"\x01\0y\0v\0v\0v")

# Golden bytes of the unit tests (ostree-format.md worked examples).
put("dirmeta", "golden-root-0755", bytes([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x41, 0xed]))
put("dirmeta", "golden-bareuser-104755", bytes([0, 0, 3, 0xe8, 0, 0, 3, 0xe9, 0, 0, 0x89, 0xed]))
put("dirtree", "golden-empty", b"\0")

# U-Boot environments: mode byte (0 single, 1 redundant copy, 2 two
# copies, 3 text or fw_env.config), then the bytes.
import subprocess
text = b"bootcmd=run distro_bootcmd\nbootcount=0\nbootlimit=3\nupgrade_available=1\nx=a=b\n"
def mkenv(*args):
    return subprocess.run(["mkenvimage", *args, "-o", "-", "-"], input=text, check=True, capture_output=True).stdout
single = mkenv("-s", "0x100")
red0 = mkenv("-s", "0x100", "-r")
red1 = bytearray(mkenv("-s", "0x100", "-r", "-p", "0"))
red1[4] = 2
put("uboot_env", "mkenvimage-single", b"\0" + single)
put("uboot_env", "mkenvimage-redundant", b"\1" + red0)
put("uboot_env", "mkenvimage-pair", b"\2" + red0 + bytes(red1))
put("uboot_env", "text", b"\3" + text + b"multi=x\\\ny\n# comment\n")
put("uboot_env", "fw_env-config", b"\3" + b"# MMC, two copies\n/dev/mmcblk0 0x400000 0x4000\n/dev/mmcblk0 -0x4000 0x4000 0x200 2\n")

# BLS entry, '\0', a deployment's appended uEnv.txt.
entry = (b"title Test OS 1.0 (ostree:0)\nversion 1\noptions root=/dev/vda2 rw ostree=/ostree/boot.1/testos/322d/0\n"
         b"devicetree /ostree/testos-322d/devicetree-5.10.0-test\nlinux /ostree/testos-322d/vmlinuz-5.10.0-test\n"
         b"initrd /ostree/testos-322d/initramfs-5.10.0-test.img\n")
put("uenv", "bls-entry", entry + b"\0bootcmd_extra=echo hi\n")
put("uenv", "bls-no-linux", b"title x\noptions quiet\n")
put("uenv", "bootlink", b"/ostree/boot.1/testos/322d/0")
put("uenv", "deployment", b"ostree/deploy/os/deploy/" + b"ab" * 32 + b".0")

# FAT slots as uptree writes them (uenv::slot::encode).
def slot(seq, bv, text):
    body = b"uptree_seq=%d\nuptree_bootversion=%d\n" % (seq, bv) + text
    return b"uptree_crc=%08x\nuptree_len=%08x\n" % (zlib.crc32(body), len(body)) + body
uenv = b"kernel_image=/loader.1/ostree/os-c/vmlinuz-6.1\nbootargs=root=/dev/vda2 ostree=/ostree/boot.1/os/c/0\n"
put("fat_slot", "slot-1", slot(7, 1, uenv))
put("fat_slot", "slot-0-trailing", slot(6, 0, uenv) + b"garbage")

put("cmdline", "full", b"console=ttyAMA0 root=PARTUUID=abcd-02/PARTNROFF=1 rootfstype=ext4,btrfs rootflags=data=journal rw rootwait "
    b"rootdelay=2 ostree=/ostree/boot.1/os/c/0 init=/lib/systemd/systemd uptree.debug uptree.emergency=1 "
    b"uptree.roottimeout=2.5 uptree.rebootdelay=0 uptree.modules=a,b ext4.foo=1 usb-storage.delay_use=0 "
    b"quiet -- single ostree=/evil")
# Boundary values: the largest numbers each field parses.
put("cmdline", "bounds", b"root=PARTUUID=x/PARTNROFF=-2147483648 rootdelay=18446744073709551615 rootwait=18446744073709551615 "
    b"uptree.roottimeout=18446744073709551615 uptree.rebootdelay=18446744073709551615 root=4294967295:4294967295")
put("cmdline", "quoted", b'root=LABEL="root fs" rootwait=7 uptree.roottimeout=.5 ostree="/ostree/boot.0/a b/c/0"')

put("keyfile", "origin", b"[origin]\nrefspec=origin:test/main\n\n[origin]\nunlocked=none\n")
put("keyfile", "escapes", b"# c\n[g]\nk=\\slead\\ttab\\\\\nl=a;b\\;c;\n")
EOF
# Static deltas by the real ostree: a from-delta with rollsum copies and
# bsdiff, an inline scratch delta; their payloads for delta_part; plus the
# unit tests' golden superblocks.
mkdir -p "$work/dtree/usr" && head -c 20000 /dev/zero | tr '\0' 'a' >"$work/dtree/usr/big" && printf 'x\n' >"$work/dtree/small"
ostree commit --repo="$repo" --branch=delta/test --timestamp=2023-11-14T22:13:20Z "$work/dtree" >/dev/null
printf 'b' | dd of="$work/dtree/usr/big" bs=1 seek=100 conv=notrunc 2>/dev/null && chmod 0600 "$work/dtree/small"
ostree commit --repo="$repo" --branch=delta/test --timestamp=2023-11-15T22:13:20Z "$work/dtree" >/dev/null
ostree static-delta generate --repo="$repo" delta/test >/dev/null
ostree static-delta generate --repo="$repo" --empty --inline --to=delta/test >/dev/null
n=0
while IFS= read -r sb; do
  cp "$sb" "$corpus/delta_superblock/ostree-$n"
  for part in "$(dirname "$sb")"/[0-9]*; do
    [ -f "$part" ] || continue
    cp "$part" "$corpus/delta_part/ostree-$n-part"
    tail -c +2 "$part" | xz -dc >"$corpus/delta_part/ostree-$n-payload" 2>/dev/null || true
  done
  n=$((n + 1))
done < <(find "$repo/deltas" -name superblock | sort)
cp ../crates/delta/testdata/*.superblock "$corpus/delta_superblock/"
cp ../crates/delta/testdata/from.part0 "$corpus/delta_part/golden-part0"

echo "seeds: $(find "$corpus" -type f | wc -l) files, $(du -sh "$corpus" | cut -f1)"
