#!/usr/bin/env python3
"""Generate each board's U-Boot files from its board.conf and the shared
templates. The outputs are committed, so a review shows exactly what a
board boots with; `--check` (run by the tests) fails when they are stale.

  generate.py [BOARD...]              regenerate (all boards by default)
  generate.py --check [BOARD...]      exit 1 if a generated file is stale
  generate.py --mkimage OUT [BOARD...]  boot.scr for each board into OUT/BOARD/
  generate.py --get BOARD KEY         print one board.conf value (for scripts)
  generate.py --env-image OUT --board B [--default-env FILE]
        uboot.env for board B: U-Boot's default environment (the text of
        `make u-boot-initial-env`) overlaid with the board's uboot-env.txt,
        packed by mkenvimage. An env image replaces the default
        environment, so without --default-env only the board's variables
        are in it. A redundant board also gets uboot-redund.env next to
        OUT (the same variables, the older flag). Prints the files written.

Per board (BOARD/):
  board.conf       the only hand-written file
  boot.cmd         the boot script (boot.cmd.in + layouts/LAYOUT.cmd)
  uboot-env.txt    variables the board's U-Boot environment must have
  uboot.config     U-Boot Kconfig fragment (boot counting, env on FAT)
  fw_env.config    for Linux (fw_printenv, uptree's boot counting)
"""
import argparse
import configparser
import hashlib
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = os.path.join(HERE, "boot.cmd.in")

# Every key a board.conf may have; None means required.
SCHEMA = {
    "board": {"arch": None, "description": None, "kargs": ""},
    "boot": {
        "layout": None, "interface": None, "device": None, "boot_partition": None,
        "root_partition": None, "fdt_builtin": None, "boot_targets": None, "bootdelay": "2",
    },
    "bootcount": {"bootlimit": None},
    "uboot": {
        "defconfig": None, "cross_compile": None, "env_size": None, "env_mount": None, "preboot": "",
        "env_redundant": "yes",
    },
}
ARCHES = {"arm64": ("arm64", "booti"), "arm": ("arm", "bootz")}
LAYOUTS = ("ostree", "fat")
# The environment's files on the FAT boot partition: copy 0, and copy 1
# of a redundant environment (U-Boot's CONFIG_ENV_FAT_FILE_REDUND).
ENV_FILES = ("uboot.env", "uboot-redund.env")


class BoardError(Exception):
    pass


def boards():
    return sorted(d for d in os.listdir(HERE) if os.path.isfile(os.path.join(HERE, d, "board.conf")))


def load_board(name):
    path = os.path.join(HERE, name, "board.conf")
    cp = configparser.ConfigParser(interpolation=None)
    if not cp.read(path):
        raise BoardError(f"{path}: cannot read")
    conf = {}
    for section in cp.sections():
        if section not in SCHEMA:
            raise BoardError(f"{path}: unknown section [{section}]")
    for section, keys in SCHEMA.items():
        for key in cp[section] if cp.has_section(section) else []:
            if key not in keys:
                raise BoardError(f"{path}: unknown key {key} in [{section}]")
        for key, default in keys.items():
            value = cp.get(section, key, fallback=default)
            if value is None:
                raise BoardError(f"{path}: [{section}] {key} is required")
            conf[key] = value.strip()
    if conf["arch"] not in ARCHES:
        raise BoardError(f"{path}: arch must be one of {', '.join(ARCHES)}")
    if conf["layout"] not in LAYOUTS:
        raise BoardError(f"{path}: layout must be one of {', '.join(LAYOUTS)}")
    for key in ("device", "boot_partition", "root_partition", "bootlimit", "bootdelay"):
        if not conf[key].isdigit():
            raise BoardError(f"{path}: {key} must be a decimal number")
    int(conf["env_size"], 0)
    if conf["env_redundant"] not in ("yes", "no"):
        raise BoardError(f"{path}: env_redundant must be yes or no")
    if not conf["env_mount"].startswith("/"):
        raise BoardError(f"{path}: env_mount must be an absolute path")
    return conf


def join_quoted_blocks(text):
    """`setenv NAME '` … `'` spanning lines becomes one line: `run` of a
    multi-line variable is not something every U-Boot parses the same way."""
    out, block = [], None
    for line in text.splitlines():
        if block is not None:
            block.append(line.strip())
            if line.rstrip().endswith("'"):
                out.append(" ".join(b for b in block if b))
                block = None
        elif line.rstrip().endswith("'") and line.count("'") == 1:
            block = [line.rstrip()]
        else:
            out.append(line)
    if block is not None:
        raise BoardError("boot.cmd.in: unterminated quoted block")
    return "\n".join(out) + "\n"


