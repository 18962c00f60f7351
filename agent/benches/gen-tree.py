#!/usr/bin/env python3
"""Deterministic synthetic OS-like tree for benchmarks.

    gen-tree.py DIR [FILES]        (FILES defaults to 100000)

The same arguments give the same tree, byte for byte, on any run (seeded
PRNG; no dict/set iteration over strings, whose order changes between
Python processes), so ostree and uptree commit checksums of it are stable.

Shape, for FILES = 100000 (about 430 MiB, about a minute to write):
- FILES / 50 directories (2,000) under a few OS-like roots, up to 6 levels
  deep; files spread over them unevenly (some directories hold hundreds,
  most a few dozen), as in a real /usr;
- sizes skewed small: 96% 100 B - 8 KiB (log-normal), 3.5% 8 - 64 KiB,
  0.5% 64 KiB - 1 MiB (log-uniform);
- content: 55% text-like (compresses about 3-4x with zlib), 25% binary-like
  (zero runs, repeated blocks and noise, about 2x), 20% random
  (incompressible, like compressed data or images);
- 2% symlinks (mostly relative to a sibling, some absolute, a few dangling),
  0.2% empty files, 10% of files executable.
"""
import os
import random
import sys

SEED = 20261123
ROOTS = ["usr/lib", "usr/share", "usr/bin", "usr/include", "etc", "opt", "var/lib"]
TEXT_EXT = [".txt", ".conf", ".py", ".h", ".c", ".html", ".json", ".md", ""]
BIN_EXT = [".so", ".a", ".o", ".bin", ""]
RAND_EXT = [".gz", ".png", ".jpg", ".xz", ".zst"]


def word(rng):
    """A pronounceable pseudo-word, 2-5 syllables."""
    cons, vow = "bcdfghklmnprstvz", "aeiou"
    return "".join(rng.choice(cons) + rng.choice(vow) for _ in range(rng.randint(1, 4)))


def text_corpus(rng, size):
    """Source/config-like lines from a 3,000-word vocabulary, with numbers
    and punctuation: compresses about like real text files."""
    vocab = [word(rng) for _ in range(3000)]
    # Zipf-ish: a few words are very common, most are rare.
    weights = [1.0 / (i + 1) for i in range(len(vocab))]
    cum = []
    total = 0.0
    for w in weights:
        total += w
        cum.append(total)
    lines, n = [], 0
    while n < size:
        indent = "    " * rng.randint(0, 3)
        k = rng.randint(2, 12)
        words = rng.choices(vocab, cum_weights=cum, k=k)
        r = rng.random()
        if r < 0.3:
            line = f"{indent}{words[0]} = {rng.randint(0, 99999)}  # {' '.join(words[1:])}"
        elif r < 0.5:
            line = f"{indent}{words[0]}({', '.join(words[1:])});"
        else:
            line = indent + " ".join(words)
        lines.append(line)
        n += len(line) + 1
    return ("\n".join(lines) + "\n").encode()[:size]


def binary_corpus(rng, size):
    """Executable-like bytes: 64-byte blocks that are zero runs, copies of
    earlier blocks (tables, relocations), small-integer noise or random."""
    blocks = []
    for _ in range(size // 64):
        r = rng.random()
        if r < 0.25 or not blocks:
            blocks.append(bytes(64))
        elif r < 0.55:
            blocks.append(blocks[rng.randrange(max(0, len(blocks) - 512), len(blocks))])
        elif r < 0.85:
            blocks.append(bytes(rng.choices(range(16), k=64)))
        else:
            blocks.append(rng.randbytes(64))
    return b"".join(blocks)


def file_size(rng):
    r = rng.random()
    if r < 0.005:
        return int(64 * 1024 * (16 ** rng.random()))  # 64 KiB - 1 MiB
    if r < 0.04:
        return int(8 * 1024 * (8 ** rng.random()))  # 8 - 64 KiB
    return min(8192, 100 + int(rng.lognormvariate(6.8, 1.1)))


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: gen-tree.py DIR [FILES]")
    root = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) == 3 else 100000
    rng = random.Random(SEED)
    os.umask(0o022)

    corpus_size = 8 * 1024 * 1024
    text = text_corpus(rng, corpus_size)
    binary = binary_corpus(rng, corpus_size)

    # Directories: each new one goes under a random earlier one, shallower
    # ones preferred, so the tree is bushy near the top and a few levels deep.
    dirs = list(ROOTS)
    depth = [r.count("/") + 1 for r in ROOTS]
    ndirs = max(len(ROOTS), count // 50)
    while len(dirs) < ndirs:
        i = rng.randrange(len(dirs))
        if depth[i] >= 6 or (depth[i] >= 3 and rng.random() < 0.5):
            continue
        dirs.append(f"{dirs[i]}/{word(rng)}{len(dirs)}")
        depth.append(depth[i] + 1)
    for d in dirs:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    # Uneven file counts per directory (Pareto weights).
    cum, total = [], 0.0
    for _ in dirs:
        total += rng.paretovariate(1.2)
        cum.append(total)

    files_in = [[] for _ in dirs]  # regular files so far, per directory
    for i in range(count):
        di = rng.choices(range(len(dirs)), cum_weights=cum)[0]
        d = dirs[di]
        r = rng.random()
        if r < 0.02:
            # Symlink: to a sibling (libfoo.so -> libfoo.so.1), an absolute
            # path into the tree, or (rarely) nowhere.
            s = rng.random()
            if files_in[di] and s < 0.7:
                target = rng.choice(files_in[di])
            elif s < 0.95:
                target = "/" + rng.choice(dirs)
            else:
                target = f"../missing-{i}"
            os.symlink(target, os.path.join(root, d, f"{word(rng)}-link{i}"))
            continue
        kind = rng.random()
        if kind < 0.55:
            name, src = f"{word(rng)}{i}{rng.choice(TEXT_EXT)}", text
        elif kind < 0.80:
            name, src = f"{word(rng)}{i}{rng.choice(BIN_EXT)}", binary
        else:
            name, src = f"{word(rng)}{i}{rng.choice(RAND_EXT)}", None
        if r < 0.022:
            data = b""
        else:
            size = file_size(rng)
            if src is None:
                data = rng.randbytes(size)
            else:
                off = rng.randrange(len(src) - size)
                data = src[off:off + size]
        p = os.path.join(root, d, name)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, 0o755 if rng.random() < 0.1 else 0o644)
        files_in[di].append(name)


if __name__ == "__main__":
    main()
