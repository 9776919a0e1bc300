"""Quiz benchmark: build 1,000 students x 20 questions in every format, then grade 1,000 response rows.

Targets (issue 4): build <= 10 s, grade <= 2 s. Run from the repository root:

    python bench/bench_quiz.py [--students 1000] [--keep DIR]

Grading is timed twice: the scoring itself (read the key and the CSV, score every cell, item
analysis) and the full `quiz grade` (plus scores.csv, 1,000 feedback pages and the HTML report
with its matplotlib figures).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from quizzes.analysis import analyze  # noqa: E402
from quizzes.assemble import assemble  # noqa: E402
from quizzes.build import ALL_FORMATS, WRITERS  # noqa: E402
from quizzes.fsutil import atomic_dir  # noqa: E402
from quizzes.grading import grade  # noqa: E402
from quizzes.report import grade_to_dir, score_matrix  # noqa: E402
from quizzes.simulate import write_responses  # noqa: E402

SPEC = Path(__file__).resolve().parents[1] / "quizzes" / "specs" / "week5_quiz.yaml"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--keep", type=Path, help="write outputs here instead of a temporary folder")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench_quiz_"))
    build_dir, grade_dir = base / "build", base / "grades"

    t0 = time.perf_counter()
    quiz = assemble(SPEC, variants=args.students)
    t_assemble = time.perf_counter() - t0
    per_format = {}
    with atomic_dir(build_dir, "build") as tmp:
        for fmt in ALL_FORMATS:
            t = time.perf_counter()
            WRITERS[fmt](quiz, tmp / fmt)
            per_format[fmt] = time.perf_counter() - t
    t_build = time.perf_counter() - t0

    responses = write_responses(quiz, base / "responses.csv", seed="bench")
    t = time.perf_counter()
    grading = grade(build_dir, responses)
    analyze(*score_matrix(grading))
    t_score = time.perf_counter() - t
    t = time.perf_counter()
    outcome = grade_to_dir(build_dir, responses, grade_dir)
    t_full = time.perf_counter() - t

    n_q = len(quiz.questions)
    print(f"quiz benchmark: {len(quiz.students)} students x {n_q} questions ({SPEC.name})")
    print(f"  build total            {t_build:6.2f} s   (target <= 10 s)")
    print(f"    assemble variants    {t_assemble:6.2f} s   (bank load, render, per-student order)")
    for fmt, secs in per_format.items():
        print(f"    {fmt:<20} {secs:6.2f} s")
    print(f"  grade: scoring         {t_score:6.2f} s   (target <= 2 s: key + CSV + scores + item analysis)")
    print(f"  grade: full command    {t_full:6.2f} s   (+ scores.csv, {len(grading.results)} feedback pages, "
          "report with plots)")
    print(f"  mean {outcome.stats.mean:.2f} / {outcome.stats.max_points:g}, alpha {outcome.stats.alpha:.3f}")
    print(f"  outputs in {base}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
