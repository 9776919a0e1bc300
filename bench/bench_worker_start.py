"""What one sandbox worker costs to start: the isolation steps paid once per submission and topic.

    python bench/bench_worker_start.py [--workers 150]

Every (student, topic) gets a fresh worker from the fork server: as root, fork it as PID 1 of
a new PID namespace, where it enters new mount, network and IPC namespaces itself (as an
ordinary user an intermediate process does that and forks the worker), a root of bind
mounts, the scratch folder; confine it (limits, no capabilities, seccomp), then import the
submission. Printed:
the wall time from asking to a worker ready for requests, the import, and the CPU the whole
cycle (start, import, kill, the kernel's teardown of its namespaces) costs the machine, read
from /proc/stat with the background measured just before subtracted (so a busy machine
makes the last figure noisy; run it on a quiet one). Grading hides the start's wall time
(the next submission's worker is started while the current one is graded) but not its CPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.sandbox import Limits, Sandbox  # noqa: E402


def busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=150, help="workers to start")
    args = parser.parse_args()
    files = {"activations.py": (ROOT / "solutions" / "activations.py").read_bytes()}
    with Sandbox(Limits()) as sandbox:
        for _ in range(5):  # warm up
            sandbox.spawn(files).kill()
        start_idle = busy_seconds()
        began = time.perf_counter()
        time.sleep(2.0)
        background = (busy_seconds() - start_idle) / (time.perf_counter() - began)
        starts, imports = [], []
        before, began = busy_seconds(), time.perf_counter()
        for _ in range(args.workers):
            t0 = time.perf_counter()
            conn = sandbox.spawn(files)
            t1 = time.perf_counter()
            conn.request(("import", "activations"), 5.0)
            imports.append(time.perf_counter() - t1)
            starts.append(t1 - t0)
            conn.kill()
        time.sleep(0.5)  # the kernel tears namespaces down after the worker is gone
        elapsed, used = time.perf_counter() - began, busy_seconds() - before
        print(sandbox.isolation.split(":")[0] + ":" + sandbox.isolation.split(":")[1])
    cycle = (used - background * elapsed) / args.workers
    print(f"{args.workers} workers; load average {os.getloadavg()[0]:.2f}, background {background:.2f} cores")
    print(f"  start (ask -> ready)   wall median {1e3 * statistics.median(starts):6.2f} ms  min {1e3 * min(starts):6.2f} ms")
    print(f"  import of the module   wall median {1e3 * statistics.median(imports):6.2f} ms")
    print(f"  machine CPU per worker (start, import, kill, teardown): {1e3 * cycle:.1f} ms"
          f" -> {7 * cycle:.3f} s per student of 7 topics")


if __name__ == "__main__":
    main()
