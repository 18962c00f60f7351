#!/usr/bin/env python3
"""Print the shell functions of BitBake files as one shell script, for shellcheck.

  bb-shell.py FILE...

Each `name() {` … `}` block that is not python becomes a shell function
(`:` in override names turns into `_`). BitBake expands `${VAR}` and
`${@python}` before the shell runs, so shellcheck sees each as the
constant word it becomes (`BB_VAR`, `BB_PYTHON`); the layer's shell
functions therefore write their own variables as `$name`, never `${name}`.
SC2157 (a constant string tested with -n/-z) and SC2043 (a loop over one
word) are off: a BitBake variable is a constant, and often a list. A file:line comment precedes each
function so a finding leads back to its recipe line.
"""
import re
import sys

FUNC = re.compile(r"^(fakeroot\s+)?([A-Za-z0-9_:\-${}]+)\s*\(\)\s*\{\s*$")


def python_expr_to_word(line):
    # ${@ ... } may nest braces; replace innermost-first until none remain.
    while "${@" in line:
        start = line.index("${@")
        depth, i = 0, start + 1
        while i < len(line):
            if line[i] == "{":
                depth += 1
            elif line[i] == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        line = line[:start] + "BB_PYTHON" + line[i + 1:]
    return re.sub(r"\$\{([A-Za-z0-9_\-]+)\}", r"BB_\1", line)


def main():
    print("#!/bin/sh")
    print("# shellcheck disable=SC2157,SC2043")
    for path in sys.argv[1:]:
        with open(path) as f:
            lines = f.read().split("\n")
        i = 0
        while i < len(lines):
            m = FUNC.match(lines[i])
            if m and not lines[i].startswith("python"):
                name = re.sub(r"[^A-Za-z0-9_]", "_", m.group(2))
                print(f"# {path}:{i + 1}")
                print(f"{name}() {{")
                i += 1
                while i < len(lines) and lines[i] != "}":
                    print(python_expr_to_word(lines[i]))
                    i += 1
                print("}")
            i += 1


if __name__ == "__main__":
    main()
