require ${@bb.utils.contains('DISTRO_FEATURES', 'uptree', 'u-boot_uptree.inc', '', d)}
