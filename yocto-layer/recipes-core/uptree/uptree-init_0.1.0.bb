SUMMARY = "uptree-init: the initramfs /init that boots an uptree deployment"
DESCRIPTION = "Finds the root device, mounts the deployment named by ostree= on the \
               kernel command line (read-only /usr, the stateroot's /var, /sysroot) and switches to \
               it; on any failure it says what failed and reboots so U-Boot counts the attempt."

require uptree.inc

do_compile() {
    oe_cargo_build -p uptree-init
}

do_install:append() {
    # The initramfs runs it as /init.
    ln -sf ${bindir}/uptree-init ${D}/init
}

FILES:${PN} += "/init"
