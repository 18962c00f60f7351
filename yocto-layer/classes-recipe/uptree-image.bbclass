# uptree-image: an image recipe's rootfs becomes an uptree (OSTree) commit
# in a persistent archive repository, and a flashable disk whose U-Boot
# boots that commit's first deployment through uptree-init.
#
# Use: in the image recipe (with DISTRO_FEATURES "uptree" and "usrmerge"):
#
#   inherit uptree-image
#
# Outputs in DEPLOY_DIR_IMAGE: ${IMAGE_LINK_NAME}.wic (the disk: FAT boot
# partition + ext4 sysroot), and the commit in UPTREE_REPO (put that
# folder on the update server as it is: objects/, refs/, summary).
#
# Variables (all ??= defaults; set them in local.conf, the distro or the
# image recipe):
#
#   UPTREE_BOARD           board-configs/ folder; default from MACHINE
#                          (conf/uptree-boards.inc)
#   UPTREE_REPO            the archive repo, kept outside tmp/ so the
#                          history (parents, deltas) survives a clean
#                          build: ${TOPDIR}/uptree-repo
#   UPTREE_BRANCH          the ref: ${DISTRO}/${MACHINE}/${IMAGE_BASENAME}
#   UPTREE_OS              stateroot name on the device: ${DISTRO}
#   UPTREE_COMMIT_SUBJECT  commit subject: ${IMAGE_NAME}
#   UPTREE_COMMIT_VERSION  "version" metadata: ${DISTRO_VERSION}
#   UPTREE_SIGN_KEY        file of base64 ed25519 secret keys (one a
#                          line): signs the commit and the summary; empty
#                          = unsigned (warned)
#   UPTREE_DELTA_FROM      a static delta to each new commit, put in the
#                          repo and listed in its summary: "parent" (the
#                          default) from the commit before it on the
#                          branch (none for the first commit), or a
#                          commit/ref (the release the devices run); empty
#                          = no delta. Not signed (ostree's pull reads
#                          plain superblocks only); the commit's signature
#                          covers its content.
#   UPTREE_REMOTE_NAME     the remote the device updates from: origin
#   UPTREE_REMOTE_URL      its URL (required; the sanity class warns)
#   UPTREE_REMOTE_SETS     extra remote options, K=V (e.g. tls-ca-path=…)
#   UPTREE_USERS           where system users go: "altfiles"
#                          (/usr/lib/passwd, needs nss-altfiles),
#                          "sysusers" (systemd-sysusers; the default on
#                          systemd) or "keep" (/etc only)
#   UPTREE_INITRAMFS_IMAGE initramfs recipe: uptree-initramfs-image
#   UPTREE_DTBS            device trees put beside the kernel: the
#                          basenames of KERNEL_DEVICETREE
#   UPTREE_DEFAULT_ENV     U-Boot's default environment (text), under the
#                          board's variables in uboot.env:
#                          ${DEPLOY_DIR_IMAGE}/u-boot-initial-env
#   UPTREE_BOOT_FILES      files from DEPLOY_DIR_IMAGE the BSP needs on the
#                          boot partition ("src" or "src;dst", globs in
#                          src, dst ending in / is a folder), e.g. MLO and
#                          u-boot.img, the Raspberry Pi firmware:
#                          ${IMAGE_BOOT_FILES}
#
# SOURCE_DATE_EPOCH is the commit time (reproducible builds). The shell
# steps are yocto-layer/scripts/uptree-image.sh, the script the QEMU tests
# build their disks with; wic packs its two folders (wic/uptree.wks.in).

require conf/uptree-boards.inc

UPTREE_REPO ??= "${TOPDIR}/uptree-repo"
UPTREE_BRANCH ??= "${DISTRO}/${MACHINE}/${IMAGE_BASENAME}"
UPTREE_OS ??= "${DISTRO}"
UPTREE_COMMIT_SUBJECT ??= "${IMAGE_NAME}"
UPTREE_COMMIT_VERSION ??= "${DISTRO_VERSION}"
UPTREE_SIGN_KEY ??= ""
UPTREE_DELTA_FROM ??= "parent"
UPTREE_REMOTE_NAME ??= "origin"
UPTREE_REMOTE_URL ??= ""
UPTREE_REMOTE_SETS ??= ""
UPTREE_USERS ??= "${@bb.utils.contains('DISTRO_FEATURES', 'systemd', 'sysusers', 'altfiles', d)}"
UPTREE_INITRAMFS_IMAGE ??= "uptree-initramfs-image"
UPTREE_DTBS ??= "${@' '.join(os.path.basename(f) for f in (d.getVar('KERNEL_DEVICETREE') or '').split())}"
UPTREE_DEFAULT_ENV ??= "${DEPLOY_DIR_IMAGE}/u-boot-initial-env"
IMAGE_BOOT_FILES ??= ""
UPTREE_BOOT_FILES ??= "${IMAGE_BOOT_FILES}"

UPTREE_SCRIPT = "${UPTREE_TOPDIR}/yocto-layer/scripts/uptree-image.sh"
UPTREE_TREE = "${WORKDIR}/uptree-tree"
# The two partitions' contents: uptree-parts/boot (FAT), uptree-parts/root.
UPTREE_PARTS = "${WORKDIR}/uptree-parts"

inherit features_check
REQUIRED_DISTRO_FEATURES += "uptree usrmerge"

