SUMMARY = "uptree: OSTree-compatible OTA updates for U-Boot boards"
DESCRIPTION = "The uptree binary: repository verbs (commit, pull, summary, fsck) and \
               admin verbs (deploy, upgrade, mark-good) on an OSTree sysroot. uptree-native is the \
               build host's commit tool for the image class."

require uptree.inc

do_compile() {
    oe_cargo_build -p uptree
}

RDEPENDS:${PN}:append:class-target = " uptree-conf"

BBCLASSEXTEND = "native"
