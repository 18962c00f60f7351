#!/usr/bin/env python3
"""The full lane: U-Boot (built from Debian's source with the board's
fragment) → boot.scr → uEnv.txt → kernel → uptree-init → the deployment,
and the whole update cycle driven from the guest's console.

  uboot-lane.py [--board qemu-arm64] [--scenarios 1,2,3,4,5] [--power-cuts N] [--seed S] [--from-rootfs]

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

Everything is built here from the repo (host uptree, static uptree and
uptree-init for the board, U-Boot, Debian kernel, busybox test OS) into
$UPTREE_CACHE; the test server binds 127.0.0.1 and the guest's network is
restricted to a forward to it.
"""
import argparse
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

    def build(self, failpoints=False):
        """`failpoints`: also the power-cut scenario's deployments A5/B5,
        whose uptree stops at a write step on request, and their image."""
        w = self.work
        sh("need_pkgs qemu-system-arm socat nginx-light openssl mtools dosfstools fdisk e2fsprogs u-boot-tools >&2")
        run("cargo", "build", "--release", "--locked", "-q", "-p", "uptree", cwd=ROOT)
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

    def image(self, name):
        """The board's disk with the commit the server offers deployed."""
        out = os.path.join(self.work, name)
        run(os.path.join(HERE, "build-image.sh"), "--board", self.board, "--repo", self.repo, "--ref", REF,
            "--out", out, "--uptree", self.up, "--remote", f"origin={self.server.guest_url()}",
            "--remote-set", "tls-ca-path=/etc/uptree/ca.pem")
        return out

    def commit_os(self, name, version, uptree=None):
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

    def guest(self, disk, name, usb=None, write_bps=None):
        return Guest(self.qemu_arch, disk, os.path.join(self.work, f"console-{name}.log"), bios=self.uboot,
                     server_port=self.server.port, usb=usb, write_bps=write_bps)


class Device:
    """One board's disk through several boots."""

    def __init__(self, lab, checks, name, image=None):
        self.lab, self.checks, self.name = lab, checks, name
        self.disk = os.path.join(lab.work, f"disk-{name}.img")
        sparse_copy(image or lab.disk, self.disk)
        self.g = None
        self.boots = 0

    def power_on(self, usb=None, write_bps=None):
        self.boots += 1
        self.g = self.lab.guest(self.disk, self.name, usb=usb, write_bps=write_bps).start()
        return self.g

    def boot(self, usb=None, expect_version=None, what="boots"):
        """Power on and wait for the test OS; returns its version (None if it did not come up)."""
        g = self.power_on(usb)
        try:
            m = g.expect(r"UPTREE-TESTOS: (booted version=(\S+)|broken init exits)", timeout=self.lab.timeout)
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
    ap.add_argument("--scenarios", default="1,2,3,4,5")
    ap.add_argument("--power-cuts", type=int, default=20)
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
        lab.build(failpoints=5 in want and not a.demo)
        if a.demo:
            return demo(lab)
        c.ok(True, f"{a.board}: image built (U-Boot, kernel {lab.kver}, uptree-init, deployment A)")
        if 1 in want:
            scenario_1(lab, c)
        if want & {2, 3, 4}:
            scenario_2_3_4(lab, c, want)
        if 5 in want:
            scenario_5(lab, c, a.power_cuts, seed)
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
