#!/usr/bin/env python3
"""The full lane: U-Boot (built from Debian's source with the board's
fragment) → boot.scr → uEnv.txt → kernel → uptree-init → the deployment,
and the whole update cycle driven from the guest's console.

  uboot-lane.py [--board qemu-arm64] [--scenarios 1,2,3,4,5,6] [--power-cuts N] [--agent-power-cuts N]
                [--seed S] [--from-rootfs]

With --from-rootfs each OS version is first laid out as a plain rootfs
folder (what Yocto's do_rootfs leaves: /etc, /var, kernel beside it) and
made into a commit by yocto-layer/scripts/uptree-image.sh (`rootfs`, then
`commit`), the steps uptree-image.bbclass runs: CI boots what the Yocto
class would build.

Scenarios (each check one line, then "N passed, N failed"):
  1 first boot into A through U-Boot; /usr read-only, /var shared, /sysroot
  2 network upgrade to B over HTTPS (server on the host's 127.0.0.1); A is
    the fallback; a local /etc change survives; mark-good clears the counter
  3 USB upgrade to C from a stick (remote add file://, remote refs, pull,
    admin deploy, pending in status); reboot into C
  4 rollback: broken D (its init exits → kernel panic → reset); U-Boot's
    counter passes bootlimit and boots C; uptree records D and refuses it
  5 power loss, N cuts (QEMU killed with SIGKILL, so the guest's page
    cache dies with it): at the failpoints around uptree's U-Boot
    environment write, while U-Boot saves its boot count, at seeded
    write steps of `admin deploy` (UPTREE_FAILPOINT=...:pause, the guest's
    uptree built with the `failpoints` feature for this scenario only)
    and at seeded random moments of `admin upgrade` (pull, deploy,
    switch). After every cut the next boot comes up in the old or the new
    deployment, `uptree fsck` is clean, and the update then runs again to
    completion: reboot into B, status, mark-good
  6 unattended updates, no command typed in the guest for an update: the
    test OS's init starts syslog, mdev (agent/dist/mdev-uptree-usb.conf,
    uptree-usb-mdev), the Yocto layer's uptree-mark-good.init and
    agent/dist/uptree-agent.init; agent.conf has a 15 s interval and
    reboot=window with a window around the guest's clock (the host's, in
    UTC). (a) The server publishes B6 with a static delta from A6 (#14):
    the agent pulls it (access log: the delta's superblock and parts,
    none of B6's new objects), deploys, reboots; B6 comes up, is marked
    good, nothing is pending and the next round is up-to-date. (b, c)
    Sticks hot-plugged through QEMU's monitor (drive_add + device_add
    usb-storage on qemu-xhci): unsigned → refused, status says why; the
    signed stick read at 2 MiB/s, device_del'd mid-pull → a clear error,
    fsck clean, nothing deployed; the signed stick again → C6 deployed by
    mdev's usb-update, the agent reboots into it, marked good. (d)
    --agent-power-cuts N: SIGKILL at a seeded moment of the agent's
    round after booting A6 (server offering B6); the next boot is A6 or
    B6, and the agent's next round completes (B6 booted, marked good,
    fsck clean)

Everything is built here from the repo (host uptree, static uptree and
uptree-init for the board, U-Boot, Debian kernel, busybox test OS) into
$UPTREE_CACHE; the test server binds 127.0.0.1 and the guest's network is
restricted to a forward to it.
"""
import argparse
import base64
import json
import os
import random
import re
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from harness import Checks, Guest, GuestError, Server, rmtree, scratch, sparse_copy  # noqa: E402

BOARDS = {
    # board: (debian arch, boot timeout s)
    "qemu-arm64": ("arm64", 90),
    "qemu-arm": ("armhf", 240),
    # qemu-arm64 with one environment copy instead of two.
    "qemu-arm64-1copy": ("arm64", 90),
}
# Loaded by uptree-init: the root on virtio, and what the test OS uses
# later (boot partition, network, USB stick), so the OS needs no modules.
MODULES = ["crc32c_generic", "ext4", "virtio_mmio", "virtio_blk", "vfat", "nls_cp437", "nls_ascii",
           "virtio_net", "xhci_pci", "usb_storage", "sd_mod"]
REF = "testos/stable"
# Scenario 6: seconds between the agent's rounds (plus up to 3 s jitter).
AGENT_INTERVAL = 15


def sh(script, **env):
    """Run bash with the qemu-tests libraries sourced; returns stdout."""
    full = f'set -euo pipefail; root={shlex.quote(ROOT)}; source "$root/.ci/lib.sh"; ' \
           f'for f in "$root"/qemu-tests/lib/*.sh; do source "$f"; done; {script}'
    r = subprocess.run(["bash", "-c", full], stdout=subprocess.PIPE, text=True, env={**os.environ, **env})
    if r.returncode != 0:
        raise RuntimeError(f"build step failed ({r.returncode}): {script}")
    return r.stdout.strip()


def run(*cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, **kw).stdout.strip()


def board_value(board, key):
    return run("python3", os.path.join(ROOT, "board-configs/generate.py"), "--get", board, key)


