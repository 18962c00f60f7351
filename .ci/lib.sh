# Shared helpers for .ci scripts (sourced).

step() { printf '\n==> %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Install Debian packages that are missing; one apt-get update per run.
need_pkgs() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  step "installing ${missing[*]}"
  if [ -z "${_APT_UPDATED:-}" ]; then
    # A mirror mid-sync fails one index now and then: retry, and go on with
    # the indexes we have (the install below still fails loudly if needed).
    local try
    for try in 1 2 3; do
      as_root apt-get update -qq && break
      echo "apt-get update failed (attempt $try)" >&2
      sleep $((try * 5))
    done
    _APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
