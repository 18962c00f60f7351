SUMMARY = "uptree initramfs: uptree-init as /init"
DESCRIPTION = "The ramdisk every uptree deployment boots with: uptree-init finds the \
               root, sets up the deployment named by ostree= and switches to it. Installed by the \
               image class into /usr/lib/modules/<kver>/initramfs.img of the OS commit."
SECTION = "images"
LICENSE = "MIT"

PACKAGE_INSTALL = "uptree-init"
IMAGE_FEATURES = ""
IMAGE_LINGUAS = ""
PACKAGE_EXCLUDE = "kernel-image-*"
NO_RECOMMENDATIONS = "1"
IMAGE_NAME_SUFFIX ?= ""

# The boards' boot.scr passes the ramdisk as address:size, so a plain
# cpio.gz boots; UPTREE_INITRAMFS_UBOOT = "1" adds the legacy uImage
# wrapper (mkimage -T ramdisk) for a board script that needs one.
UPTREE_INITRAMFS_UBOOT ??= "0"
IMAGE_FSTYPES = "cpio.gz ${@oe.utils.conditional('UPTREE_INITRAMFS_UBOOT', '1', 'cpio.gz.u-boot', '', d)}"

inherit image

IMAGE_ROOTFS_SIZE = "8192"
IMAGE_ROOTFS_EXTRA_SPACE = "0"

# What U-Boot can load at ramdisk_addr_r before it overwrites the next
# thing it loads (KiB, compressed). Lower it in a bbappend for a board
# with a tighter memory map.
UPTREE_INITRAMFS_MAXSIZE ??= "32768"

uptree_initramfs_size_check[doc] = "Fails the build when the cpio.gz is over UPTREE_INITRAMFS_MAXSIZE"
python uptree_initramfs_size_check() {
    import os
    limit = int(d.getVar('UPTREE_INITRAMFS_MAXSIZE'))
    image = os.path.join(d.getVar('IMGDEPLOYDIR'), d.getVar('IMAGE_NAME') + d.getVar('IMAGE_NAME_SUFFIX') + '.cpio.gz')
    size = os.stat(image).st_size // 1024
    if size > limit:
        bb.fatal("uptree: %s is %d KiB, over UPTREE_INITRAMFS_MAXSIZE (%d KiB): U-Boot would "
                 "load it over what follows ramdisk_addr_r" % (image, size, limit))
    bb.note("uptree: initramfs %d KiB of %d KiB" % (size, limit))
}
IMAGE_POSTPROCESS_COMMAND += "uptree_initramfs_size_check"
