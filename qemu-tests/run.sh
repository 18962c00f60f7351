#!/usr/bin/env bash
# The QEMU suite: the fast lane (kernel straight into uptree-init), then
# the U-Boot lane on each board (qemu-arm64: ostree layout, scenarios 1-6;
# qemu-arm64-1copy: scenario 2 with a single-copy U-Boot environment,
# so U-Boot counts from what uptree overwrote in place; qemu-arm: FAT
# layout, scenarios 1-6 with fewer power cuts, as each 32-bit boot takes
# longer). Scenario 6 is the agent started by the guest's init: a network
# update through a static delta rebooted in its window, USB sticks
# hot-plugged through QEMU's monitor (unsigned, pulled out mid-pull,
# signed), power cuts during its round. Every lane prints one line per
# check and its own "N passed, N failed"; this prints the total and fails
# if any check did.
#
#   qemu-tests/run.sh [--seed S]
#
# Env: POWER_CUTS (qemu-arm64, default 20), POWER_CUTS_ARM (default 6),
# AGENT_POWER_CUTS (scenario 6, each board, default 1).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
seed_args=()
[ "${1:-}" = "--seed" ] && seed_args=(--seed "$2")

passed=0 failed=0
lane() {
  local name=$1 out rc
  shift
  echo "## $name"
  out=$(mktemp)
  "$@" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  read -r p f < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$out" | tail -1)
  if [ -z "${p:-}" ]; then
    echo "FAIL - $name: ended without a summary (exit $rc)"
    p=0 f=1
  elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "FAIL - $name: exit $rc"
    f=1
  fi
  passed=$((passed + p)) failed=$((failed + f))
  rm -f "$out"
}

lane "fast lane" bash "$here/fastlane.sh"
lane "U-Boot lane, qemu-arm64" python3 "$here/uboot-lane.py" --board qemu-arm64 --scenarios 1,2,3,4,5,6 \
  --power-cuts "${POWER_CUTS:-20}" --agent-power-cuts "${AGENT_POWER_CUTS:-1}" "${seed_args[@]}"
lane "U-Boot lane, qemu-arm64, single-copy environment" python3 "$here/uboot-lane.py" --board qemu-arm64-1copy \
  --scenarios 2 "${seed_args[@]}"
lane "U-Boot lane, qemu-arm" python3 "$here/uboot-lane.py" --board qemu-arm --scenarios 1,2,3,4,5,6 \
  --power-cuts "${POWER_CUTS_ARM:-6}" --agent-power-cuts "${AGENT_POWER_CUTS:-1}" "${seed_args[@]}"

echo
echo "QEMU suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