class Lab:
    """Everything one board's scenarios share."""

    def __init__(self, board, work, from_rootfs=False):
        self.board, self.work, self.from_rootfs = board, work, from_rootfs
        self.arch, self.timeout = BOARDS[board]
        self.qemu_arch = "arm64" if self.arch == "arm64" else "arm"
        self.layout = board_value(board, "layout")
        self.env_mount = board_value(board, "env_mount")

    def build(self, failpoints=False, agent=False):
        """`failpoints`: also the power-cut scenario's deployments A5/B5,
        whose uptree stops at a write step on request, and their image.
        `agent`: also scenario 6's A6/B6/C6, which run the agent, and its
        sticks."""
        w = self.work
        sh("need_pkgs qemu-system-arm socat nginx-light openssl mtools dosfstools fdisk e2fsprogs u-boot-tools >&2")
        run("cargo", "build", "--release", "--locked", "-q", "-p", "uptree", "--features", "generate", cwd=ROOT)
        self.up = os.path.join(ROOT, "target/release/uptree")
        self.uboot = run(os.path.join(HERE, "uboot-build.sh"), self.board)
        self.kdir = sh(f"kernel_fetch {self.arch}")
        self.kver = open(os.path.join(self.kdir, "kver")).read().strip()
        self.guest_uptree = sh(f"cross_build {self.arch} uptree")
        if failpoints:
            self.guest_uptree_fp = sh(f"cross_build {self.arch} uptree failpoints")
        init = sh(f"cross_build {self.arch} uptree-init")
        self.initrd = os.path.join(w, "initramfs.img")
        sh(f"initramfs_build {shlex.quote(self.initrd)} {shlex.quote(init)} {shlex.quote(self.kdir)} {' '.join(MODULES)}")
        self.server = Server(w, os.path.join(w, "server")).start()
        self.repo = os.path.join(w, "server")
        run(self.up, f"--repo={self.repo}", "init", "--mode=archive")
        self.commits = {}
        for name, version in [("A", "1.0"), ("B", "2.0"), ("C", "3.0"), ("D", "4.0-broken")]:
            self.commits[name] = self.commit_os(name, version)
        if failpoints:
            for name, version in [("A5", "1.0"), ("B5", "2.0")]:
                self.commits[name] = self.commit_os(name, version, uptree=self.guest_uptree_fp)
            self.set_ref("A5")
            self.disk_fp = self.image("disk-A5.img")
        if agent:
            self.build_agent()
        # The server offers A first; each scenario moves the ref on.
        self.set_ref("A")
        self.disk = self.image("disk-A.img")
        # The USB stick: an archive repo with C, summary made on it.
        stick_dir = os.path.join(w, "stick")
        stick_repo = os.path.join(stick_dir, "ostree_repo")
        os.makedirs(stick_dir)
        run(self.up, f"--repo={stick_repo}", "init", "--mode=archive")
        run(self.up, f"--repo={stick_repo}", "pull-local", self.repo, self.commits["C"])
        run(self.up, f"--repo={stick_repo}", "refs", f"--create={REF}", self.commits["C"])
        run(self.up, f"--repo={stick_repo}", "summary", "-u")
        self.stick = os.path.join(w, "stick.img")
        run("mkfs.ext4", "-q", "-F", "-L", "UPTREE-USB", "-d", stick_dir, self.stick, "256M")

    def build_agent(self):
        """Scenario 6: the signing key the boards trust for sticks, the OS
        versions that run the agent (C6 with a 24 MiB file, so a stick's
        pull lasts long enough to pull the stick out), the image, and two
        sticks with C6: signed and unsigned."""
        w = self.work
        der = run("bash", "-c", "openssl genpkey -algorithm ed25519 -outform DER | base64 -w0")
        seed = base64.b64decode(der)[-32:]
        pub = base64.b64decode(run("bash", "-c", f"echo {der} | base64 -d | openssl pkey -inform DER -pubout -outform DER "
                                   "| base64 -w0"))[-32:]
        self.sign_secret = base64.b64encode(seed + pub).decode()
        self.sign_public = base64.b64encode(pub).decode()
        for name, version in [("A6", "1.0"), ("B6", "2.0"), ("C6", "3.0")]:
            self.commits[name] = self.commit_os(name, version, agent=True)
        self.set_ref("A6")
        self.disk_agent = self.image("disk-A6.img")
        self.sticks = {}
        for kind in ("signed", "unsigned"):
            top = os.path.join(w, f"stick-{kind}")
            repo = os.path.join(top, "ostree", "repo")
            run(self.up, f"--repo={repo}", "init", "--mode=archive")
            run(self.up, f"--repo={repo}", "pull-local", self.repo, self.commits["C6"])
            run(self.up, f"--repo={repo}", "refs", f"--create={REF}", self.commits["C6"])
            if kind == "signed":
                run(self.up, f"--repo={repo}", "sign", self.commits["C6"], self.sign_secret)
            run(self.up, f"--repo={repo}", "summary", "-u")
            self.sticks[kind] = os.path.join(w, f"stick-{kind}.img")
            run("mkfs.ext4", "-q", "-F", "-L", "UPTREE-USB", "-d", top, self.sticks[kind], "96M")

    def agent_layer(self, layer, name):
        """What makes a test OS run the agent as a busybox board would: the
        product's init scripts (agent/dist/uptree-agent.init, the Yocto
        layer's uptree-mark-good.init) and mdev rule and helper
        (agent/dist/mdev-uptree-usb.conf, uptree-usb-mdev), agent.conf
        with a short interval and a maintenance window around now, and
        a 24 MiB file in C6."""
        etc = os.path.join(layer, "usr/etc")
        now = time.gmtime()
        # The guest's clock is the host's (PL031 RTC), in UTC: a window from
        # an hour ago to two hours on includes every round of this lane.
        start, end = (now.tm_hour - 1) % 24, (now.tm_hour + 2) % 24
        window = f"{start:02}:{now.tm_min:02}-{end:02}:{now.tm_min:02}"
        with open(os.path.join(etc, "uptree/agent.conf"), "w") as f:
            f.write(f"""[agent]
interval={AGENT_INTERVAL}s
jitter=3s
backoff-min=5s
backoff-max=30s
window={window}
reboot=window
trusted-keys={self.sign_public}
min-free-space=16M
# PID 1 of the test OS is a shell: reboot without init.
reboot-command=reboot -f
""")
        initd = os.path.join(etc, "init.d")
        os.makedirs(initd)
        run("install", "-m", "0755", os.path.join(ROOT, "agent/dist/uptree-agent.init"), os.path.join(initd, "uptree-agent"))
        mark_good = open(os.path.join(ROOT, "yocto-layer/recipes-core/uptree-conf/files/uptree-mark-good.init")).read()
        for k, v in {"@ENV_MOUNT@": self.env_mount, "@BOOT_LABEL@": "UPTREE-BOOT", "@BINDIR@": "/usr/bin",
                     "@TIMEOUT@": "60"}.items():
            mark_good = mark_good.replace(k, v)
        with open(os.path.join(initd, "uptree-mark-good"), "w") as f:
            f.write(mark_good)
        os.chmod(os.path.join(initd, "uptree-mark-good"), 0o755)
        run("cp", os.path.join(ROOT, "agent/dist/mdev-uptree-usb.conf"), os.path.join(etc, "mdev.conf"))
        libexec = os.path.join(layer, "usr/libexec/uptree")
        os.makedirs(libexec)
        run("install", "-m", "0755", os.path.join(ROOT, "agent/dist/uptree-usb-mdev"), libexec)
        for applet in ("logger", "readlink", "syslogd", "kill", "date", "sort", "cut"):
            os.symlink("busybox", os.path.join(layer, "usr/bin", applet))
        os.makedirs(os.path.join(layer, "usr/sbin"), exist_ok=True)
        os.symlink("../bin/busybox", os.path.join(layer, "usr/sbin/mdev"))
        with open(os.path.join(layer, "usr/lib/testos.d/50-services"), "w") as f:
            f.write("""#!/bin/sh
# What a busybox init starts: syslog, mdev for hot-plug, then the
# product's init scripts in their order (mark-good is S99 on a real board;
# here the scenario checks it before the agent's first round matters).
mkdir -p /var/log
syslogd -O /var/log/messages
if [ -e /proc/sys/kernel/hotplug ]; then echo /sbin/mdev >/proc/sys/kernel/hotplug; else mdev -d; fi
/etc/init.d/uptree-mark-good start
/etc/init.d/uptree-agent start
""")
        os.chmod(os.path.join(layer, "usr/lib/testos.d/50-services"), 0o755)
        if name == "C6":
            os.makedirs(os.path.join(layer, "usr/share"), exist_ok=True)
            with open(os.path.join(layer, "usr/share/testos-blob"), "wb") as f:
                f.write(os.urandom(24 << 20))

    def image(self, name):
        """The board's disk with the commit the server offers deployed."""
        out = os.path.join(self.work, name)
        run(os.path.join(HERE, "build-image.sh"), "--board", self.board, "--repo", self.repo, "--ref", REF,
            "--out", out, "--uptree", self.up, "--remote", f"origin={self.server.guest_url()}",
            "--remote-set", "tls-ca-path=/etc/uptree/ca.pem")
        return out

    def commit_os(self, name, version, uptree=None, agent=False):
        """The busybox test OS plus a layer with the kernel, initramfs, the
        board's uptree and the device config: two --tree layers, the
        package-layering workflow."""
        base = os.path.join(self.work, f"os-{name}")
        layer = os.path.join(self.work, f"layer-{name}")
        run(os.path.join(HERE, "testos.sh"), version, base, self.arch)
        mod = os.path.join(layer, f"usr/lib/modules/{self.kver}")
        os.makedirs(mod)
        run("cp", os.path.join(self.kdir, "vmlinuz"), os.path.join(mod, "vmlinuz"))
        run("cp", self.initrd, os.path.join(mod, "initramfs.img"))
        os.makedirs(os.path.join(layer, "usr/bin"))
        run("cp", uptree or self.guest_uptree, os.path.join(layer, "usr/bin/uptree"))
        etc = os.path.join(layer, "usr/etc")
        os.makedirs(os.path.join(etc, "uptree"))
        run("cp", self.server.ca, os.path.join(etc, "uptree/ca.pem"))
        run("cp", os.path.join(ROOT, "board-configs", self.board, "fw_env.config"), os.path.join(etc, "fw_env.config"))
        with open(os.path.join(etc, "fstab"), "w") as f:
            f.write(f"/dev/vda1 {self.env_mount} vfat defaults 0 0\n")
        # Mount points are part of the OS tree: a deployment's root is
        # immutable (as ostree makes it).
        for mp in (self.env_mount, "/mnt"):
            os.makedirs(os.path.join(layer, mp.lstrip("/")), exist_ok=True)
        hooks = os.path.join(layer, "usr/lib/testos.d")
        os.makedirs(hooks)
        with open(os.path.join(hooks, "10-board"), "w") as f:
            f.write(f"""#!/bin/sh
# Board setup for the scenarios: the FAT partition (uboot.env), the
# network to the test server (10.0.2.100 is forwarded to it).
mount -a
busybox ip link set lo up
busybox ip addr add 10.0.2.15/24 dev eth0 && busybox ip link set eth0 up
# Keep kernel messages off the console the scenarios read (dmesg keeps them).
dmesg -n 1
""")
        os.chmod(os.path.join(hooks, "10-board"), 0o755)
        if agent:
            self.agent_layer(layer, name)
        if name == "D":
            # A deployment that does not come up: its init exits at once.
            with open(os.path.join(base, "usr/sbin/init"), "w") as f:
                f.write("#!/bin/sh\necho 'UPTREE-TESTOS: broken init exits'\nexit 1\n")
        if self.from_rootfs:
            return self.commit_rootfs(name, version, base, layer)
        return run(self.up, f"--repo={self.repo}", "commit", "-b", REF, "-s", f"test OS {version}",
                   f"--add-metadata-string=version={version}", f"--tree=dir={base}", f"--tree=dir={layer}")

    def commit_rootfs(self, name, version, base, layer):
        """The same OS as a Yocto rootfs folder, through the image class's script."""
        rootfs = os.path.join(self.work, f"rootfs-{name}")
        tree = os.path.join(self.work, f"tree-{name}")
        run("cp", "-a", f"{base}/.", rootfs)
        run("cp", "-a", f"{layer}/.", rootfs)
        # What do_rootfs leaves: /etc at the top, no OSTree links, state in
        # /var and /home, the kernel and initramfs in DEPLOY_DIR_IMAGE.
        os.rename(os.path.join(rootfs, "usr/etc"), os.path.join(rootfs, "etc"))
        os.unlink(os.path.join(rootfs, "ostree"))
        os.rmdir(os.path.join(rootfs, "sysroot"))
        mod = os.path.join(rootfs, f"usr/lib/modules/{self.kver}")
        kernel, initrd = os.path.join(self.work, f"vmlinuz-{name}"), os.path.join(self.work, f"initrd-{name}")
        os.rename(os.path.join(mod, "vmlinuz"), kernel)
        os.rename(os.path.join(mod, "initramfs.img"), initrd)
        for d in ("var/lib/testos", "var/volatile/log", "home/root"):
            os.makedirs(os.path.join(rootfs, d), exist_ok=True)
        os.symlink("volatile/log", os.path.join(rootfs, "var/log"))
        with open(os.path.join(rootfs, "var/lib/testos/seed"), "w") as f:
            f.write("dropped: /var is the device's\n")
        script = os.path.join(ROOT, "yocto-layer/scripts/uptree-image.sh")
        run("bash", script, "rootfs", rootfs, tree, "--users", "keep", "--kver", self.kver,
            "--kernel", kernel, "--initramfs", initrd)
        run("bash", script, "commit", "--uptree", self.up, "--repo", self.repo, "--branch", REF,
            "--subject", f"test OS {version}", "--version", version, tree)
        return run(self.up, f"--repo={self.repo}", "rev-parse", REF)

    def set_ref(self, name):
        """Point the served ref at commit `name` (as a build server would)."""
        if REF in run(self.up, f"--repo={self.repo}", "refs").split():
            run(self.up, f"--repo={self.repo}", "refs", "--delete", REF)
        run(self.up, f"--repo={self.repo}", "refs", f"--create={REF}", self.commits[name])
        run(self.up, f"--repo={self.repo}", "summary", "-u")

    def guest(self, disk, name, usb=None, write_bps=None, monitor=False):
        return Guest(self.qemu_arch, disk, os.path.join(self.work, f"console-{name}.log"), bios=self.uboot,
                     server_port=self.server.port, usb=usb, write_bps=write_bps, monitor=monitor)