def template():
    with open(TEMPLATE) as f:
        text = f.read()
    first, _, body = text.partition("\n")
    prefix = "#!uptree-template-version: "
    if not first.startswith(prefix) or not first[len(prefix):].isdigit():
        raise BoardError(f"{TEMPLATE}: first line must be '{prefix}N'")
    return int(first[len(prefix):]), body, hashlib.sha256(text.encode()).hexdigest()


def render(name, conf):
    version, body, _ = template()
    # mkimage keeps 32 bytes of an image name (IH_NMLEN) and the check of
    # boot.scr looks for the whole of it.
    if len(image_name(version, name)) > 32:
        raise BoardError(f"{name}: board name too long for the boot.scr image name {image_name(version, name)!r} (32 bytes)")
    with open(os.path.join(HERE, "layouts", conf["layout"] + ".cmd")) as f:
        choose = f.read().rstrip("\n")
    entry_part = conf["root_partition"] if conf["layout"] == "ostree" else conf["boot_partition"]
    subst = {
        "@VERSION@": str(version), "@BOARD@": name, "@LAYOUT@": conf["layout"],
        "@IFACE@": conf["interface"], "@DEVNUM@": conf["device"], "@ENTRY_PART@": entry_part,
        "@CHOOSE@": choose, "@FDT_BUILTIN@": conf["fdt_builtin"], "@BOOTCMD@": ARCHES[conf["arch"]][1],
    }
    for k, v in subst.items():
        body = body.replace(k, v)
    if "@" in "".join(line for line in body.splitlines() if not line.startswith("#")):
        raise BoardError(f"{name}: unreplaced placeholder in boot.cmd")
    boot_cmd = join_quoted_blocks(body)

    env = [
        f"bootlimit={conf['bootlimit']}",
        "altbootcmd=setenv uptree_fallback 1; run bootcmd",
        "upgrade_available=0",
        "bootcount=0",
        f"boot_targets={conf['boot_targets']}",
        f"bootdelay={conf['bootdelay']}",
        f"uptree_board={name}",
    ]
    if conf["preboot"]:
        env.append(f"preboot={conf['preboot']}")
    uboot_env = "".join(line + "\n" for line in env)

    env_size = int(conf["env_size"], 0)
    redundant = conf["env_redundant"] == "yes"
    iface, dev, part = conf["interface"], conf["device"], conf["boot_partition"]
    frag = [
        f"# U-Boot config fragment for {name}: append to {conf['defconfig']}, then make olddefconfig.",
        "# GENERATED by board-configs/generate.py from board.conf: do not edit.",
        "CONFIG_ENV_IS_IN_FAT=y",
        "# CONFIG_ENV_IS_IN_FLASH is not set",
        "# CONFIG_ENV_IS_IN_MMC is not set",
        f'CONFIG_ENV_FAT_INTERFACE="{iface}"',
        f'CONFIG_ENV_FAT_DEVICE_AND_PART="{dev}:{part}"',
        f'CONFIG_ENV_FAT_FILE="{ENV_FILES[0]}"',
    ]
    if redundant:
        frag += ["CONFIG_SYS_REDUNDAND_ENVIRONMENT=y", f'CONFIG_ENV_FAT_FILE_REDUND="{ENV_FILES[1]}"']
    frag += [
        f"CONFIG_ENV_SIZE={env_size:#x}",
        "CONFIG_FAT_WRITE=y",
        "CONFIG_BOOTCOUNT_LIMIT=y",
        "CONFIG_BOOTCOUNT_ENV=y",
        f"CONFIG_BOOTDELAY={conf['bootdelay']}",
        "CONFIG_CMD_NVEDIT_LOAD=y",
        "CONFIG_CMD_IMPORTENV=y",
        "CONFIG_CMD_CRC32=y",
        "CONFIG_CRC32_VERIFY=y",
        "CONFIG_CMD_SETEXPR=y",
        "CONFIG_CMD_ITEST=y",
    ]
    if conf["preboot"]:
        frag += ["CONFIG_USE_PREBOOT=y", f'CONFIG_PREBOOT="{conf["preboot"]}"']
    uboot_config = "".join(line + "\n" for line in frag)

    copies = ENV_FILES if redundant else ENV_FILES[:1]
    fw_env = (
        f"# fw_env.config for {name} (libubootenv / uptree): the environment,\n"
        f"# {'two copies (redundant), as files' if redundant else 'one copy, as a file'} on the FAT boot partition mounted at {conf['env_mount']}.\n"
        "# GENERATED by board-configs/generate.py from board.conf: do not edit.\n"
        + "".join(f"{conf['env_mount'].rstrip('/')}/{f} 0x0000 {env_size:#x}\n" for f in copies)
    )
    return {"boot.cmd": boot_cmd, "uboot-env.txt": uboot_env, "uboot.config": uboot_config, "fw_env.config": fw_env}


