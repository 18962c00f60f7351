SUMMARY = "uptree: OSTree-compatible OTA updates for U-Boot boards"
DESCRIPTION = "The uptree binary: repository verbs (commit, pull, summary, fsck) and \
               admin verbs (deploy, upgrade, mark-good) on an OSTree sysroot. uptree-native is the \
               build host's commit tool for the image class. uptree-agent runs the update daemon; \
               uptree-usb starts an update when a USB stick is plugged in."

require uptree.inc

inherit systemd update-rc.d

do_compile() {
    oe_cargo_build -p uptree
}

# The device binary aborts on panic (release profile), so nothing unwinds:
# the unwinder's lookup table (.eh_frame_hdr, about 110 KB) is left out, as
# in qemu-tests/lib/build.sh.
RUSTFLAGS:append:class-target = " -C link-arg=-Wl,--no-eh-frame-hdr"

# The build host's uptree makes static deltas (UPTREE_DELTA_FROM) and
# exports commits as tar files (`export`), and writes ostree's USB sticks
# (`create-usb`); the device's leaves these out to stay within its size budget.
do_compile:class-native() {
    oe_cargo_build -p uptree --features generate,tar,p2p
}

# The units come from the checkout's agent/dist/ as they are (one source
# for Yocto and every other distribution). uptree-usb@.service is a
# template that udev starts, so it is not enabled.
do_install:append:class-target() {
    dist=${S}/agent/dist
    install -d ${D}${docdir}/${BPN}
    install -m 0644 $dist/status.schema.json $dist/agent.conf ${D}${docdir}/${BPN}/
    if ${@bb.utils.contains('DISTRO_FEATURES', 'systemd', 'true', 'false', d)}; then
        install -d ${D}${systemd_system_unitdir} ${D}${nonarch_base_libdir}/udev/rules.d
        install -m 0644 $dist/uptree-agent.service $dist/uptree-usb@.service ${D}${systemd_system_unitdir}/
        install -m 0644 $dist/90-uptree-usb.rules ${D}${nonarch_base_libdir}/udev/rules.d/
    fi
    if ${@bb.utils.contains('DISTRO_FEATURES', 'sysvinit', 'true', 'false', d)}; then
        install -d ${D}${sysconfdir}/init.d ${D}${libexecdir}/${BPN} ${D}${datadir}/${BPN}
        install -m 0755 $dist/uptree-agent.init ${D}${sysconfdir}/init.d/uptree-agent
        install -m 0755 $dist/uptree-usb-mdev ${D}${libexecdir}/${BPN}/
        install -m 0644 $dist/mdev-uptree-usb.conf ${D}${datadir}/${BPN}/
    fi
}

PACKAGES =+ "${PN}-agent ${PN}-usb"

SYSTEMD_PACKAGES = "${PN}-agent"
SYSTEMD_SERVICE:${PN}-agent = "uptree-agent.service"
INITSCRIPT_PACKAGES = "${PN}-agent"
INITSCRIPT_NAME:${PN}-agent = "uptree-agent"
INITSCRIPT_PARAMS:${PN}-agent = "start 90 2 3 4 5 . stop 10 0 1 6 ."

FILES:${PN}-agent += "${systemd_system_unitdir}/uptree-agent.service ${sysconfdir}/init.d/uptree-agent"
FILES:${PN}-usb += "${systemd_system_unitdir}/uptree-usb@.service \
                    ${nonarch_base_libdir}/udev/rules.d/90-uptree-usb.rules \
                    ${libexecdir}/${BPN} \
                    ${datadir}/${BPN}/mdev-uptree-usb.conf \
"
RDEPENDS:${PN}-agent = "${PN}"
# uptree-usb@.service runs /usr/bin/flock. Without systemd the hook is
# an mdev line (busybox, which has flock and logger): the postinst puts
# the line of mdev-uptree-usb.conf at the top of /etc/mdev.conf, before
# its own sd* line (mdev stops at the first match; see the file).
RDEPENDS:${PN}-usb = "${PN} ${@bb.utils.contains('DISTRO_FEATURES', 'systemd', 'util-linux-flock', 'busybox-mdev', d)}"

pkg_postinst:${PN}-usb() {
    conf="$D"${sysconfdir}/mdev.conf
    lines="$D"${datadir}/${BPN}/mdev-uptree-usb.conf
    if [ -f "$lines" ] && [ -f "$conf" ] && ! grep -q uptree-usb-mdev "$conf"; then
        { grep -v '^#' "$lines"; cat "$conf"; } >"$conf.uptree"
        mv "$conf.uptree" "$conf"
    fi
}

pkg_postrm:${PN}-usb() {
    conf="$D"${sysconfdir}/mdev.conf
    if [ -f "$conf" ] && grep -q uptree-usb-mdev "$conf"; then
        grep -v uptree-usb-mdev "$conf" >"$conf.uptree"
        mv "$conf.uptree" "$conf"
    fi
}

RDEPENDS:${PN}:append:class-target = " uptree-conf"
# The daemon and the stick hook come with uptree unless a build leaves
# them out (BAD_RECOMMENDATIONS); on images without systemd the stick
# hook needs mdev as the device manager.
RRECOMMENDS:${PN}:append:class-target = " ${PN}-agent ${@uptree_usb_recommended(d)}"

def uptree_usb_recommended(d):
    if bb.utils.contains('DISTRO_FEATURES', 'systemd', True, False, d) or \
       d.getVar('VIRTUAL-RUNTIME_dev_manager') == 'busybox-mdev':
        return d.expand('${PN}-usb')
    return ''


BBCLASSEXTEND = "native"