class Device:
    """One board's disk through several boots."""

    def __init__(self, lab, checks, name, image=None):
        self.lab, self.checks, self.name = lab, checks, name
        self.disk = os.path.join(lab.work, f"disk-{name}.img")
        sparse_copy(image or lab.disk, self.disk)
        self.g = None
        self.boots = 0

    def power_on(self, usb=None, write_bps=None, monitor=False):
        self.boots += 1
        self.g = self.lab.guest(self.disk, self.name, usb=usb, write_bps=write_bps, monitor=monitor).start()
        return self.g

    def boot(self, usb=None, expect_version=None, what="boots", monitor=False):
        """Power on and wait for the test OS; returns its version (None if it did not come up)."""
        g = self.power_on(usb, monitor=monitor)
        try:
            # Up to the newline: the reader may have only part of the line yet.
            m = g.expect(r"UPTREE-TESTOS: (booted version=(\S+)\n|broken init exits)", timeout=self.lab.timeout)
        except GuestError as e:
            self.checks.ok(False, f"{self.name}: {what}", f"{e}\n{g.tail()}")
            g.kill()
            return None
        if m.group(2) is None:
            return "broken"
        version = m.group(2)
        g.expect("UPTREE-TESTOS-REPORT-END", timeout=60)
        if expect_version is not None:
            self.checks.ok(version == expect_version, f"{self.name}: {what}: version {version}",
                           f"expected {expect_version}\n{g.tail()}")
        return version

    def status(self):
        _, out = self.g.sh("uptree admin status --json")
        # Kernel messages can land in the middle of the console output.
        text = "\n".join(line for line in out.splitlines() if not re.match(r"^\[\s*\d+\.\d+\]", line))
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise GuestError(f"admin status --json is not JSON ({e}):\n{out}")

    def reboot(self):
        self.g.sh("sync", check=False)
        self.g.send("reboot -f")
        self.g.wait_exit(60)
        self.g.kill()

    def off(self):
        if self.g:
            self.g.kill()


