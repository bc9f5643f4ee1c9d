#!/usr/bin/env python3
"""Would a checkpoint's fsyncs finish sooner in two parallel chains than in one?

A checkpoint's tail is four syncs in a row: its MANIFEST (4 KiB here) and CURRENT (16 bytes)
file data, then the temporary directory and the parent. This probe times exactly that shape on
the directory it runs in, once with the two file syncs one after the other ("seq") and once with
them on two threads ("pair"), alternating, 40 times each; with `--busy` a background thread
keeps writing 32 MiB files and fdatasyncing them, as the compaction after a fill does.
Prints the median and the slowest of each. Usage: cd <dir on the disk under test>;
python3 scripts/fsync_pairs.py [--busy]. (docs/performance.md, "Checkpoints".)
"""
import os
import statistics
import sys
import threading
import time

ROUNDS = 40
stop = False


def background_writer():
    buf = b"y" * (1 << 20)
    i = 0
    while not stop:
        fd = os.open(f"probe-big{i % 2}", os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        for _ in range(32):
            os.write(fd, buf)
        os.fdatasync(fd)
        os.close(fd)
        i += 1


def written(name, n):
    fd = os.open(name, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    os.write(fd, b"x" * n)
    return fd


def sync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)


def one(i, pair):
    fds = [written(f"probe-{i}-{k}", n) for k, n in enumerate([4096, 16])]
    t = time.perf_counter()
    if pair:
        th = threading.Thread(target=os.fdatasync, args=(fds[1],))
        th.start()
        os.fdatasync(fds[0])
        th.join()
    else:
        for fd in fds:
            os.fdatasync(fd)
    sync_dir(".")
    sync_dir(".")
    elapsed = time.perf_counter() - t
    for k, fd in enumerate(fds):
        os.close(fd)
        os.unlink(f"probe-{i}-{k}")
    return elapsed


def main():
    global stop
    busy = "--busy" in sys.argv
    bg = None
    if busy:
        bg = threading.Thread(target=background_writer)
        bg.start()
        time.sleep(0.5)
    seq, pair = [], []
    for i in range(ROUNDS):
        seq.append(one(2 * i, False))
        time.sleep(0.02)
        pair.append(one(2 * i + 1, True))
        time.sleep(0.02)
    if bg:
        stop = True
        bg.join()
        for k in range(2):
            if os.path.exists(f"probe-big{k}"):
                os.unlink(f"probe-big{k}")
    ms = lambda v: (statistics.median(v) * 1e3, max(v) * 1e3)
    print("%s seq median %.2f ms (slowest %.2f); pair median %.2f ms (slowest %.2f); load %s"
          % (("busy" if busy else "quiet",) + ms(seq) + ms(pair) + (os.getloadavg()[0],)))


if __name__ == "__main__":
    main()
