"""Grading cost: median seconds per submission per topic, and throughput.

    python bench/bench_grade.py                 # 10 copies of the sample class, one worker
    python bench/bench_grade.py --copies 40 --workers 2

Submissions are N copies of the sample class's reference and buggy students (hostile
students are left out unless --hostile: their time is the time limit, by design).
Per-submission time is measured from the first check of a (student, topic) to its last,
worker start-up and import included; wall time includes pytest start-up.
Targets (issue 2): <= 0.08 s median per submission per topic on one core; all topics of
one submission <= 0.5 s. Issue 12: the stateful topics (clipping, optimizers,
regularization) <= 0.04 s per submission. With one worker the table also gives the round
trips to the sandbox per submission, a figure a loaded machine does not change (each one
is a wake-up of two processes; pipelines send a whole trajectory in one).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder import one_blas_thread  # noqa: E402

one_blas_thread()  # as `deepgrade grade` runs, before NumPy loads

from autograder.demo import make_class  # noqa: E402
from autograder.grading import available_topics, grade_jobs, jobs_for_folder  # noqa: E402
from autograder.sandbox import proxy  # noqa: E402


def count_round_trips() -> Counter:
    """Count requests to sandbox workers per topic, in this process (one worker only)."""
    counts: Counter = Counter()
    request, connection = proxy.Connection.request, proxy.Submission._connection
    topic_of: dict[int, str] = {}

    def counted_connection(self):
        conn = connection(self)
        topic_of[id(conn)] = self.topic
        return conn

    def counted_request(self, *args, **kwargs):
        counts[topic_of.get(id(self), "?")] += 1
        return request(self, *args, **kwargs)

    proxy.Submission._connection = counted_connection
    proxy.Connection.request = counted_request
    return counts


def build_class(folder: Path, copies: int, hostile: bool) -> Path:
    """N copies of every sample student, as one submissions folder."""
    sample = make_class(folder / "sample")
    out = folder / "subs"
    for student in sorted(p for p in sample.iterdir() if p.is_dir()):
        if not hostile and student.name in ("eve", "mallory"):
            continue
        for i in range(copies):
            shutil.copytree(student, out / f"{student.name}{i:03d}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=10, help="copies of each sample student")
    parser.add_argument("--workers", type=int, default=1, help="parallel grading processes")
    parser.add_argument("--topics", default="all", help="comma-separated topics (default: all)")
    parser.add_argument("--hostile", action="store_true", help="include the hostile students")
    args = parser.parse_args()
    topics = available_topics() if args.topics == "all" else args.topics.split(",")
    with tempfile.TemporaryDirectory(prefix="deepgrade-bench-") as tmp:
        subs = build_class(Path(tmp), args.copies, args.hostile)
        jobs = jobs_for_folder(subs, topics)
        trips = count_round_trips() if args.workers == 1 else None
        start = time.perf_counter()
        results = grade_jobs(jobs, workers=args.workers)
        wall = time.perf_counter() - start
    per_topic = defaultdict(list)
    per_student = defaultdict(float)
    for r in results:
        per_topic[r.topic].append(r.execution_time)
        per_student[r.student_id] += r.execution_time
    students = len(per_student)
    print(f"{len(results)} submissions ({students} students x {len(topics)} topics), workers={args.workers}")
    print(f"{'topic':16s} {'median s':>9s} {'p90 s':>8s} {'max s':>8s}" + (f" {'round trips':>12s}" if trips else ""))
    for topic in topics:
        times = sorted(per_topic[topic])
        p90 = times[int(0.9 * (len(times) - 1))]
        line = f"{topic:16s} {statistics.median(times):9.4f} {p90:8.4f} {times[-1]:8.4f}"
        if trips:
            line += f" {trips[topic] / len(times):12.1f}"
        print(line)
    all_topics = statistics.median(per_student.values())
    print(f"all {len(topics)} topics of one submission: median {all_topics:.3f} s")
    print(f"wall time {wall:.2f} s -> {len(results) / wall:.1f} submissions/s, "
          f"{students / wall:.2f} students (all topics)/s")


if __name__ == "__main__":
    main()
