# nooelint: oelint.spaces.lineend - the require is empty without the feature (meta-rauc does the same)
require ${@bb.utils.contains('DISTRO_FEATURES', 'uptree', 'libubootenv_uptree.inc', '', d)}