def image_name(version, name):
    return f"uptree boot v{version} {name}"


def write_atomic(path, text):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def mkimage(name, conf, out):
    arch = ARCHES[conf["arch"]][0]
    version, _, _ = template()
    dest = os.path.join(out, name)
    os.makedirs(dest, exist_ok=True)
    scr = os.path.join(dest, "boot.scr")
    src = os.path.join(HERE, name, "boot.cmd")
    subprocess.run(["mkimage", "-A", arch, "-O", "linux", "-T", "script", "-C", "none",
                    "-n", image_name(version, name), "-d", src, scr],
                   check=True, stdout=subprocess.DEVNULL)
    listing = subprocess.run(["dumpimage", "-l", scr], check=True, capture_output=True, text=True).stdout
    if "Script" not in listing or image_name(version, name) not in listing:
        raise BoardError(f"{scr}: dumpimage does not see the script:\n{listing}")
    return scr


def parse_env_text(text, what):
    env = {}
    for line in text.replace("\0", "\n").splitlines():
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise BoardError(f"{what}: not name=value: {line!r}")
        k, v = line.split("=", 1)
        env[k] = v
    return env


def env_image(name, conf, out, default_env):
    """Writes the environment file(s) and returns their paths: `out`, and
    for a redundant environment ENV_FILES[1] next to it. Both copies hold
    the same variables; copy 0 carries flag 1 (mkenvimage -r) and copy 1
    flag 0, so copy 0 is the active one and every later write, U-Boot's
    or uptree's, overwrites an existing file of the same size in place."""
    env = {}
    if default_env:
        with open(default_env) as f:
            env.update(parse_env_text(f.read(), default_env))
    with open(os.path.join(HERE, name, "uboot-env.txt")) as f:
        env.update(parse_env_text(f.read(), f"{name}/uboot-env.txt"))
    redundant = conf["env_redundant"] == "yes"
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as t:
        t.write("".join(f"{k}={v}\n" for k, v in sorted(env.items())))
        t.flush()
        subprocess.run(["mkenvimage", "-p", "0", "-s", conf["env_size"], *(["-r"] if redundant else []), "-o", out, t.name],
                       check=True)
    if not redundant:
        return [out]
    with open(out, "rb") as f:
        block = bytearray(f.read())
    # The flag byte follows the CRC and is not covered by it.
    block[4] = 0
    second = os.path.join(os.path.dirname(out) or ".", ENV_FILES[1])
    with open(second, "wb") as f:
        f.write(block)
    return [out, second]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--mkimage", metavar="OUT")
    ap.add_argument("--env-image", metavar="OUT")
    ap.add_argument("--board")
    ap.add_argument("--default-env", metavar="FILE")
    ap.add_argument("--get", nargs=2, metavar=("BOARD", "KEY"))
    ap.add_argument("boards", nargs="*")
    a = ap.parse_args()
    try:
        if a.get:
            conf = load_board(a.get[0])
            if a.get[1] not in conf:
                raise BoardError(f"no key {a.get[1]} (keys: {', '.join(sorted(conf))})")
            print(conf[a.get[1]])
            return 0
        if a.env_image:
            if not a.board:
                raise BoardError("--env-image needs --board")
            for path in env_image(a.board, load_board(a.board), a.env_image, a.default_env):
                print(path)
            return 0
        names = a.boards or boards()
        stale = []
        for name in names:
            conf = load_board(name)
            if a.mkimage:
                print(mkimage(name, conf, a.mkimage))
                continue
            for fname, text in render(name, conf).items():
                path = os.path.join(HERE, name, fname)
                current = open(path).read() if os.path.exists(path) else None
                if current == text:
                    continue
                if a.check:
                    stale.append(path)
                else:
                    write_atomic(path, text)
                    print(f"wrote {os.path.relpath(path)}")
        if stale:
            print("stale generated files (run board-configs/generate.py):", *stale, sep="\n  ", file=sys.stderr)
            return 1
        return 0
    except (BoardError, OSError, subprocess.CalledProcessError) as e:
        print(f"generate.py: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
