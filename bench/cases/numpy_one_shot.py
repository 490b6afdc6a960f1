"""np.savez as a user's script calls it (spawned by bench/one-shot.ts): the arrays are made in this process
before the timer starts, then np.savez writes them into a file opened with open(path, 'wb').

argv[1] is JSON: {"arrays": [[name, shape], ...], "outDir", "repeats", "resultFile", "settle", "pauseMs"}. Every array is bfloat16's
two-byte void ('<V2', what ml_dtypes' bfloat16 saves as) filled with pseudo-random bits, so the file has the names,
shapes and byte count of the node side's tree. The result has the same fields as bench/cases/one-shot-case.ts.
"""
import json
import os
import resource
import sys
import time

import numpy as np

VMSTAT_KEYS = {"pgalloc_normal", "pgfree", "pgfault", "thp_fault_alloc", "nr_dirtied", "nr_written", "compact_stall", "pgscan_kswapd", "pgscan_direct"}


def vmstat():
    out = {}
    try:
        with open("/proc/vmstat") as f:
            for line in f:
                key, value = line.split()
                if key in VMSTAT_KEYS:
                    out[key] = int(value)
    except OSError:
        pass
    return out


def reported_kib():
    try:
        with open("/sys/module/page_reporting/parameters/reported_kib") as f:
            return int(f.read())
    except OSError:
        return None


def counters():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"minorFaults": usage.ru_minflt, "majorFaults": usage.ru_majflt, "vmstat": vmstat(), "reportedKiB": reported_kib()}


def minus(after, before):
    rk = None if after["reportedKiB"] is None or before["reportedKiB"] is None else after["reportedKiB"] - before["reportedKiB"]
    return {
        "minorFaults": after["minorFaults"] - before["minorFaults"],
        "majorFaults": after["majorFaults"] - before["majorFaults"],
        "vmstat": {k: v - before["vmstat"].get(k, 0) for k, v in after["vmstat"].items()},
        "reportedKiB": rk,
    }


def status_bytes(field, path="/proc/self/status"):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def settle(options):
    """Waits until free-page reporting has been quiet for quietMs (as the node child does), at most maxMs."""
    start = time.perf_counter()
    last = reported_kib()
    if last is None:
        return {"waitedMs": 0, "quiet": True}
    quiet_since = start
    while True:
        time.sleep(0.25)
        now = time.perf_counter()
        current = reported_kib()
        if current != last:
            last = current
            quiet_since = now
        if (now - quiet_since) * 1000 >= options["quietMs"]:
            return {"waitedMs": (now - start) * 1000, "quiet": True}
        if (now - start) * 1000 >= options["maxMs"]:
            return {"waitedMs": (now - start) * 1000, "quiet": False}


def make_arrays(specs):
    rng = np.random.default_rng(0)
    arrays = {}
    for name, shape in specs:
        count = int(np.prod(shape, dtype=np.int64))
        # Small finite bf16-like values: random sign and mantissa, exponent in a narrow range.
        bits = rng.integers(0, 1 << 16, size=count, dtype=np.uint16)
        bits &= 0x807F
        bits |= 0x3A00
        arrays[name] = bits.view("V2").reshape(shape)
    return arrays


def main():
    args = json.loads(sys.argv[1])
    out = os.path.join(args["outDir"], "one-shot-np-savez.npz")
    setup_before = counters()
    setup_start = time.perf_counter()
    arrays = make_arrays(args["arrays"])
    setup_seconds = time.perf_counter() - setup_start
    setup_delta = minus(counters(), setup_before)
    settled = None if args.get("settle") is None else settle(args["settle"])
    anon_huge = status_bytes("AnonHugePages", "/proc/self/smaps_rollup")
    rss_after_setup = status_bytes("VmRSS")
    reps = []
    size = 0
    for rep in range(args["repeats"]):
        if os.path.exists(out):
            os.remove(out)
        if rep > 0 and args.get("pauseMs", 0) > 0:
            time.sleep(args["pauseMs"] / 1000)
        before = counters()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        start_ns = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        start = time.perf_counter()
        with open(out, "wb") as f:
            np.savez(f, **arrays)
        seconds = time.perf_counter() - start
        end_ns = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        used = resource.getrusage(resource.RUSAGE_SELF)
        reps.append({
            "startNs": str(start_ns),
            "endNs": str(end_ns),
            "seconds": seconds,
            "userSeconds": used.ru_utime - usage.ru_utime,
            "systemSeconds": used.ru_stime - usage.ru_stime,
            "delta": minus(counters(), before),
        })
        size = os.path.getsize(out)
    if os.path.exists(out):
        os.remove(out)
    result = {
        "write": "np-savez",
        "source": "generate",
        "bytes": size,
        "setupSeconds": setup_seconds,
        "reps": reps,
        "anonHugeBytes": anon_huge,
        "rssAfterSetupBytes": rss_after_setup,
        "maxRssBytes": status_bytes("VmHWM"),
        "glibcTunables": os.environ.get("GLIBC_TUNABLES"),
        "setupDelta": setup_delta,
        "settle": settled,
    }
    with open(args["resultFile"], "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
