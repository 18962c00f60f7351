"""Pieces the QEMU boot scenarios are built from (python3 stdlib only).

Guest     one QEMU run on a disk image: console captured to a log, `expect`
          a pattern, `sh` a command at the guest's shell prompt, kill it;
          with `monitor=True`, HMP commands on QEMU's monitor (hot-plug).
Server    nginx over HTTPS on 127.0.0.1 serving a repository, with a CA made
          here; the guest reaches it only through a QEMU guestfwd.
Checks    one line per check, a final "N passed, N failed".
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time


class GuestError(Exception):
    pass


QEMU = {
    "arm64": ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57"],
    "arm": ["qemu-system-arm", "-M", "virt", "-cpu", "cortex-a15"],
}


# Where the guest finds the test server (forwarded to the host's 127.0.0.1).
GUEST_SERVER = "10.0.2.100:8443"


class Guest:
    """A QEMU machine on `disk`, booted by `bios` (U-Boot) or, for the
    fast lane, `kernel`/`initrd`/`append`. `-no-reboot`: a reboot ends the
    process, and the scenario starts the next boot itself (as the board's
    power-on would), so every boot is observed from its first line."""

    def __init__(self, arch, disk, log, bios=None, kernel=None, initrd=None, append=None, server_port=None, usb=None,
                 memory=512, write_bps=None, monitor=False):
        self.cmd = QEMU[arch] + ["-smp", "1", "-m", str(memory), "-accel", "tcg", "-display", "none",
                                 "-serial", "stdio", "-no-reboot", "-nodefaults"]
        # monitor: a unix socket beside the log for HMP (device_add/del),
        # and an xHCI controller to hot-plug sticks on.
        self.monitor_path = f"{log}.monitor" if monitor else None
        if self.monitor_path:
            self.cmd += ["-monitor", f"unix:{self.monitor_path},server=on,wait=off"]
        else:
            self.cmd += ["-monitor", "none"]
        if bios:
            self.cmd += ["-bios", bios]
        if kernel:
            self.cmd += ["-kernel", kernel, "-initrd", initrd, "-append", append]
        # write_bps: slow the disk's writes down (QEMU's I/O throttling), so
        # that a kill can land inside a short write such as U-Boot's saveenv.
        throttle = f",throttling.bps-write={write_bps}" if write_bps else ""
        self.cmd += ["-drive", f"if=none,id=hd0,format=raw,file={disk}{throttle}", "-device", "virtio-blk-device,drive=hd0"]
        if server_port:
            # restrict=on: no packet leaves the user network; the one way
            # out is the forward of GUEST_SERVER to the test server on the
            # host's 127.0.0.1 (a socat per connection).
            fwd = f"guestfwd=tcp:{GUEST_SERVER}-cmd:socat - TCP:127.0.0.1:{server_port}"
            self.cmd += ["-netdev", f"user,id=n0,restrict=on,{fwd}", "-device", "virtio-net-device,netdev=n0"]
        if monitor:
            self.cmd += ["-device", "qemu-xhci,id=xhci"]
        if usb:
            self.cmd += ["-device", "qemu-xhci", "-drive", f"if=none,id=stick,format=raw,file={usb}",
                         "-device", "usb-storage,drive=stick"]
        self.log_path = log
        self.buf = ""
        self.pos = 0
        self.proc = None
        self.lock = threading.Lock()
        self.seq = 0

    def start(self):
        self.logf = open(self.log_path, "a", encoding="utf-8", errors="replace")
        self.logf.write(f"\n===== {time.strftime('%H:%M:%S')} {' '.join(self.cmd)}\n")
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.buf, self.pos = "", 0
        threading.Thread(target=self._reader, daemon=True).start()
        return self

    def _reader(self):
        while True:
            data = self.proc.stdout.read1(4096)
            if not data:
                break
            text = data.decode("utf-8", errors="replace").replace("\r", "")
            with self.lock:
                self.buf += text
            self.logf.write(text)
            self.logf.flush()

    def tail(self, n=25):
        with self.lock:
            return "\n".join(self.buf.splitlines()[-n:])

    def expect(self, pattern, timeout=60):
        """Wait for `pattern` (regex) in console output after the last match."""
        rx = re.compile(pattern, re.M)
        end = time.monotonic() + timeout
        while True:
            with self.lock:
                m = rx.search(self.buf, self.pos)
                if m:
                    self.pos = m.end()
                    return m
            if self.proc.poll() is not None:
                time.sleep(0.2)  # let the reader drain
                with self.lock:
                    m = rx.search(self.buf, self.pos)
                    if m:
                        self.pos = m.end()
                        return m
                raise GuestError(f"QEMU exited ({self.proc.returncode}) before /{pattern}/")
            if time.monotonic() > end:
                raise GuestError(f"no /{pattern}/ within {timeout} s")
            time.sleep(0.05)

    def send(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def sh(self, command, timeout=120, check=True):
        """Run `command` in the guest's console shell; returns (rc, output)."""
        self.seq += 1
        n = self.seq
        self.send(f"echo @@B{n}@@; {command}; echo @@E{n}:$?@@")
        self.expect(rf"^@@B{n}@@$", timeout=30)
        start = self.pos
        m = self.expect(rf"^@@E{n}:(\d+)@@$", timeout=timeout)
        with self.lock:
            out = self.buf[start:m.start()].strip("\n")
        rc = int(m.group(1))
        if check and rc != 0:
            raise GuestError(f"guest command failed ({rc}): {command}\n{out}")
        return rc, out

    def monitor(self, command, timeout=30):
        """One HMP command on the monitor socket; returns what it printed."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(timeout)
            s.connect(self.monitor_path)
            self._hmp_reply(s)  # the banner
            s.sendall((command + "\n").encode())
            out = self._hmp_reply(s)
        with self.lock:
            self.logf.write(f"\n[monitor] {command}: {out.strip()}\n")
        return out

    @staticmethod
    def _hmp_reply(s):
        data = b""
        while not data.endswith(b"(qemu) "):
            chunk = s.recv(4096)
            if not chunk:
                raise GuestError(f"QEMU monitor closed: {data!r}")
            data += chunk
        # HMP echoes the command as typed (one redraw per character) up
        # to the first newline; what follows is its output, then the prompt.
        text = data.decode(errors="replace").replace("\r", "")[:-len("(qemu) ")]
        return text.split("\n", 1)[1] if "\n" in text else ""

    def wait_exit(self, timeout=60):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise GuestError(f"QEMU still running after {timeout} s")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self.proc:
            time.sleep(0.1)
            self.logf.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """nginx serving `root` over HTTPS on 127.0.0.1 only."""

    def __init__(self, work, root):
        self.work, self.root = work, root
        self.pki = os.path.join(work, "pki")
        self.port = free_port()
        self.proc = None

    def _openssl(self, *args):
        subprocess.run(["openssl", *args], cwd=self.pki, check=True, capture_output=True)

    def start(self):
        os.makedirs(self.pki, exist_ok=True)
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                      "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=uptree test CA",
                      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
        self._openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                      "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=uptree test server")
        with open(os.path.join(self.pki, "ext"), "w") as f:
            # The guest reaches the server as GUEST_SERVER.
            f.write(f"subjectAltName=IP:{GUEST_SERVER.split(':')[0]},IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        self._openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                      "-out", "server.pem", "-days", "2", "-extfile", "ext")
        ng = os.path.join(self.work, "nginx")
        os.makedirs(ng, exist_ok=True)
        conf = f"""daemon off; master_process off; worker_processes 1;