def uboot_lines(dev):
    with open(dev.g.log_path, errors="replace") as f:
        text = f.read()
    return text.split("=====")[-1]


def scenario_1(lab, c):
    d = Device(lab, c, "s1")
    try:
        v = d.boot(expect_version="1.0", what="first boot through U-Boot into A")
        if v is None:
            return
        log = uboot_lines(d)
        c.ok("U-Boot" in log and "uptree: booting" in log and "(primary)" in log,
             "s1: U-Boot ran the board's boot.scr and booted the primary entry", log[-2000:])
        mounts = {m.group(1): m.group(0) for m in re.finditer(r"UPTREE-TESTOS: mount (\S+) .*", log)}
        c.ok("/usr" in mounts and re.search(r"opts=ro\b|opts=ro,", mounts["/usr"]), "s1: /usr is read-only", str(mounts))
        c.ok("/var" in mounts and "/ostree/deploy/testos/var" in mounts["/var"], "s1: /var is the stateroot's shared var",
             str(mounts))
        c.ok("UPTREE-TESTOS: sysroot-has-repo yes" in log, "s1: /sysroot holds the physical root")
        st = d.status()
        deps = st["deployments"]
        c.ok(len(deps) == 1 and deps[0]["booted"] and deps[0]["checksum"] == lab.commits["A"],
             "s1: uptree admin status --json in the guest: A booted", json.dumps(st)[:1500])
        if lab.from_rootfs:
            _, out = d.g.sh("readlink /home; readlink /opt; grep -c . /usr/lib/tmpfiles.d/uptree-var.conf; "
                            "grep '^d /var/lib/testos ' /usr/lib/tmpfiles.d/uptree-var.conf; "
                            "ls /var/lib/testos/seed 2>&1 | tail -1")
            c.ok(out.splitlines()[:2] == ["var/home", "var/opt"] and "d /var/lib/testos 0755 0 0 -" in out
                 and "No such file" in out,
                 "s1: rootfs-script layout: /home, /opt link into /var; /var became tmpfiles.d lines, "
                 "its files were dropped", out)
    finally:
        d.off()


def scenario_2_3_4(lab, c, want):
    """2, 3 and 4 run on one device in sequence: each starts where the last ended."""
    d = Device(lab, c, "s234")
    try:
        if d.boot(expect_version="1.0", what="boots A") is None:
            return
        g = d.g
        # 2: network upgrade to B.
        lab.set_ref("B")
        g.sh("echo 'local=kept' >> /etc/testos.conf")
        rc, out = g.sh("uptree admin upgrade", timeout=600, check=False)
        c.ok(rc == 0, "s2: admin upgrade pulls B over HTTPS and deploys it", out[-1500:])
        st = d.status()
        deps = st["deployments"]
        c.ok(deps[0]["checksum"] == lab.commits["B"] and deps[0]["pending"], "s2: B is pending", json.dumps(deps)[:1500])
        bc = st.get("boot-counting") or {}
        c.ok(bc.get("upgrade-available") is True and bc.get("bootcount") == 0,
             "s2: deploy armed boot counting (upgrade_available=1, bootcount=0)", json.dumps(bc))
        d.reboot()
        if d.boot(expect_version="2.0", what="reboots into B") is None:
            return
        st = d.status()
        deps = st["deployments"]
        c.ok(deps[0]["booted"] and deps[1]["checksum"] == lab.commits["A"] and deps[1]["rollback"],
             "s2: B booted, A is the fallback (rollback)", json.dumps(deps)[:1500])
        _, uenv = d.g.sh("cat /boot/loader/uEnv.txt 2>/dev/null || for f in /boot/loader.*/uEnv.txt; do cat $f; done",
                         check=False)
        # Entry 0 is B (deployment index 0), entry 1 A: ostree= names the index.
        c.ok(re.search(r"^bootargs=.*ostree=/ostree/boot\.\d/testos/\w+/0$", uenv, re.M) is not None
             and re.search(r"^bootargs2=.*ostree=/ostree/boot\.\d/testos/\w+/1$", uenv, re.M) is not None
             and "kernel_image2=" in uenv, "s2: uEnv.txt: B the primary entry, A the fallback (suffix 2)", uenv)
        # Three-way merge: the locally changed file is kept as it is, the
        # others follow the new release.
        _, conf = d.g.sh("cat /etc/testos.conf; cat /etc/os-release")
        c.ok("local=kept" in conf and "version=1.0" in conf and "VERSION_ID=2.0" in conf,
             "s2: local /etc change survived the three-way merge; unchanged files follow B", conf)
        c.ok((st.get("boot-counting") or {}).get("bootcount") == 1, "s2: U-Boot counted the boot (bootcount=1)",
             json.dumps(st.get("boot-counting")))
        rc, out = d.g.sh("uptree admin mark-good", check=False)
        bc = d.status().get("boot-counting") or {}
        c.ok(rc == 0 and bc.get("upgrade-available") is False and bc.get("bootcount") == 0,
             "s2: mark-good cleared upgrade_available and bootcount", out + json.dumps(bc))
        d.reboot()

        if 3 in want:
            # 3: USB upgrade to C.
            if d.boot(usb=lab.stick, expect_version="2.0", what="boots B with the stick attached") is None:
                return
            g = d.g
            g.sh("for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/sda ] && break; sleep 0.5; done; mount /dev/sda /mnt")
            g.sh("uptree remote add usb file:///mnt/ostree_repo --no-gpg-verify")
            _, refs = g.sh("uptree remote refs usb")
            c.ok(f"usb:{REF}" in refs, "s3: remote refs usb lists the stick's ref", refs)
            rc, out = g.sh(f"uptree pull usb {REF}", timeout=600, check=False)
            c.ok(rc == 0, "s3: pull from the stick", out[-1500:])
            rc, out = g.sh(f"uptree admin deploy --os=testos usb:{REF}", timeout=600, check=False)
            c.ok(rc == 0, "s3: admin deploy usb:REF", out[-1500:])
            _, text = g.sh("uptree admin status")
            deps = d.status()["deployments"]
            c.ok(deps[0]["checksum"] == lab.commits["C"] and deps[0]["pending"] and "pending" in text.lower(),
                 "s3: admin status shows C pending", text)
            g.sh("umount /mnt")
            d.reboot()
            if d.boot(expect_version="3.0", what="reboots into C") is None:
                return
            d.g.sh("uptree admin mark-good")
            d.reboot()

        if 4 in want:
            # 4: the broken D; the upgrade comes from the network again.
            base = "3.0" if 3 in want else "2.0"
            base_commit = lab.commits["C" if 3 in want else "B"]
            if d.boot(expect_version=base, what=f"boots {base}") is None:
                return
            lab.set_ref("D")
            # After the USB update the origin is the stick: switch back to the network.
            update = f"uptree admin switch --os=testos origin:{REF}" if 3 in want else "uptree admin upgrade --os=testos"
            rc, out = d.g.sh(update, timeout=600, check=False)
            c.ok(rc == 0, f"s4: '{update}' deploys broken D", out[-1500:])
            d.reboot()
            limit = int(board_value(lab.board, "bootlimit"))
            outcomes = []
            for _ in range(limit + 3):
                v = d.boot(what="boot while D fails")
                outcomes.append(v)
                if v != "broken":
                    break
                d.g.wait_exit(60)  # panic=-1: the kernel resets, QEMU exits
                d.g.kill()
            # bootcount 1..bootlimit boot D; the next boot is past the limit.
            c.ok(outcomes[-1] == base and outcomes.count("broken") == limit,
                 f"s4: D failed {outcomes.count('broken')} times, then U-Boot booted the fallback",
                 f"outcomes {outcomes}, bootlimit {limit}")
            c.ok("uptree: fallback boot" in uboot_lines(d), "s4: the boot script took the fallback entry (altbootcmd)")
            rc, out = d.g.sh("uptree admin mark-good --json", check=False)
            st = d.status()
            failed = st.get("failed-commits") or []
            c.ok(any(f["checksum"] == lab.commits["D"] and f.get("reason") for f in failed),
                 "s4: mark-good recorded D as failed, with a reason", out + json.dumps(failed))
            c.ok(st["deployments"][0]["checksum"] == base_commit and st["deployments"][0]["booted"],
                 "s4: the running deployment is the default again", json.dumps(st["deployments"])[:1500])
            rc, out = d.g.sh(update, timeout=300, check=False)
            c.ok(rc != 0 and "not deploying it automatically" in out, "s4: the same update refuses to redeploy D", out[-800:])
            lab.set_ref("B")
    finally:
        d.off()


