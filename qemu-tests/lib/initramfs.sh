# shellcheck shell=bash
# The initramfs for uptree-init (sourced).
#
#   initramfs_build OUT INIT KDIR MODULE...
#
# OUT      gzip'd newc cpio to write
# INIT     the uptree-init binary (becomes /init)
# KDIR     a kernel directory from kernel_fetch (lib/modules/KVER with modules.dep)
# MODULE   module names to load at boot, in the order they must be requested
#
# Contents: /init; /dev/console (char 5:1, so the kernel opens the console
# for init); empty /proc /sys /dev /run /sysroot; lib/modules/KVER/ with the
# named modules, everything they depend on, a modules.dep trimmed to those
# files and modules.builtin; etc/uptree-init/modules, the names as given.
# uptree-init resolves the dependencies at boot from modules.dep (the image
# builder only names what it wants). Written by python3 so no root (mknod)
# is needed and the archive is reproducible (mtime 0, sorted, uid/gid 0).

initramfs_build() {
  local out=$1 init=$2 kdir=$3
  shift 3
  python3 - "$out" "$init" "$kdir" "$@" <<'PY'
import gzip, os, sys

out, init, kdir, wanted = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
kver = open(os.path.join(kdir, "kver")).read().strip()
mdir = os.path.join(kdir, "lib/modules", kver)

def name(rel):
    return os.path.basename(rel).split(".ko")[0].replace("-", "_")

deps = {}
for line in open(os.path.join(mdir, "modules.dep")):
    if ":" in line:
        path, d = line.split(":", 1)
        deps[name(path)] = (path.strip(), d.split())
files = []
for w in wanted:
    n = name(w)
    if n not in deps:
        sys.exit(f"initramfs: module {w} is not in {mdir}/modules.dep")
    path, d = deps[n]
    for f in list(reversed(d)) + [path]:
        if f not in files:
            files.append(f)

entries = {}  # path -> (mode, data, rdev)
def add_dirs(p):
    parts = p.split("/")
    for i in range(1, len(parts)):
        entries.setdefault("/".join(parts[:i]), (0o040755, b"", (0, 0)))

for d in ["dev", "proc", "sys", "run", "sysroot", "etc/uptree-init"]:
    add_dirs(d + "/x")
entries["dev/console"] = (0o020600, b"", (5, 1))
entries["init"] = (0o100755, open(init, "rb").read(), (0, 0))
base = f"lib/modules/{kver}"
for f in files:
    add_dirs(f"{base}/{f}")
    entries[f"{base}/{f}"] = (0o100644, open(os.path.join(mdir, f), "rb").read(), (0, 0))
dep_lines = []
for f in files:
    d = deps[name(f)][1]
    dep_lines.append(f"{f}:" + "".join(" " + x for x in d) + "\n")
entries[f"{base}/modules.dep"] = (0o100644, "".join(dep_lines).encode(), (0, 0))
builtin = os.path.join(mdir, "modules.builtin")
if os.path.exists(builtin):
    entries[f"{base}/modules.builtin"] = (0o100644, open(builtin, "rb").read(), (0, 0))
entries["etc/uptree-init/modules"] = (0o100644, "".join(w + "\n" for w in wanted).encode(), (0, 0))

def pad(b):
    return b + b"\0" * (-len(b) % 4)

blob = bytearray()
for ino, path in enumerate(sorted(entries), start=1):
    mode, data, (maj, mino) = entries[path]
    nm = path.encode() + b"\0"
    hdr = "070701" + "".join(f"{v:08x}" for v in (ino, mode, 0, 0, 2 if mode & 0o040000 else 1, 0, len(data), 0, 0, maj, mino, len(nm), 0))
    blob += pad(hdr.encode() + nm) + pad(data)
nm = b"TRAILER!!!\0"
blob += pad(("070701" + "".join(f"{v:08x}" for v in (0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, len(nm), 0))).encode() + nm)
blob += b"\0" * (-len(blob) % 512)
with open(out, "wb") as f:
    f.write(gzip.compress(bytes(blob), compresslevel=9, mtime=0))
print(f"initramfs: {len(entries)} entries, {len(files)} modules for {kver}, {len(blob)} bytes -> {os.path.getsize(out)} gzip'd", file=sys.stderr)
PY
}
