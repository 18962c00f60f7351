# shellcheck shell=bash
# OSTree sysroots and their disk images, built with the real uptree CLI on
# the host (sourced; needs $uptree, the host binary).
#
#   sysroot_new DIR OS                  admin init-fs + os-init
#   sysroot_commit DIR REF TREE VER     commit TREE into DIR's repo (prints the checksum)
#   sysroot_deploy DIR OS REF KARG...   admin deploy --karg=… (prints its output)
#   sysroot_ostree_arg DIR INDEX        the ostree= argument of boot entry INDEX (0 = default)
#   sysroot_deployment DIR INDEX        that entry's deployment path, relative to DIR
#   sysroot_image DIR IMG MIB LABEL     ext4 image of DIR (mkfs.ext4 -d; no loop mount)
#   sysroot_partitioned IMG PART OUT    OUT = MBR disk with PART as partition 1; prints its PARTUUID
#   sysroot_remove DIR                  rm -rf, clearing the immutable flag of deployments first

# shellcheck disable=SC2154 # $uptree comes from the sourcing script
sysroot_new() {
  local dir=$1 os=$2
  sysroot_remove "$dir"
  "$uptree" admin --sysroot="$dir" init-fs "$dir" >/dev/null
  "$uptree" admin --sysroot="$dir" os-init "$os" >/dev/null
}

# shellcheck disable=SC2154
sysroot_commit() {
  local dir=$1 ref=$2 tree=$3 ver=$4
  "$uptree" --repo="$dir/ostree/repo" commit -b "$ref" -s "test OS $ver" --add-metadata-string=version="$ver" "$tree" >/dev/null
  "$uptree" --repo="$dir/ostree/repo" rev-parse "$ref"
}

# shellcheck disable=SC2154
sysroot_deploy() {
  local dir=$1 os=$2 ref=$3
  shift 3
  local kargs=()
  for k in "$@"; do kargs+=("--karg=$k"); done
  "$uptree" admin --sysroot="$dir" deploy --os="$os" "${kargs[@]}" "$ref"
}

# Boot entries sorted as ostree sorts them (version, descending).
_sysroot_entries() {
  local dir=$1
  for e in "$dir"/boot/loader/entries/ostree-*.conf; do
    printf '%s %s\n' "$(sed -n 's/^version //p' "$e")" "$e"
  done | sort -rV | cut -d' ' -f2-
}

sysroot_ostree_arg() {
  local dir=$1 idx=$2 entry
  entry=$(_sysroot_entries "$dir" | sed -n "$((idx + 1))p")
  [ -n "$entry" ] || { echo "sysroot_ostree_arg: no boot entry $idx in $dir" >&2; return 1; }
  sed -n 's/^options .*ostree=\([^ ]*\).*/\1/p' "$entry"
}

sysroot_deployment() {
  local dir=$1 idx=$2 arg
  arg=$(sysroot_ostree_arg "$dir" "$idx")
  (cd "$dir/${arg#/}" && pwd -P) | sed "s|^$(cd "$dir" && pwd -P)/||"
}

sysroot_image() {
  local dir=$1 img=$2 mib=$3 label=$4
  rm -f "$img"
  # -d copies the tree (hardlinks kept, ownership and modes as they are);
  # it does not carry the immutable flag of deployment roots.
  mkfs.ext4 -q -F -L "$label" -d "$dir" "$img" "${mib}M"
}

sysroot_partitioned() {
  local part=$1 out=$2 size
  size=$(stat -c %s "$part")
  rm -f "$out"
  truncate -s $((size + 2 * 1024 * 1024)) "$out"
  printf 'label: dos\nlabel-id: 0x5eed1e55\nstart=2048, type=83, bootable\n' | sfdisk -q "$out" >/dev/null
  dd if="$part" of="$out" bs=1M seek=1 conv=notrunc,sparse status=none
  echo "5eed1e55-01"
}

sysroot_remove() {
  local dir=$1
  [ -e "$dir" ] || return 0
  if [ -d "$dir/ostree/deploy" ]; then
    find "$dir/ostree/deploy" -mindepth 3 -maxdepth 3 -type d -path '*/deploy/*' -exec chattr -i {} + 2>/dev/null || true
  fi
  rm -rf "$dir"
}
