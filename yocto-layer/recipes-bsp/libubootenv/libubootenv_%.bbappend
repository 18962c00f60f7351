require ${@bb.utils.contains('DISTRO_FEATURES', 'uptree', 'libubootenv_uptree.inc', '', d)}
