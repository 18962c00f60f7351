# Sanity checks for the uptree layer, run once per build (SanityCheck
# event): nothing here touches a recipe, so task signatures do not change.
#
#   UPTREE_SKIP_FEATURE_CHECK = "1"   silence the "not enabled" warning
#                                     (a build that carries the layer but
#                                     does not use it on purpose)

addhandler uptree_sanity_check
uptree_sanity_check[eventmask] = "bb.event.SanityCheck"
uptree_sanity_check[doc] = "Warns when the uptree layer is present but not enabled, or settings are missing"
python uptree_sanity_check() {
    d = e.data
    if 'uptree' not in (d.getVar('DISTRO_FEATURES') or '').split():
        if d.getVar('UPTREE_SKIP_FEATURE_CHECK') != '1':
            bb.warn("The uptree layer is in BBLAYERS but 'uptree' is not in DISTRO_FEATURES, "
                    "so it does nothing. Add DISTRO_FEATURES:append = \" uptree\" (see "
                    "yocto-layer/README.md) or set UPTREE_SKIP_FEATURE_CHECK = \"1\".")
        return
    missing = []
    if 'usrmerge' not in (d.getVar('DISTRO_FEATURES') or '').split():
        missing.append("DISTRO_FEATURES has no 'usrmerge' (an OSTree deployment is /usr plus /etc; "
                       "the image class refuses a rootfs without UsrMove)")
    if not d.getVar('UPTREE_BOARD'):
        missing.append("UPTREE_BOARD is not set and MACHINE '%s' has no default board "
                       "(one of the folders in board-configs/)" % d.getVar('MACHINE'))
    else:
        conf = os.path.join(d.getVar('UPTREE_TOPDIR'), 'board-configs', d.getVar('UPTREE_BOARD'), 'board.conf')
        if not os.path.isfile(conf):
            missing.append("UPTREE_BOARD '%s' has no %s" % (d.getVar('UPTREE_BOARD'), conf))
    if not d.getVar('UPTREE_REMOTE_URL'):
        missing.append("UPTREE_REMOTE_URL is not set: devices get no update remote")
    for m in missing:
        bb.warn("uptree: " + m)
}