# U-Boot writes its 256 KiB environment in a few milliseconds: throttled
# to this many bytes/s the save takes seconds, and a kill at a random
# moment of it lands between its writes (FAT table, directory, data).
UBOOT_SAVE_BPS = 256 * 1024
FAILPOINT_PAUSED = r"uptree-failpoint: paused at step (\d+) \((.*)\)$"
ENV_STEPS = ("uboot-env write", "uboot-env written")


def cut_plan(cuts, rng, steps):
    """What each cut aims at: uptree's environment write (just before it,
    just after its fsync), U-Boot's own save of the count, then seeded
    write steps of the deploy and random moments of the upgrade in turn."""
    names = [what for _, what in steps]
    # A step by name when the name is unique (stable if the numbering
    # shifts), else by number.
    targets = [what if names.count(what) == 1 else str(n) for n, what in steps if what not in ENV_STEPS]
    # Each step once (in a seeded order) before any step twice.
    order = rng.sample(targets, len(targets))
    plan = [("step", ENV_STEPS[0]), ("step", ENV_STEPS[1]), ("uboot", None)][:cuts]
    while len(plan) < cuts:
        if len(plan) % 2 and order:
            plan.append(("step", order[len(plan) // 2 % len(order)]))
        else:
            plan.append(("random", None))
    return plan


def cut_upgrade(d, rng, span, failpoint=None):
    """Run `uptree admin upgrade` and pull the plug: when uptree reports it
    paused at `failpoint`, or at a random moment of the upgrade. Returns
    where the cut fell, or None if the upgrade ended first."""
    g = d.g
    g.seq += 1
    n = g.seq
    env = f"UPTREE_FAILPOINT={shlex.quote(failpoint + ':pause')} " if failpoint else ""
    g.send(f"echo @@B{n}@@; {env}uptree admin upgrade; echo @@E{n}:$?@@")
    g.expect(rf"^@@B{n}@@$", timeout=30)
    start = g.pos
    if failpoint:
        m = g.expect(rf"{FAILPOINT_PAUSED}|^@@E{n}:(\d+)@@$", timeout=600)
        g.kill()  # SIGKILL: the guest's page cache dies with QEMU
        return None if m.group(3) is not None else f"step {m.group(1)} ({m.group(2)})"
    delay = rng.uniform(0, span * 1.1)
    time.sleep(delay)
    g.kill()
    with g.lock:
        seen = g.buf[start:]
    if re.search(rf"^@@E{n}:\d+@@$", seen, re.M):
        return None
    # Where the cut fell, from what the upgrade had printed.
    phase = "after the switch" if "Deployed " in seen else "deploy/switch" if " transferred in " in seen else "pull"
    return f"{delay:.2f} s, {phase}"


def finish_update(lab, d):
    """After a cut: the update runs again to completion. Returns (ok, detail)."""
    b = lab.commits["B5"]
    rc, out = d.g.sh("uptree admin upgrade", timeout=600, check=False)
    if rc != 0:
        return False, f"admin upgrade failed ({rc}):\n{out[-1500:]}"
    deps = d.status()["deployments"]
    if deps[0]["checksum"] != b:
        return False, f"B is not the default after the upgrade: {json.dumps(deps)[:1500]}"
    if not deps[0]["booted"]:
        d.reboot()
        v = d.boot(what="reboot after the repeated update")
        if v != "2.0":
            return False, f"booted {v} after the repeated update\n{d.g.tail() if d.g else ''}"
    rc, out = d.g.sh("uptree admin mark-good", check=False)
    st = d.status()
    deps, bc = st["deployments"], st.get("boot-counting") or {}
    ok = rc == 0 and deps[0]["checksum"] == b and deps[0]["booted"] and bc.get("upgrade-available") is False
    return ok, f"mark-good ({rc}): {out[-800:]}\n{json.dumps(st)[:1500]}"


def scenario_5(lab, c, cuts, seed):
    rng = random.Random(seed)
    t_start = time.monotonic()
    print(f"# power loss: {cuts} cuts, seed {seed}", flush=True)
    lab.set_ref("B5")
    # Calibrate: how long a whole upgrade takes on this board, its write
    # steps, and how long U-Boot takes to save the count at the next boot.
    d = Device(lab, c, "s5-cal", image=lab.disk_fp)
    try:
        if d.boot(expect_version="1.0", what="calibration boot") is None:
            return
        t0 = time.monotonic()
        _, out = d.g.sh("UPTREE_FAILPOINT_LIST=1 uptree admin upgrade", timeout=600)
        span = time.monotonic() - t0
        steps = [(int(n), what) for n, what in re.findall(r"uptree-failpoint: step (\d+) \((.*)\)$", out, re.M)]
        d.reboot()
        g = d.power_on(write_bps=UBOOT_SAVE_BPS)
        g.expect(r"Saving Environment to FAT\.\.\. ", timeout=lab.timeout)
        t0 = time.monotonic()
        g.expect(r"OK$", timeout=60)
        save_span = time.monotonic() - t0
    except GuestError as e:
        c.ok(False, "s5: calibration", f"{e}\n{d.g.tail() if d.g else ''}")
        return
    finally:
        d.off()
    names = sorted({what for _, what in steps})
    print(f"# a whole upgrade takes {span:.1f} s in the guest, {len(steps)} failpoint steps; "
          f"U-Boot saves the count in {save_span:.2f} s", flush=True)
    c.ok(all(s in names for s in ENV_STEPS), "s5: calibration: the upgrade passes the U-Boot environment write steps",
         "\n".join(names)[:3000])
    outcomes = {"old": 0, "new": 0, "neither": 0}
    kinds = {}
    for i, (kind, target) in enumerate(cut_plan(cuts, rng, steps)):
        d = Device(lab, c, f"s5-{i}", image=lab.disk_fp)
        try:
            if d.boot(expect_version="1.0", what=f"cut {i}: boots A") is None:
                outcomes["neither"] += 1
                continue
            if kind == "uboot":
                # The whole upgrade, then the plug while U-Boot writes the
                # count into the inactive copy of its environment.
                d.g.sh("uptree admin upgrade", timeout=600)
                d.reboot()
                g = d.power_on(write_bps=UBOOT_SAVE_BPS)
                g.expect(r"Saving Environment to FAT\.\.\. ", timeout=lab.timeout)
                delay = rng.uniform(0, save_span)
                time.sleep(delay)
                g.kill()
                where = f"U-Boot saving the count, {delay:.2f} s in"
            else:
                where = cut_upgrade(d, rng, span, failpoint=target if kind == "step" else None)
                if where is None:
                    # A random moment past the end, or a step not reached.
                    c.ok(kind == "random", f"s5: cut {i} ({kind} {target or ''}): the upgrade ended before the cut",
                         d.g.tail())
                    where = "after the upgrade ended"
            kinds[kind] = kinds.get(kind, 0) + 1
            label = f"cut {i} ({kind}: {where})"
            v = d.boot(what=f"{label}: next boot")
            state = {"1.0": "old", "2.0": "new"}.get(v, "neither")
            outcomes[state] += 1
            if state == "neither":
                c.ok(False, f"s5: {label}: boots the old or the new deployment", d.g.tail() if d.g else "")
                continue
            rc, out = d.g.sh("uptree fsck -q", timeout=600, check=False)
            c.ok(rc == 0, f"s5: {label}: boots the {state} deployment, fsck clean", out[-800:])
            ok, detail = finish_update(lab, d)
            c.ok(ok, f"s5: cut {i}: the update then runs to completion (B booted, mark-good)", detail)
        except GuestError as e:
            c.ok(False, f"s5: cut {i} ({kind} {target or ''})", f"{e}\n{d.g.tail() if d.g else ''}")
        finally:
            d.off()
            os.remove(d.disk)
    print(f"# power loss outcomes: {outcomes['old']} old, {outcomes['new']} new, {outcomes['neither']} neither; "
          f"cuts by kind: {', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}; "
          f"{time.monotonic() - t_start:.0f} s", flush=True)


def access_log(lab):
    with open(os.path.join(lab.work, "nginx/access.log"), errors="replace") as f:
        return f.read().splitlines()


def repo_objects(lab, name):
    """The object files (objects/xx/rest.type) of commit `name`, from a scratch repo."""
    tmp = os.path.join(lab.work, f"objects-{name}")
    rmtree(tmp)
    run(lab.up, f"--repo={tmp}", "init", "--mode=archive")
    run(lab.up, f"--repo={tmp}", "pull-local", lab.repo, lab.commits[name])
    objs = os.path.join(tmp, "objects")
    found = {f"{d}/{f}" for d in os.listdir(objs) for f in os.listdir(os.path.join(objs, d))}
    rmtree(tmp)
    return found


def wait_request(lab, mark, pattern, g, timeout):
    """Wait until the server's access log, past line `mark`, has a request
    matching `pattern` (the guest's progress as the server sees it)."""
    end = time.monotonic() + timeout
    rx = re.compile(pattern)
    while not any(rx.search(line) for line in access_log(lab)[mark:]):
        if g.proc.poll() is not None:
            raise GuestError(f"QEMU exited before a request /{pattern}/")
        if time.monotonic() > end:
            raise GuestError(f"no request /{pattern}/ within {timeout} s")
        time.sleep(0.1)
    return time.monotonic()


def wait_status(d, cond, timeout):
    """Poll `admin status --json` in the guest until cond(status) holds; returns the last status."""
    end = time.monotonic() + timeout
    while True:
        st = d.status()
        if cond(st) or time.monotonic() > end:
            return st
        time.sleep(2)


def wait_status_or_reboot(d, cond, timeout):
    """wait_status, or None when the guest went down meanwhile: the agent
    may reboot the board into what it waits for before a poll (each one a
    few seconds of TCG) sees it."""
    end = time.monotonic() + timeout
    while True:
        try:
            st = d.status()
        except (GuestError, OSError):
            if d.g.proc.poll() is not None:
                return None
            raise
        if cond(st) or time.monotonic() > end:
            return st
        if d.g.proc.poll() is not None:
            return None
        time.sleep(2)


def agent_of(st):
    return st.get("agent") or {}


def scenario_6(lab, c, cuts, seed):
    """The agent, started by the test OS's init: network update through a
    static delta, rebooted in its window; sticks hot-plugged through the
    monitor (unsigned, pulled out mid-pull, then the signed one); power
    cuts during its round."""
    t_start = time.monotonic()
    ver = {"A6": "1.0", "B6": "2.0", "C6": "3.0"}
    lab.set_ref("A6")
    d = Device(lab, c, "s6", image=lab.disk_agent)
    round_span = None
    try:
        if d.boot(expect_version="1.0", what="boots A6, its init starts the agent", monitor=True) is None:
            return
        # The agent's first round finds nothing new.
        st = wait_status(d, lambda s: agent_of(s).get("result") == "up-to-date", 60)
        c.ok(agent_of(st).get("result") == "up-to-date" and agent_of(st).get("available") == lab.commits["A6"],
             "s6a: the agent started by init checked the server: up-to-date", json.dumps(agent_of(st)))
        # #14: the build server publishes B6 with a static delta from A6.
        run(lab.up, f"--repo={lab.repo}", "static-delta", "generate", f"--from={lab.commits['A6']}",
            f"--to={lab.commits['B6']}")
        log_mark = len(access_log(lab))
        lab.set_ref("B6")
        # Nothing typed: the agent pulls, deploys and reboots (-no-reboot: QEMU exits).
        try:
            t0 = wait_request(lab, log_mark, r"/superblock ", d.g, AGENT_INTERVAL + 5 + lab.timeout)
            d.g.wait_exit(lab.timeout * 2)
            # From the delta's first request to the reboot: what (d) cuts into.
            round_span = time.monotonic() - t0
            c.ok(True, f"s6a: the agent deployed B6 and rebooted the board by itself ({round_span:.1f} s from "
                 "fetching the delta to the reboot)")
        except GuestError as e:
            c.ok(False, "s6a: the agent deployed B6 and rebooted the board by itself", f"{e}\n{d.g.tail()}")
            return
        d.g.kill()
        fetched = [m.group(1) for line in access_log(lab)[log_mark:]
                   for m in [re.search(r'"GET (\S+) HTTP', line)] if m]
        deltas = [p for p in fetched if p.startswith("/deltas/")]
        objects = {p[len("/objects/"):] for p in fetched if p.startswith("/objects/")}
        # The commit object is fetched and verified before its delta (the
        # delta is chosen by it, and signatures are checked on its raw
        # bytes); every other new object must come from the delta.
        commit = lab.commits["B6"]
        new = repo_objects(lab, "B6") - repo_objects(lab, "A6") - {f"{commit[:2]}/{commit[2:]}.commit"}
        c.ok(any(p.endswith("/superblock") for p in deltas) and any(re.search(r"/\d+$", p) for p in deltas),
             f"s6a (#14): the pull fetched the static delta A6→B6 (superblock and {len(deltas) - 1} part(s))",
             "\n".join(fetched)[:3000])
        c.ok(new and not (objects & new), f"s6a (#14): none of the {len(new)} other objects new in B6 was fetched "
             f"as an object ({len(objects)} object requests, for the commit)", "\n".join(sorted(objects & new))[:3000])

        if d.boot(expect_version="2.0", what="(a) comes up in B6", monitor=True) is None:
            return
        st = wait_status(d, lambda s: agent_of(s).get("result") == "up-to-date", 90)
        deps, bc, ag = st["deployments"], st.get("boot-counting") or {}, agent_of(st)
        c.ok(deps[0]["checksum"] == lab.commits["B6"] and deps[0]["booted"] and bc.get("upgrade-available") is False,
             "s6a: B6 booted and marked good by the init script (upgrade_available=0)", json.dumps(st)[:2000])
        c.ok(ag.get("pending") is None and ag.get("result") == "up-to-date",
             "s6a: the agent no longer reports B6 pending; its next round is up-to-date", json.dumps(ag))
        _, log = d.g.sh("grep uptree-agent /var/log/messages | tail -20")
        c.ok(re.search(r"uptree-agent round result=deployed .*deployed=" + lab.commits["B6"], log) is not None
             and "rebooting into the pending deployment" in log,
             "s6a: the agent's syslog lines: round result=deployed, then the reboot", log[-2000:])

        # (b) an unsigned stick, hot-plugged: refused, status says why.
        def plug(n, kind, throttle=None):
            img = os.path.join(lab.work, f"s6-stick-{n}.img")
            sparse_copy(lab.sticks[kind], img)
            opts = f",throttling.bps-read={throttle}" if throttle else ""
            out = d.g.monitor(f"drive_add 0 if=none,id=stick{n},format=raw,file={img}{opts}")
            out += d.g.monitor(f"device_add usb-storage,id=usb{n},drive=stick{n},bus=xhci.0")
            if "Error" in out or "rror:" in out:
                raise GuestError(f"hot-plug: {out}")

        def usb_after(t):
            return lambda s: (agent_of(s).get("usb") or {}).get("time", 0) >= t

        _, now = d.g.sh("date +%s")
        t_guest = int(now.strip().splitlines()[-1])
        plug(1, "unsigned")
        st = wait_status(d, usb_after(t_guest), 120)
        usb = agent_of(st).get("usb") or {}
        c.ok(usb.get("result") == "refused" and "signature" in (usb.get("error") or "")
             and len(st["deployments"]) == 2 and st["deployments"][0]["booted"],
             "s6b: an unsigned stick, hot-plugged: refused, status --json says why, nothing deployed", json.dumps(usb))
        d.g.monitor("device_del usb1")

        # (c) the signed stick, read slowly, pulled out mid-pull.
        _, now = d.g.sh("sleep 1; date +%s")
        t_guest = int(now.strip().splitlines()[-1])
        plug(2, "signed", throttle=2 << 20)
        # Pulled out once usb-update has mounted it and read for a while.
        rc, _ = d.g.sh("i=0; while [ $i -lt 240 ] && ! grep -q ' /run/uptree/usb-' /proc/mounts; do sleep 0.5; i=$((i+1)); done; "
                       "grep -q ' /run/uptree/usb-' /proc/mounts", check=False)
        time.sleep(4)
        d.g.monitor("device_del usb2")
        st = wait_status(d, usb_after(t_guest), 180)
        usb = agent_of(st).get("usb") or {}
        c.ok(rc == 0 and usb.get("result") == "refused" and usb.get("error"),
             f"s6c: the signed stick pulled out mid-pull: a clear error ({(usb.get('error') or '')[:160]})",
             json.dumps(usb))
        rc, out = d.g.sh("uptree fsck -q", timeout=600, check=False)
        deps = st["deployments"]
        c.ok(rc == 0 and len(deps) == 2 and deps[0]["checksum"] == lab.commits["B6"] and deps[0]["booted"],
             "s6c: fsck clean, nothing deployed", out[-800:] + json.dumps(deps)[:1500])

        # The signed stick again: the board updates itself.
        _, now = d.g.sh("sleep 1; date +%s")
        t_guest = int(now.strip().splitlines()[-1])
        plug(3, "signed")
        st = wait_status_or_reboot(d, lambda s: (agent_of(s).get("usb") or {}).get("result") == "deployed", 300)
        if st is not None:
            usb, deps = agent_of(st).get("usb") or {}, st["deployments"]
            ok = usb.get("result") == "deployed" and deps[0]["checksum"] == lab.commits["C6"] and deps[0]["pending"]
            c.ok(ok, "s6b: the signed stick re-inserted: mdev started usb-update, C6 deployed, pending",
                 json.dumps(usb) + json.dumps(deps)[:1500])
            if not ok:
                return
        # The release reaches the server too (the agent's rounds would
        # otherwise see the network offer older than what is deployed).
        lab.set_ref("C6")
        if st is not None:
            try:
                d.g.wait_exit(AGENT_INTERVAL + 5 + lab.timeout)
            except GuestError as e:
                c.ok(False, "s6b: the agent rebooted into the stick's update in its window", f"{e}\n{d.g.tail()}")
                return
        # (Else the agent rebooted the board before a status poll saw the
        # deployment; the boot below shows where it went.)
        d.g.kill()
        if d.boot(expect_version="3.0", what="(b) the agent rebooted the board into C6 from the stick") is None:
            return
        st = wait_status(d, lambda s: agent_of(s).get("result") == "up-to-date", 90)
        c.ok(st["deployments"][0]["booted"] and (st.get("boot-counting") or {}).get("upgrade-available") is False
             and agent_of(st).get("pending") is None,
             "s6b: C6 booted, marked good, nothing pending", json.dumps(st)[:2000])
    except GuestError as e:
        c.ok(False, "s6: agent scenario", f"{e}\n{d.g.tail() if d.g else ''}")
    finally:
        d.off()
        os.remove(d.disk)

    # (d) power cuts during the agent's round: the server offers B6 (delta
    # from A6) from power-on; its first round takes it. The cut falls at a
    # seeded moment after the round fetched the delta's superblock, up to
    # a little past what the whole of it took in (a): pull, deploy, reboot.
    rng = random.Random(seed)
    lab.set_ref("B6")
    span = round_span or 30
    for i in range(cuts):
        d = Device(lab, c, f"s6d-{i}", image=lab.disk_agent)
        try:
            mark = len(access_log(lab))
            g = d.power_on()
            wait_request(lab, mark, r"/superblock ", g, lab.timeout + AGENT_INTERVAL)
            delay = rng.uniform(0, span * 1.1)
            time.sleep(delay)
            ended = g.proc.poll() is not None
            g.kill()
            label = f"s6d: cut {i} ({delay:.1f} s after the delta's superblock{', after the reboot' if ended else ''})"
            v = d.boot(what=f"{label}: next boot")
            c.ok(v in ("1.0", "2.0"), f"{label}: boots the {'old' if v == '1.0' else 'new'} deployment",
                 d.g.tail() if d.g else "")
            if v == "1.0":
                d.g.wait_exit(AGENT_INTERVAL + 5 + lab.timeout * 2)
                d.g.kill()
                v = d.boot(what=f"{label}: the agent's next round rebooted")
            if v != "2.0":
                c.ok(False, f"s6d: cut {i}: the next round completes (B6 booted)", d.g.tail() if d.g else "")
                continue
            st = wait_status(d, lambda s: agent_of(s).get("result") == "up-to-date", 90)
            rc, out = d.g.sh("uptree fsck -q", timeout=600, check=False)
            ok = (rc == 0 and st["deployments"][0]["checksum"] == lab.commits["B6"] and st["deployments"][0]["booted"]
                  and (st.get("boot-counting") or {}).get("upgrade-available") is False and agent_of(st).get("pending") is None)
            c.ok(ok, f"s6d: cut {i}: the next round completed: B6 booted, marked good, fsck clean",
                 out[-800:] + json.dumps(st)[:1500])
        except GuestError as e:
            c.ok(False, f"s6d: cut {i}", f"{e}\n{d.g.tail() if d.g else ''}")
        finally:
            d.off()
            os.remove(d.disk)
    print(f"# agent scenario: {time.monotonic() - t_start:.0f} s", flush=True)


def demo(lab):
    """README's first command: boot v1, update to v2 over HTTPS, reboot."""
    d = Device(lab, Checks(), "demo")
    try:
        print("\n==> booting the board (U-Boot → boot.scr → kernel → uptree-init → v1)", flush=True)
        if d.boot(expect_version="1.0", what="boots v1") is None:
            return 1
        _, before = d.g.sh("uptree admin status")
        print("--- uptree admin status, before ---\n" + before, flush=True)
        lab.set_ref("B")
        print(f"\n==> the server now offers v2; on the device: uptree admin upgrade (from {lab.server.guest_url()})", flush=True)
        _, out = d.g.sh("uptree admin upgrade", timeout=600)
        print(out.splitlines()[-1] if out else "", flush=True)
        print("\n==> rebooting into v2", flush=True)
        d.reboot()
        if d.boot(expect_version="2.0", what="boots v2") is None:
            return 1
        _, after = d.g.sh("uptree admin status")
        print("--- uptree admin status, after (v1 is the fallback; U-Boot counts this boot) ---\n" + after, flush=True)
        _, good = d.g.sh("uptree admin mark-good && uptree admin status | grep -i 'boot counting'")
        print("\n==> uptree admin mark-good\n" + good, flush=True)
        return 0
    finally:
        d.off()


def last_console(work, n=25):
    """The last lines of the newest console log, for a failure report."""
    logs = sorted((os.path.join(work, f) for f in os.listdir(work) if f.startswith("console-")), key=os.path.getmtime)
    if not logs:
        return ""
    with open(logs[-1], errors="replace") as f:
        lines = f.read().splitlines()[-n:]
    return f"last console lines ({os.path.basename(logs[-1])}):\n" + "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--board", default="qemu-arm64", choices=sorted(BOARDS))
    ap.add_argument("--scenarios", default="1,2,3,4,5,6")
    ap.add_argument("--power-cuts", type=int, default=20)
    ap.add_argument("--agent-power-cuts", type=int, default=1)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--demo", action="store_true", help="the demo: boot v1, update to v2, reboot, show status")
    ap.add_argument("--from-rootfs", action="store_true",
                    help="commit each OS from a rootfs folder with yocto-layer/scripts/uptree-image.sh")
    a = ap.parse_args()
    want = {int(s) for s in a.scenarios.split(",") if s}
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 32)
    t_start = time.monotonic()
    c = Checks()
    work = scratch(f"uptree-uboot-{a.board}-")
    print(f"# {a.board}: work dir {work}", flush=True)
    lab = Lab(a.board, work, from_rootfs=a.from_rootfs)
    try:
        lab.build(failpoints=5 in want and not a.demo, agent=6 in want and not a.demo)
        if a.demo:
            return demo(lab)
        c.ok(True, f"{a.board}: image built (U-Boot, kernel {lab.kver}, uptree-init, deployment A)")
        if 1 in want:
            scenario_1(lab, c)
        if want & {2, 3, 4}:
            scenario_2_3_4(lab, c, want)
        if 5 in want:
            scenario_5(lab, c, a.power_cuts, seed)
        if 6 in want:
            scenario_6(lab, c, a.agent_power_cuts, seed)
    except Exception as e:  # noqa: BLE001 - any failure is reported as a check, with the console
        c.ok(False, f"{a.board}: lane aborted", f"{type(e).__name__}: {e}\n{last_console(work)}")
    finally:
        if getattr(lab, "server", None):
            lab.server.stop()
        if not a.keep and c.failed == 0:
            rmtree(work)
        elif c.failed:
            print(f"# consoles kept in {work}/console-*.log", flush=True)
    print(f"# {a.board}: lane wall time {time.monotonic() - t_start:.0f} s", flush=True)
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
