# shellcheck shell=bash
# Direct kernel boots under QEMU and one-line checks (sourced).
#
#   qemu_direct ARCH LOG TIMEOUT KERNEL INITRD DISK APPEND [EXPECT SEND]
#       Boot KERNEL + INITRD with DISK as the first virtio disk, console to
#       LOG. -no-reboot: a guest reboot or poweroff ends QEMU. With EXPECT
#       and SEND, SEND is typed on the console once LOG shows EXPECT.
#       Sets QEMU_RC (124: killed at TIMEOUT, i.e. the guest hung) and
#       QEMU_MS (wall time). QEMU_DRIVE_OPTS (env): more -drive options for
#       the disk, e.g. throttling.bps-write=N to make storage crawl.
#   check NAME CMD...        run CMD; print "ok - NAME" or "FAIL - NAME"
#   log_has LOG REGEX        grep -E in a console log (CR stripped)
#   checks_summary           "N passed, N failed"; returns non-zero if any failed

CHECKS_PASSED=0
CHECKS_FAILED=0
CHECKS_FAILED_LOGS=()

# QEMU_RC and QEMU_MS are results for the caller.
# shellcheck disable=SC2034
qemu_direct() {
  local arch=$1 log=$2 timeout_s=$3 kernel=$4 initrd=$5 disk=$6 append=$7 expect=${8:-} send=${9:-}
  local qemu
  case $arch in
    arm64) qemu=(qemu-system-aarch64 -M virt -cpu cortex-a57) ;;
    armhf) qemu=(qemu-system-arm -M virt -cpu cortex-a15) ;;
    *) echo "qemu_direct: unknown arch $arch" >&2; return 2 ;;
  esac
  # shellcheck disable=SC2054 # the commas belong to QEMU's option syntax
  qemu+=(-smp 1 -m 1024 -accel tcg -display none -serial stdio -monitor none -no-reboot
    -kernel "$kernel" -initrd "$initrd" -append "$append"
    -drive "if=none,id=hd0,format=raw,file=$disk${QEMU_DRIVE_OPTS:+,$QEMU_DRIVE_OPTS}" -device virtio-blk-device,drive=hd0
    -nic none)
  local start end
  start=$(date +%s%N)
  if [ -z "$expect" ]; then
    QEMU_RC=0
    timeout "$timeout_s" "${qemu[@]}" </dev/null >"$log" 2>&1 || QEMU_RC=$?
  else
    local fifo pid fd
    fifo=$(mktemp -u "${log}.in.XXXXXX")
    mkfifo "$fifo"
    : >"$log"
    timeout "$timeout_s" "${qemu[@]}" <"$fifo" >"$log" 2>&1 &
    pid=$!
    exec {fd}>"$fifo"
    local waited=0
    until tr -d '\r' <"$log" | grep -qE "$expect"; do
      sleep 0.2
      waited=$((waited + 1))
      if [ $waited -ge $((timeout_s * 5)) ] || ! kill -0 "$pid" 2>/dev/null; then break; fi
    done
    printf '%s\n' "$send" >&"$fd"
    QEMU_RC=0
    wait "$pid" || QEMU_RC=$?
    exec {fd}>&-
    rm -f "$fifo"
  fi
  end=$(date +%s%N)
  QEMU_MS=$(((end - start) / 1000000))
}

log_has() {
  tr -d '\r' <"$1" | grep -qE -- "$2"
}

check() {
  local name=$1
  shift
  if "$@"; then
    echo "ok - $name"
    CHECKS_PASSED=$((CHECKS_PASSED + 1))
  else
    echo "FAIL - $name"
    CHECKS_FAILED=$((CHECKS_FAILED + 1))
  fi
}

# Remember a log whose checks failed, to show its tail at the end.
note_failed_log() {
  CHECKS_FAILED_LOGS+=("$1")
}

checks_summary() {
  local log
  for log in "${CHECKS_FAILED_LOGS[@]}"; do
    echo "--- last console lines of $(basename "$log") ---"
    tr -d '\r' <"$log" | tail -n 40
  done
  echo "$CHECKS_PASSED passed, $CHECKS_FAILED failed"
  [ "$CHECKS_FAILED" -eq 0 ]
}
