#!/usr/bin/env python3
"""Stand-in for `/usr/bin/time -v -o FILE CMD...` where the Debian package `time` is missing:
writes the three lines bench/dbtool.py reads (wall clock, peak RSS of the child, exit status).

  timeit.py -o FILE CMD [ARGS...]
"""
import resource
import subprocess
import sys
import time


def main():
    if len(sys.argv) < 4 or sys.argv[1] != "-o":
        raise SystemExit(__doc__)
    out, cmd = sys.argv[2], sys.argv[3:]
    t0 = time.monotonic()
    rc = subprocess.call(cmd)
    wall = time.monotonic() - t0
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kilobytes on Linux
    m, s = divmod(wall, 60)
    with open(out, "w") as f:
        f.write(f"\tCommand being timed: \"{' '.join(cmd)}\"\n")
        f.write(f"\tElapsed (wall clock) time (h:mm:ss or m:ss): {int(m)}:{s:05.2f}\n")
        f.write(f"\tMaximum resident set size (kbytes): {rss_kb}\n")
        f.write(f"\tExit status: {rc}\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())