IMAGE_INSTALL:append = " uptree uptree-conf"
IMAGE_TYPES += "uptree"
IMAGE_FSTYPES += "uptree wic"
# ?=: image_types_wic, inherited after this class, has a ??= default.
WKS_FILE ?= "uptree.wks.in"
WKS_FILE_DEPENDS:append = " dosfstools-native mtools-native e2fsprogs-native"
# nooelint: oelint.vars.specific,oelint.vars.overrideappend - wic is an image type (oe-core writes it so)
IMAGE_TYPEDEP:wic += "uptree"

PSEUDO_INCLUDE_PATHS .= ",${UPTREE_TREE},${UPTREE_PARTS}"

do_image_uptree[depends] += " \
    uptree-native:do_populate_sysroot \
    u-boot-tools-native:do_populate_sysroot \
    virtual/kernel:do_deploy \
    virtual/kernel:do_shared_workdir \
    virtual/bootloader:do_deploy \
    ${UPTREE_INITRAMFS_IMAGE}:do_image_complete \
"
do_image_uptree[file-checksums] += "${UPTREE_SCRIPT}:True ${UPTREE_BOARD_DIR}/board.conf:True"
do_image_uptree[cleandirs] = "${UPTREE_TREE} ${UPTREE_PARTS}"
# The repo is history, not output: it must not be wiped or tracked.
do_image_uptree[vardepsexclude] += "UPTREE_REPO"

do_image_uptree[doc] = "Commits IMAGE_ROOTFS to UPTREE_REPO and writes the sysroot and boot files for wic"
# nooelint: oelint.task.docstrings - the task is do_image_uptree (its [doc] above)
IMAGE_CMD:uptree() {
    kver=$(cat ${STAGING_KERNEL_BUILDDIR}/kernel-abiversion)
    dtb_args=""
    for f in ${UPTREE_DTBS}; do
        dtb_args="$dtb_args --dtb ${DEPLOY_DIR_IMAGE}/$f"
    done
    # shellcheck disable=SC2086 # $dtb_args is a word list
    bash ${UPTREE_SCRIPT} rootfs ${IMAGE_ROOTFS} ${UPTREE_TREE} --users ${UPTREE_USERS} \
        --kver "$kver" --kernel ${DEPLOY_DIR_IMAGE}/${KERNEL_IMAGETYPE} \
        --initramfs ${DEPLOY_DIR_IMAGE}/${UPTREE_INITRAMFS_IMAGE}-${MACHINE}.cpio.gz $dtb_args

    sign_args=""
    if [ -n "${UPTREE_SIGN_KEY}" ]; then
        sign_args="--sign-key ${UPTREE_SIGN_KEY}"
    else
        bbwarn "uptree: UPTREE_SIGN_KEY is empty: ${UPTREE_BRANCH} is committed unsigned"
    fi
    delta_args=""
    if [ -n "${UPTREE_DELTA_FROM}" ]; then
        delta_args="--delta-from ${UPTREE_DELTA_FROM}"
    fi
    # shellcheck disable=SC2086 # $sign_args and $delta_args are word lists
    bash ${UPTREE_SCRIPT} commit --uptree ${STAGING_BINDIR_NATIVE}/uptree --repo ${UPTREE_REPO} \
        --branch ${UPTREE_BRANCH} --subject "${UPTREE_COMMIT_SUBJECT}" \
        --version "${UPTREE_COMMIT_VERSION}" $sign_args $delta_args ${UPTREE_TREE}

    remote_args=""
    if [ -n "${UPTREE_REMOTE_URL}" ]; then
        remote_args="--remote ${UPTREE_REMOTE_NAME}=${UPTREE_REMOTE_URL}"
        for s in ${UPTREE_REMOTE_SETS}; do
            remote_args="$remote_args --remote-set $s"
        done
    fi
    # shellcheck disable=SC2086 # $remote_args is a word list
    bash ${UPTREE_SCRIPT} sysroot --uptree ${STAGING_BINDIR_NATIVE}/uptree --board ${UPTREE_BOARD} \
        --repo ${UPTREE_REPO} --ref ${UPTREE_BRANCH} --os ${UPTREE_OS} --out ${UPTREE_PARTS} \
        --default-env ${UPTREE_DEFAULT_ENV} $remote_args

    # The BSP's own boot files (first-stage loaders, firmware) beside
    # boot.scr and uboot.env, as wic's bootimg-partition would place them.
    for entry in ${UPTREE_BOOT_FILES}; do
        src=${entry%%;*}
        dst=${entry#*;}
        [ "$dst" != "$entry" ] || dst=$(basename "$src")
        case $dst in
        boot.scr | uboot.env)
            # The board's own (meta-raspberrypi lists its boot.scr here).
            bbnote "uptree: UPTREE_BOOT_FILES: $entry skipped, the board's $dst is used"
            continue
            ;;
        esac
        found=""
        for f in ${DEPLOY_DIR_IMAGE}/$src; do
            [ -e "$f" ] || continue
            found=1
            case $dst in
            */) install -D -m 0644 "$f" "${UPTREE_PARTS}/boot/$dst$(basename "$f")" ;;
            *) install -D -m 0644 "$f" "${UPTREE_PARTS}/boot/$dst" ;;
            esac
        done
        [ -n "$found" ] || bbfatal "uptree: UPTREE_BOOT_FILES: no ${DEPLOY_DIR_IMAGE}/$src"
    done
}
