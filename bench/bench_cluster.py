"""Throughput of local grading vs a Dask cluster with 1 and 2 workers on this machine.

    python bench/bench_cluster.py [--students 40]

The class is the sample class's correct and buggy students (no looping student, so time-outs
do not dominate), copied under new ids. The Dask cluster is a LocalCluster of single-threaded
worker processes on loopback, each with deepgrade's sandbox started by the worker plugin.
Per-task overhead is what Dask adds around a task: the round trip of an empty task.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from autograder.cluster import ClusterSettings
from autograder.cluster.executor import grade_on_cluster
from autograder.grading import Job, available_topics, grade_jobs, jobs_for_folder

SAMPLES = Path(__file__).resolve().parents[1] / "autograder" / "samples" / "class"
OPTIONS = {"call_timeout": 2.0, "check_timeout": 10.0, "hide": []}


def make_class(students: int) -> list[Job]:
    base = [j for j in jobs_for_folder(SAMPLES, available_topics()) if j.student_id not in ("eve", "mallory")]
    ids = sorted({j.student_id for j in base})
    jobs = []
    for n in range(students):
        source = ids[n % len(ids)]
        jobs += [Job(f"s{n:04d}", j.topic, j.files) for j in base if j.student_id == source]
    return jobs


def empty_task(i: int) -> int:
    return i


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40)
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    jobs = make_class(args.students)
    rows = []
    t = time.perf_counter()
    grade_jobs(jobs, workers=2)
    local = time.perf_counter() - t
    rows.append(("local, 2 processes", local))
    print(f"  local: {local:.1f} s", flush=True)
    overhead = None
    for n in (1, 2):
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                          host="127.0.0.1") as cluster:
            t = time.perf_counter()
            grade_on_cluster(jobs, ClusterSettings(cluster.scheduler_address), OPTIONS)
            rows.append((f"dask, {n} worker(s)", time.perf_counter() - t))
            print(f"  {rows[-1][0]}: {rows[-1][1]:.1f} s", flush=True)
            if n == 2:
                with Client(cluster, set_as_default=False) as client:
                    client.gather(client.map(empty_task, range(50), pure=False))  # warm
                    t = time.perf_counter()
                    client.gather(client.map(empty_task, range(500), pure=False))
                    overhead = (time.perf_counter() - t) / 500
    print(f"{len(jobs)} submissions ({args.students} students x {len(available_topics())} topics)")
    print(f"{'engine':<22}{'seconds':>10}{'subm/s':>10}{'vs local':>10}")
    for name, secs in rows:
        print(f"{name:<22}{secs:>10.1f}{len(jobs) / secs:>10.1f}{local / secs:>9.2f}x")
    print(f"Dask per-task overhead (empty task round trip, 2 workers): {overhead * 1000:.2f} ms")


if __name__ == "__main__":
    main()
