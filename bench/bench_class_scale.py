"""Class scale: `deepgrade grade all` on a big class, with looping students among them.

    python bench/bench_class_scale.py                       # 1,000 students x 7 topics, 2 workers (~5 min)
    python bench/bench_class_scale.py --students 200        # a quick run; the figure is extrapolated

The class: 10 % copies of the sample class's looping student `eve` (--loopers), the others
drawn at random (seeded) from the correct and buggy sample students (ada, ben, chloe, dev).
The command runs as a user would run it, in a child process; printed: wall time, the time
per student, the extrapolation to 1,000 students, and the peak memory of the whole process
tree (grading processes, fork servers and sandbox workers: the sum of their resident sets,
sampled every 0.2 s). Target (issue 12): 1,000 students in at most 300 s with 2 workers.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.demo import make_class  # noqa: E402

REGULAR = ("ada", "ben", "chloe", "dev")  # correct and buggy samples; mallory (hostile) is left out
LOOPER = "eve"
TARGET_SECONDS, TARGET_STUDENTS = 300.0, 1000


def build_class(folder: Path, students: int, loopers: float, seed: int) -> tuple[Path, int]:
    """``students`` folders: a ``loopers`` share of eve, the rest drawn from REGULAR; (folder, eves)."""
    sample = make_class(folder / "sample")
    out = folder / "subs"
    out.mkdir()
    rng = random.Random(seed)
    n_loop = round(students * loopers)
    names = [LOOPER] * n_loop + [rng.choice(REGULAR) for _ in range(students - n_loop)]
    rng.shuffle(names)
    for i, name in enumerate(names):
        shutil.copytree(sample / name, out / f"s{i:04d}-{name}")
    return out, n_loop


def tree_rss(root: int) -> int:
    """Bytes resident in ``root`` and all its descendants (read from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            with open(f"/proc/{entry}/statm", "rb") as fh:
                rss[int(entry)] = int(fh.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def run(subs: Path, out: Path, workers: int) -> tuple[float, int, str]:
    """Time `deepgrade grade all`; (seconds, peak bytes of the process tree, last output line)."""
    command = [sys.executable, "-m", "cli", "grade", "all", str(subs), "--out", str(out), "--workers", str(workers)]
    if shutil.which("deepgrade"):
        command = ["deepgrade", *command[3:]]
    peak, done = 0, threading.Event()
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.2):
            peak = max(peak, tree_rss(proc.pid))

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    output, _ = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"deepgrade grade failed (exit {proc.returncode}):\n{output[-2000:]}")
    last = [line for line in output.splitlines() if line.strip()][-1:] or [""]
    return wall, peak, last[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=TARGET_STUDENTS, help="class size")
    parser.add_argument("--loopers", type=float, default=0.10, help="share of looping students (eve)")
    parser.add_argument("--workers", type=int, default=2, help="parallel grading processes")
    parser.add_argument("--seed", type=int, default=12, help="seed for drawing the class")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="deepgrade-scale-") as tmp:
        subs, eves = build_class(Path(tmp), args.students, args.loopers, args.seed)
        wall, peak, last = run(subs, Path(tmp) / "graded", args.workers)
        graded = len(list((Path(tmp) / "graded").rglob("results.json")))
    per_student = wall / args.students
    print(f"class: {args.students} students ({eves} looping, {args.students - eves} drawn from "
          f"{', '.join(REGULAR)}) x 7 topics, workers={args.workers}; {graded} results written")
    print(f"wall time {wall:.1f} s ({per_student * 1000:.0f} ms per student, all topics)")
    if args.students != TARGET_STUDENTS:
        print(f"extrapolated to {TARGET_STUDENTS} students: {per_student * TARGET_STUDENTS:.0f} s "
              f"(linear in the class size; start-up counted once per student)")
    print(f"peak memory of the process tree: {peak / 2**20:.0f} MiB")
    print(f"target: {TARGET_STUDENTS} students in <= {TARGET_SECONDS:.0f} s with 2 workers")
    if last:
        print(f"deepgrade's last line: {last[:160]}")


if __name__ == "__main__":
    main()
