"""Where a stateful grader's time goes: round trips, grading-process CPU and worker CPU per check.

    python bench/bench_stateful.py                         # optimizers, clipping, regularization
    python bench/bench_stateful.py --topics clipping --copies 40 --checks

Grades N copies of the reference solution (one worker, one pytest session, like
bench/bench_grade.py) and prints per topic the median wall time per submission and, per
submission, the round trips to the sandbox, the CPU seconds of the grading process spent in
the checks and the CPU seconds of the workers (import and student code; start-up excluded).
CPU figures change little on a loaded machine, where wall times do: issue 12's target for
these topics is 0.04 s of wall time per submission on a quiet one. ``--checks`` adds the
same figures per check.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder import one_blas_thread  # noqa: E402

one_blas_thread()  # as `deepgrade grade` runs, before NumPy loads

from autograder.grading import GradingPlugin, Job, run_session  # noqa: E402
from autograder.sandbox import proxy  # noqa: E402


def check_of(item) -> tuple[str, str]:
    """(topic, check) of a grader's pytest item."""
    return Path(str(item.path)).stem.removeprefix("test_"), item.originalname.removeprefix("test_")


class Meters:
    """Round trips, grading-process CPU and worker CPU, per (topic, check)."""

    def __init__(self) -> None:
        self.trips: Counter = Counter()
        self.cpu: Counter = Counter()
        self.worker: Counter = Counter()
        self.current: tuple[str, str] = ("?", "?")

    def install(self) -> None:
        request, kill = proxy.Connection.request, proxy.Connection.kill
        run_direct = GradingPlugin._run_direct
        meters = self

        def counted(conn, *args, **kwargs):
            meters.trips[meters.current] += 1
            return request(conn, *args, **kwargs)

        def killed(conn) -> None:
            alive = conn.alive
            kill(conn)
            if alive:  # a worker's CPU, charged to the check that ends it (the session's end: the last)
                meters.worker[getattr(conn, "bench_topic", "?"), "(workers)"] += conn.final_cpu or 0.0

        spawn = proxy.Submission._connection

        def tagged(sub):
            conn = spawn(sub)
            conn.bench_topic = sub.topic
            return conn

        def timed(plugin, item, key) -> None:  # the check, its submission fixture included
            meters.current = check_of(item)
            start = time.process_time()
            try:
                run_direct(plugin, item, key)
            finally:
                meters.cpu[meters.current] += time.process_time() - start

        proxy.Connection.request, proxy.Connection.kill, proxy.Submission._connection = counted, killed, tagged
        GradingPlugin._run_direct = timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topics", default="optimizers,clipping,regularization", help="comma-separated topics")
    parser.add_argument("--copies", type=int, default=20, help="submissions (copies of the reference) per topic")
    parser.add_argument("--checks", action="store_true", help="also print the figures per check")
    args = parser.parse_args()
    topics = args.topics.split(",")
    meters = Meters()
    meters.install()
    jobs = [Job(f"copy{i:03d}", topic, {f"{topic}.py": (ROOT / "solutions" / f"{topic}.py").read_bytes()})
            for topic in topics for i in range(args.copies)]
    results = []
    run_session(jobs, results.append)
    n = args.copies
    print(f"{n} copies of the reference per topic, one worker; figures per submission")
    print(f"{'topic':16s} {'median s':>9s} {'round trips':>12s} {'checks CPU ms':>14s} {'worker CPU ms':>14s}")
    for topic in topics:
        wall = statistics.median(r.execution_time for r in results if r.topic == topic)
        trips = sum(v for (t, _), v in meters.trips.items() if t == topic) / n
        cpu = sum(v for (t, _), v in meters.cpu.items() if t == topic) / n
        worker = sum(v for (t, _), v in meters.worker.items() if t == topic) / n
        print(f"{topic:16s} {wall:9.4f} {trips:12.1f} {1000 * cpu:14.1f} {1000 * worker:14.1f}")
        if args.checks:
            for (t, check), v in sorted(meters.cpu.items()):
                if t == topic:
                    print(f"  {check:46s} {meters.trips[t, check] / n:12.1f} {1000 * v / n:14.2f}")
    print(f"load average {os.getloadavg()[0]:.2f} (2 cores: above ~1, wall times are inflated)")


if __name__ == "__main__":
    main()