pid {ng}/nginx.pid; error_log {ng}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log {ng}/access.log; default_type application/octet-stream;
  client_body_temp_path {ng}/b; proxy_temp_path {ng}/p; fastcgi_temp_path {ng}/f;
  uwsgi_temp_path {ng}/u; scgi_temp_path {ng}/s;
  server {{ listen 127.0.0.1:{self.port} ssl; ssl_certificate {self.pki}/server.pem;
           ssl_certificate_key {self.pki}/server.key; root {self.root}; }}
}}
"""
        with open(os.path.join(ng, "nginx.conf"), "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen(["nginx", "-p", ng, "-c", os.path.join(ng, "nginx.conf")])
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start")

    @property
    def ca(self):
        return os.path.join(self.pki, "ca.pem")

    def guest_url(self):
        return f"https://{GUEST_SERVER}"

    def stop(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def ok(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print(f"ok - {what}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL - {what}", flush=True)
            if detail:
                print("  " + detail.replace("\n", "\n  "), flush=True)
        return cond

    def summary(self):
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        return 0 if self.failed == 0 else 1


def sparse_copy(src, dst):
    subprocess.run(["cp", "--sparse=always", src, dst], check=True)


def scratch(prefix):
    return tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("UPTREE_TEST_TMP", "/var/tmp"))


def rmtree(path):
    subprocess.run(["bash", "-c", 'find "$1" -maxdepth 8 -path "*/ostree/deploy/*/deploy/*" -prune -exec chattr -i {} + 2>/dev/null; true', "_", path])
    shutil.rmtree(path, ignore_errors=True)
