#!/usr/bin/env python3
"""Code-shape figures for src/: the longest files and functions (test modules left out).

    python3 scripts/code_shape.py [SRC_DIR] [--top N]

A file's count leaves out its `#[cfg(test)] mod tests { ... }` block and files that are test
modules (`tests.rs`) or generated (first line `// @generated`). A function's length is from its
`fn` line to its closing brace, found by counting braces outside strings, chars and comments —
good enough for rustfmt-formatted code, which is all this repository has.
"""
import os
import re
import sys

FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(async\s+)?(const\s+)?(unsafe\s+)?fn\s+(\w+)")


def strip_code(line):
    """The line without string/char literals and // comments, for brace counting."""
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(\\.|[^'\\])'", "''", line)
    return line.split("//", 1)[0]


def test_block(lines):
    """Line range of a `#[cfg(test)] mod ... {` block, if any."""
    for i, line in enumerate(lines):
        if line.strip() == "#[cfg(test)]" and i + 1 < len(lines) and re.match(r"\s*mod \w+ \{", lines[i + 1]):
            depth, j = 0, i + 1
            while j < len(lines):
                depth += strip_code(lines[j]).count("{") - strip_code(lines[j]).count("}")
                if depth == 0:
                    return range(i, j + 1)
                j += 1
    return range(0)


def functions(path, lines, skip):
    out = []
    for i, line in enumerate(lines):
        if i in skip:
            continue
        m = FN.match(line)
        if not m:
            continue
        depth, j, opened = 0, i, False
        while j < len(lines):
            code = strip_code(lines[j])
            if not opened and ";" in code and "{" not in code:
                break  # a declaration without a body
            depth += code.count("{") - code.count("}")
            opened = opened or "{" in code
            if opened and depth <= 0:
                out.append((j - i + 1, f"{path}:{i + 1} {m.group(6)}"))
                break
            j += 1
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 8
    src = args[0] if args else "src"
    files, fns = [], []
    for root, _, names in os.walk(src):
        for name in sorted(names):
            if not name.endswith(".rs"):
                continue
            path = os.path.join(root, name)
            lines = open(path, encoding="utf-8").read().split("\n")
            if name == "tests.rs" or lines[0].startswith("// @generated"):
                continue
            skip = set(test_block(lines))
            files.append((len(lines) - len(skip), path))
            fns += functions(path, lines, skip)
    files.sort(reverse=True)
    fns.sort(reverse=True)
    print(f"{len(files)} files, {sum(n for n, _ in files)} lines outside tests and generated code")
    print("longest files:", ", ".join(f"{p} {n}" for n, p in files[:top]))
    print("longest functions:", ", ".join(f"{w} {n}" for n, w in fns[:top]))
    print(f"files over 600 lines: {sum(1 for n, _ in files if n > 600)}; functions over 80 lines: {sum(1 for n, _ in fns if n > 80)}")


if __name__ == "__main__":
    main()
