SUMMARY = "uptree: the board's runtime configuration"
DESCRIPTION = "Trusted update keys, health checks run by mark-good, the update agent's \
               settings (/etc/uptree/agent.conf), the mount of the \
               U-Boot environment partition and the mark-good service (systemd or sysvinit). \
               fw_env.config comes from libubootenv (one file for fw_printenv and uptree). \
               Customise with a uptree-conf.bbappend; every setting has a ??= default."
SECTION = "admin"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COREBASE}/meta/COPYING.MIT;md5=3da9cfbcb788c80a0384361b4de20420"

require conf/uptree-boards.inc

# ed25519 public keys (base64, one a line) that updates must be signed
# with: a file from SRC_URI (set in a bbappend). Empty: the remote is
# added unverified by the image class, and this recipe warns.
UPTREE_TRUSTED_KEYS_FILE ??= ""
# Executables from SRC_URI installed into /etc/uptree/health-check.d;
# `uptree admin mark-good` runs them all in name order before it ends
# boot counting.
UPTREE_HEALTH_CHECKS ??= ""
# Seconds each health check may take.
UPTREE_HEALTH_TIMEOUT ??= "60"
# Where Linux mounts the partition holding uboot.env (from board.conf).
UPTREE_ENV_MOUNT ??= "${@uptree_board_value(d, 'env_mount')}"
# The boot partition's file-system label (written by the image script).
UPTREE_BOOT_LABEL ??= "UPTREE-BOOT"

# /etc/uptree/agent.conf, [agent] group: the settings of `uptree agent`
# (uptree-agent.service / init script) and `uptree usb-update` (the USB
# stick hook). Keys and defaults as in agent/dist/agent.conf and the
# top-level README.md, "Unattended updates".
# Time between rounds: seconds, or 90s, 15m, 6h, 1d.
UPTREE_AGENT_INTERVAL ??= "6h"
# Up to this much random delay is added to every wait.
UPTREE_AGENT_JITTER ??= "15m"
# Maintenance window for reboots, local time HH:MM-HH:MM (may span
# midnight); empty: none.
UPTREE_AGENT_WINDOW ??= ""
# After deploying an update: never (leave it pending), immediate, window
# (needs UPTREE_AGENT_WINDOW).
UPTREE_AGENT_REBOOT ??= "never"
# Take updates from USB sticks: true or false (usb-update refuses when
# false; the hook itself is the uptree-usb package).
UPTREE_AGENT_USB ??= "true"
# Extra trusted ed25519 keys for sticks (base64 public keys, or absolute
# paths of key files), ';'-separated: the keys of UPTREE_TRUSTED_KEYS_FILE
# when it is set.
UPTREE_AGENT_TRUSTED_KEYS ??= "${@'${sysconfdir}/uptree/trusted.ed25519' if d.getVar('UPTREE_TRUSTED_KEYS_FILE') else ''}"
# Refuse to start a pull with less free space than this (64M, 1G).
UPTREE_AGENT_MIN_FREE_SPACE ??= "64M"

SRC_URI = "file://uptree-mark-good.service \
           file://uptree-mark-good.init \
           ${@' '.join('file://' + f for f in (d.getVar('UPTREE_TRUSTED_KEYS_FILE') + ' ' + d.getVar('UPTREE_HEALTH_CHECKS')).split())} \
"

inherit systemd update-rc.d

PACKAGE_ARCH = "${MACHINE_ARCH}"
INHIBIT_DEFAULT_DEPS = "1"
do_configure[noexec] = "1"
do_compile[noexec] = "1"

def uptree_board_value(d, key):
    import configparser, os
    conf = os.path.join(d.getVar('UPTREE_BOARD_DIR'), 'board.conf')
    p = configparser.ConfigParser(interpolation=None)
    if not p.read(conf):
        return ''
    for section in p.sections():
        if p.has_option(section, key):
            return p.get(section, key)
    return ''

SYSTEMD_SERVICE:${PN} = "uptree-mark-good.service"
INITSCRIPT_NAME = "uptree-mark-good"
INITSCRIPT_PARAMS = "start 99 2 3 4 5 ."

