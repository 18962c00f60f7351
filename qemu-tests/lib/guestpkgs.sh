# shellcheck shell=bash
# Debian packages of the guest architecture, unpacked into a test OS tree
# (sourced; needs .ci/lib.sh).
#
#   guest_add_debs TREE ARCH PKG...
#
# Downloads PKG and what it depends on (first alternative of every
# Depends/Pre-Depends, recursively: the shared libraries) for ARCH, caches
# the .debs under $UPTREE_CACHE/debs/ARCH/, and unpacks them into TREE
# usr-merged (lib, bin, sbin into usr/; etc into usr/etc, the OSTree place
# for defaults). Documentation is left out. Used to put the real ostree
# into the fast lane's test OS, so that `ostree admin status` inside the
# booted deployment can be asked what it sees.

guest_add_debs() {
  local tree=$1 arch=$2
  shift 2
  local cache=${UPTREE_CACHE:-/var/tmp/uptree-cache}
  local key dir
  key=$(printf '%s\n' "$arch" "$@" | sha256sum | cut -c1-12)
  dir=$cache/debs/$arch/closure-$key
  if [ ! -f "$dir/complete" ]; then
    if ! dpkg --print-foreign-architectures | grep -qx "$arch" && [ "$(dpkg --print-architecture)" != "$arch" ]; then
      as_root dpkg --add-architecture "$arch"
      apt_update
    fi
    local pkgs
    pkgs=$(python3 - "$arch" "$@" <<'PY'
import subprocess, sys
arch, todo, seen = sys.argv[1], [p if ":" in p else p + ":" + sys.argv[1] for p in sys.argv[2:]], set()
while todo:
    p = todo.pop()
    if p in seen:
        continue
    seen.add(p)
    out = subprocess.run(["apt-cache", "depends", "--no-recommends", "--no-suggests", "--no-conflicts",
                          "--no-breaks", "--no-replaces", "--no-enhances", p],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    in_alternatives = False
    for line in out[1:]:
        s = line.strip()
        more = s.startswith("|")
        s = s.lstrip("|")
        if s.startswith(("Depends:", "PreDepends:")):
            if not in_alternatives:
                name = s.split(":", 1)[1].strip()
                if not name.startswith("<"):
                    todo.append(name if name.endswith(":" + arch) else name.split(":")[0] + ":" + arch)
            in_alternatives = more
print(" ".join(sorted(seen)))
PY
)
    rm -rf "$dir"
    mkdir -p "$dir"
    # shellcheck disable=SC2086
    (cd "$dir" && apt-get download -qq -o APT::Sandbox::User=root $pkgs >&2)
    touch "$dir/complete"
  fi
  local stage
  stage=$(mktemp -d)
  for deb in "$dir"/*.deb; do
    dpkg-deb -x "$deb" "$stage"
  done
  rm -rf "$stage/usr/share/doc" "$stage/usr/share/man" "$stage/usr/share/locale" "$stage/usr/share/info"
  mkdir -p "$tree/usr/etc"
  for top in lib bin sbin; do
    if [ -d "$stage/$top" ] && [ ! -L "$stage/$top" ]; then
      mkdir -p "$tree/usr/$top"
      cp -a "$stage/$top/." "$tree/usr/$top/"
    fi
  done
  [ -d "$stage/usr" ] && cp -a "$stage/usr/." "$tree/usr/"
  [ -d "$stage/etc" ] && cp -a "$stage/etc/." "$tree/usr/etc/"
  rm -rf "$stage"
}
