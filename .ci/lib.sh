# Shared helpers for .ci scripts (sourced).

step() { printf '\n==> %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# apt-get update. A mirror mid-sync fails one index now and then: retry,
# then go on with the indexes we have (what needs a package still fails
# loudly when it is missing).
apt_update() {
  local try
  for try in 1 2 3; do
    as_root apt-get update -qq >&2 && return 0
    echo "apt-get update failed (attempt $try)" >&2
    sleep $((try * 5))
  done
  return 0
}

# Install Debian packages that are missing; one apt-get update per run.
need_pkgs() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  step "installing ${missing[*]}"
  [ -z "${_APT_UPDATED:-}" ] && apt_update
  _APT_UPDATED=1
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# A throwaway CA and a server certificate for loopback tests:
#   test_pki DIR [SAN]   writes DIR/{ca.pem,server.pem,server.key}
# (SAN default IP:127.0.0.1).
test_pki() {
  local dir=$1 san=${2:-IP:127.0.0.1}
  mkdir -p "$dir"
  (
    cd "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 2 \
      -subj "/CN=uptree test CA" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr \
      -subj "/CN=uptree test server" 2>/dev/null
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$san" >ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext 2>/dev/null
  )
}
