#!/usr/bin/env python3
"""Deterministic synthetic OS-like tree for benchmarks: gen-tree.py DIR N.

~N files under ~N/50 directories a few levels deep; sizes skewed small
(most 100 B - 8 KiB, a few 64 KiB - 1 MiB), half text-like, half random,
2% symlinks, a few empty files.
"""
import os
import random
import sys

WORDS = ("lib usr share config device boot kernel module firmware update "
         "package version install system service network driver").split()


def text(rng, size):
    out = []
    n = 0
    while n < size:
        w = rng.choice(WORDS)
        out.append(w)
        n += len(w) + 1
    return (" ".join(out)[:size]).encode()


def main():
    root, count = sys.argv[1], int(sys.argv[2])
    rng = random.Random(20261123)
    ndirs = max(1, count // 50)
    dirs = []
    for i in range(ndirs):
        depth = rng.randint(1, 4)
        parts = [f"d{rng.randint(0, 30)}" for _ in range(depth - 1)] + [f"dir{i}"]
        dirs.append(os.path.join(root, *parts))
    for d in dirs:
        os.makedirs(d, exist_ok=True)
    for i in range(count):
        d = dirs[i % ndirs]
        p = os.path.join(d, f"f{i}")
        r = rng.random()
        if r < 0.02:
            os.symlink(f"../f{max(0, i - 1)}", p)
            continue
        if r < 0.03:
            open(p, "wb").close()
            continue
        if rng.random() < 0.01:
            size = rng.randint(64 * 1024, 1024 * 1024)
        else:
            size = int(rng.lognormvariate(7.0, 1.0)) + 100
            size = min(size, 8192)
        data = text(rng, size) if rng.random() < 0.5 else rng.randbytes(size)
        with open(p, "wb") as f:
            f.write(data)
        if rng.random() < 0.1:
            os.chmod(p, 0o755)


if __name__ == "__main__":
    main()
