#!/usr/bin/env python3
"""How steady can a checkpoint be on this disk at all?

Times only a checkpoint's tail, with no database and nothing else writing: a new directory holding
a 4 KiB and a 16-byte file, both fdatasync'd on two threads (the MANIFEST and `CURRENT`), the
directory fsync'd, renamed, and its parent fsync'd. It runs that shape in groups of 11, as
`compare --workloads checkpoint` does, and prints per group the median and the slowest, and how
many groups have the slowest within 2x the median (issue 17's checkpoint tail goal): the disk's
own floor for that goal. Usage: cd <dir on the disk under test>; python3 scripts/fsync_floor.py
[groups, default 20] [--linked]. With --linked it times today's tail (since session 32 the
checkpoint links the source's `CURRENT`): one 4 KiB file fdatasync'd, then the two directory
syncs. (docs/performance.md, "Checkpoints".)
"""
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fsync_pairs import sync_dir, written  # noqa: E402  (the same file and directory syncs)


def one(i, linked):
    tmp, final = f"probe-tmp{i}", f"probe-dir{i}"
    os.mkdir(tmp)
    fds = [written(f"{tmp}/f{k}", n) for k, n in enumerate([4096] if linked else [4096, 16])]
    t = time.perf_counter()
    if linked:
        os.fdatasync(fds[0])
    else:
        th = threading.Thread(target=os.fdatasync, args=(fds[1],))
        th.start()
        os.fdatasync(fds[0])
        th.join()
    sync_dir(tmp)
    os.rename(tmp, final)
    sync_dir(".")
    elapsed = time.perf_counter() - t
    for k, fd in enumerate(fds):
        os.close(fd)
        os.unlink(f"{final}/f{k}")
    os.rmdir(final)
    return elapsed * 1e3


def main():
    args = [a for a in sys.argv[1:] if a != "--linked"]
    linked = "--linked" in sys.argv[1:]
    groups = int(args[0]) if args else 20
    within, rows = 0, []
    for g in range(groups):
        v = [one(g * 11 + j, linked) for j in range(11)]
        median, slowest = statistics.median(v), max(v)
        within += slowest <= 2 * median
        rows.append(f"{median:.2f}/{slowest:.2f} ({slowest / median:.1f}x)")
        time.sleep(0.2)
    print(f"groups with the slowest within 2x the median: {within} of {groups}; load {os.getloadavg()[0]:.2f}")
    print("median/slowest ms per group: " + ", ".join(rows))


if __name__ == "__main__":
    main()