do_install() {
    install -d ${D}${sysconfdir}/uptree/health-check.d
    write_agent_conf ${D}${sysconfdir}/uptree/agent.conf
    for f in ${UPTREE_HEALTH_CHECKS}; do
        install -m 0755 ${WORKDIR}/$f ${D}${sysconfdir}/uptree/health-check.d/
    done
    if [ -n "${UPTREE_TRUSTED_KEYS_FILE}" ]; then
        install -m 0644 ${WORKDIR}/${UPTREE_TRUSTED_KEYS_FILE} ${D}${sysconfdir}/uptree/trusted.ed25519
    else
        bbwarn "uptree-conf: UPTREE_TRUSTED_KEYS_FILE is empty: this image accepts unsigned updates"
    fi
    install -d ${D}${UPTREE_ENV_MOUNT}
    if ${@bb.utils.contains('DISTRO_FEATURES', 'systemd', 'true', 'false', d)}; then
        install -d ${D}${systemd_system_unitdir}
        sed -e 's,@BINDIR@,${bindir},g' -e 's,@ENV_MOUNT@,${UPTREE_ENV_MOUNT},g' \
            -e 's,@TIMEOUT@,${UPTREE_HEALTH_TIMEOUT},g' \
            ${WORKDIR}/uptree-mark-good.service >${D}${systemd_system_unitdir}/uptree-mark-good.service
        # systemd's unit name for the mount point (systemd-escape --path).
        unit=$(echo "${UPTREE_ENV_MOUNT}" | sed -e 's,^/,,' -e 's,/,-,g')
        printf '[Unit]\nDescription=U-Boot environment partition\n\n[Mount]\nWhat=LABEL=%s\nWhere=%s\nType=vfat\n\n[Install]\nWantedBy=local-fs.target\n' \
            "${UPTREE_BOOT_LABEL}" "${UPTREE_ENV_MOUNT}" >"${D}${systemd_system_unitdir}/$unit.mount"
    fi
    if ${@bb.utils.contains('DISTRO_FEATURES', 'sysvinit', 'true', 'false', d)}; then
        install -d ${D}${sysconfdir}/init.d
        sed -e 's,@BINDIR@,${bindir},g' -e 's,@ENV_MOUNT@,${UPTREE_ENV_MOUNT},g' \
            -e 's,@BOOT_LABEL@,${UPTREE_BOOT_LABEL},g' -e 's,@TIMEOUT@,${UPTREE_HEALTH_TIMEOUT},g' \
            ${WORKDIR}/uptree-mark-good.init >${D}${sysconfdir}/init.d/uptree-mark-good
        chmod 0755 ${D}${sysconfdir}/init.d/uptree-mark-good
    fi
}

# The agent reads nothing else: a key it does not know is an error there,
# so only its keys are written (window and trusted-keys only when set).
write_agent_conf() {
    case "${UPTREE_AGENT_REBOOT}" in
    never | immediate) ;;
    window) [ -n "${UPTREE_AGENT_WINDOW}" ] || bbfatal "uptree-conf: UPTREE_AGENT_REBOOT = \"window\" needs UPTREE_AGENT_WINDOW (HH:MM-HH:MM)" ;;
    *) bbfatal "uptree-conf: UPTREE_AGENT_REBOOT must be never, immediate or window, not '${UPTREE_AGENT_REBOOT}'" ;;
    esac
    case "${UPTREE_AGENT_USB}" in
    true | false) ;;
    *) bbfatal "uptree-conf: UPTREE_AGENT_USB must be true or false, not '${UPTREE_AGENT_USB}'" ;;
    esac
    {
        echo "# GENERATED by uptree-conf (UPTREE_AGENT_* variables); keys: agent/dist/agent.conf."
        echo "[agent]"
        echo "interval=${UPTREE_AGENT_INTERVAL}"
        echo "jitter=${UPTREE_AGENT_JITTER}"
        if [ -n "${UPTREE_AGENT_WINDOW}" ]; then
            echo "window=${UPTREE_AGENT_WINDOW}"
        fi
        echo "reboot=${UPTREE_AGENT_REBOOT}"
        echo "usb=${UPTREE_AGENT_USB}"
        if [ -n "${UPTREE_AGENT_TRUSTED_KEYS}" ]; then
            echo "trusted-keys=${UPTREE_AGENT_TRUSTED_KEYS}"
        fi
        echo "min-free-space=${UPTREE_AGENT_MIN_FREE_SPACE}"
    } >"$1"
    chmod 0644 "$1"
}

FILES:${PN} += "${UPTREE_ENV_MOUNT} ${systemd_system_unitdir}"
RDEPENDS:${PN} += "libubootenv-bin"
