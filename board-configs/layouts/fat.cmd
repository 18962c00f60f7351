# FAT layout: no symlinks, so two self-contained slots /loader.0 and
# /loader.1. Each uEnv.txt starts with a fixed 0x28-byte header,
# "uptree_crc=<crc32 of the body, 8 hex>\nuptree_len=<body length, 8 hex>\n";
# the body has uptree_seq (decimal) and uptree_bootversion. The valid slot
# (complete, CRC matches, names itself) with the highest sequence wins; on
# a tie slot 0. uptree writes the inactive slot completely and its
# uEnv.txt last, so a pulled plug leaves the old slot the winner.
# The CRC check needs CONFIG_CRC32_VERIFY (in the board's uboot.config); a
# U-Boot without it is detected (the CRC of 0 bytes is 00000000) and only
# the length is checked, with a warning.
setenv uptree_bestseq
if crc32 -v ${kernel_addr_r} 0 00000000; then
  setenv uptree_crcv 1
else
  setenv uptree_crcv
  echo "uptree: WARNING: this U-Boot has no CONFIG_CRC32_VERIFY; slots are checked by length only"
fi
for uptree_s in 0 1; do
  setenv uptree_crc; setenv uptree_len; setenv uptree_seq; setenv uptree_bootversion; setenv uptree_valid
  if load ${devtype} ${uptree_part} ${kernel_addr_r} /loader.${uptree_s}/uEnv.txt; then
    env import -t ${kernel_addr_r} ${filesize} uptree_crc uptree_len uptree_seq uptree_bootversion
    if test -n "${uptree_len}" && test -n "${uptree_crc}" && test -n "${uptree_seq}" && test "${uptree_bootversion}" = "${uptree_s}"; then
      setexpr uptree_need ${uptree_len} + 0x28
      setexpr uptree_body ${kernel_addr_r} + 0x28
      if itest ${filesize} -ge ${uptree_need}; then
        if test -z "${uptree_crcv}"; then
          setenv uptree_valid 1
        elif crc32 -v ${uptree_body} ${uptree_len} ${uptree_crc}; then
          setenv uptree_valid 1
        fi
      fi
    fi
    if test -n "${uptree_valid}"; then
      if test -z "${uptree_bestseq}" || test ${uptree_seq} -gt ${uptree_bestseq}; then
        setenv uptree_found ${uptree_s}; setenv uptree_bestseq ${uptree_seq}
      fi
    else
      echo "uptree: /loader.${uptree_s}/uEnv.txt is not a complete slot (interrupted write?): ignored"
    fi
  fi
done
if test -n "${uptree_found}"; then
  echo "uptree: slot ${uptree_found}, sequence ${uptree_bestseq}"
  load ${devtype} ${uptree_part} ${kernel_addr_r} /loader.${uptree_found}/uEnv.txt
  env import -t ${kernel_addr_r} ${filesize}
fi
