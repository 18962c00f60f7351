# ostree layout: /boot is a directory of the root filesystem, and the
# switch is the rename of boot/loader -> loader.N (U-Boot's ext4 follows
# the link). uEnv.txt is ostree's own.
if load ${devtype} ${uptree_part} ${kernel_addr_r} /boot/loader/uEnv.txt; then
  env import -t ${kernel_addr_r} ${filesize}
  setenv uptree_found 1
fi
