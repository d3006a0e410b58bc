#!/usr/bin/env python3
"""Run a command and write the bytes it read through read()/pread() (`rchar` of /proc/<pid>/io), its
children included, to a file: the SQLite "pages read" figure of bench/cleartokens.sh (rchar / page size).

  iocount.py OUT -- COMMAND [ARGS...]

Linux adds a reaped child's I/O counters to its parent's (as with rusage), so the delta of this
process's own /proc/self/io across the child's life is the child's. rchar counts every byte SQLite
asks the OS for, whether the OS page cache had it or not (read_bytes would count only the disk reads,
~0 on a warm machine); SQLite's own page cache hits are not in it. The exit status is the command's.
"""
import subprocess
import sys


def rchar():
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    return 0


def main():
    out, sep, *cmd = sys.argv[1:]
    if sep != "--" or not cmd:
        raise SystemExit(__doc__)
    before = rchar()
    status = subprocess.call(cmd)
    after = rchar()
    with open(out, "w") as f:
        f.write(f"{after - before}\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
