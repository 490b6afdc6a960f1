"""One numpy benchmark case in a process of its own (spawned by bench/run.ts).

argv[1] is the same JSON the node child gets; the result goes to its resultFile, as the node child's does.
np.load's members are read through zipfile, which checks each member's CRC-32 when it reaches the end.
"""
import json
import os
import resource
import sys
import time

import numpy as np


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_bytes():
    """VmHWM: Linux carries ru_maxrss over from the parent across fork + exec, VmHWM is this process's own."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    # ru_maxrss is in kibibytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def load_every_key(path):
    with np.load(path) as npz:
        return {key: npz[key] for key in npz.files}


def fsync_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def main():
    args = json.loads(sys.argv[1])
    case = args["case"]
    fixture = args["fixture"]
    out_dir_entries_at_start = len(os.listdir(args["outDir"]))
    setup_start = time.perf_counter()
    largest = None
    if case in ("np-savez", "np-savez-fsync"):
        arrays = load_every_key(fixture)
        largest = max(a.nbytes for a in arrays.values())
        out = os.path.join(args["outDir"], case + ".npz")
        fsync = args["fsync"] or case == "np-savez-fsync"

        def run():
            # Into a file we open, as saveNpz writes into a file it opens: the timer covers open to close.
            with open(out, "wb") as f:
                np.savez(f, **arrays)
                if fsync:
                    f.flush()
                    os.fsync(f.fileno())

        def before():
            if os.path.exists(out):
                os.remove(out)

        def size():
            return os.path.getsize(out)

    elif case in ("np-load", "np-load-all"):
        keep = case == "np-load-all"

        def run():
            total = 0
            kept = {}
            with np.load(fixture) as npz:
                for key in npz.files:
                    # Without keep, no name holds the array: it is freed before the next one is read.
                    if keep:
                        kept[key] = npz[key]
                        total += kept[key].nbytes
                    else:
                        total += npz[key].nbytes
            return total

        def before():
            pass

        def size():
            return os.path.getsize(fixture)

        out = None
    else:
        raise SystemExit("case %s does not run in python" % case)
    setup_seconds = time.perf_counter() - setup_start

    warmup, seconds, cpu = [], [], []
    size_bytes = 0
    try:
        for i in range(args["warmup"] + args["repeats"]):
            before()
            cpu_start = cpu_seconds()
            start = time.perf_counter()
            run()
            wall = time.perf_counter() - start
            used = cpu_seconds() - cpu_start
            size_bytes = size()
            if i < args["warmup"]:
                warmup.append(wall)
            else:
                seconds.append(wall)
                cpu.append(used)
    finally:
        if out is not None and os.path.exists(out):
            os.remove(out)

    result = {
        "case": case,
        "bytes": size_bytes,
        "warmupSeconds": warmup,
        "seconds": seconds,
        "cpuSeconds": cpu,
        "maxRssBytes": peak_rss_bytes(),
        "setupSeconds": setup_seconds,
        "glibcTunables": os.environ.get("GLIBC_TUNABLES"),
        "outDirEntriesAtStart": out_dir_entries_at_start,
    }
    if largest is not None:
        result["largestArrayBytes"] = largest
    with open(args["resultFile"], "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
