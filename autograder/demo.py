"""`deepgrade demo`: grade the bundled sample class on every topic and show the results."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from textwrap import shorten

from autograder.batch import class_table, grade_folder
from autograder.grading import available_topics

SAMPLES = Path(__file__).resolve().parent / "samples" / "class"
SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"
ROLES = {
    "ada": "reference solution",
    "ben": "buggy", "chloe": "buggy", "dev": "buggy",
    "eve": "hostile: loops, memory and fork bombs, exits",
    "mallory": "hostile: lying __eq__, ndarray subclasses, monkeypatching, reading solutions",
}


def make_class(folder: Path) -> Path:
    """Copy the sample class into ``folder`` and add `ada`, whose files are the references."""
    class_dir = folder / "class"
    shutil.copytree(SAMPLES, class_dir, dirs_exist_ok=True)
    ada = class_dir / "ada"
    ada.mkdir(exist_ok=True)
    for topic in available_topics():
        shutil.copy(SOLUTIONS / f"{topic}.py", ada / f"{topic}.py")
    return class_dir


def run_demo(out_dir: Path | None = None, *, workers: int | None = None, echo: Callable[[str], None] = print) -> dict:
    """Grade the sample class on every topic; print the class table and sample feedback."""
    start = time.perf_counter()
    tmp = None
    if out_dir is None:
        tmp = tempfile.mkdtemp(prefix="deepgrade-demo-")
        out_dir = Path(tmp)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    class_dir = make_class(out_dir)
    topics = available_topics()
    echo(f"Grading the sample class ({', '.join(sorted(p.name for p in class_dir.iterdir()))}) "
         f"on {len(topics)} topic(s): {', '.join(topics)}")
    report = grade_folder("all", class_dir, out_dir / "graded", workers=workers)
    echo("")
    echo(class_table(report))
    echo("")
    for student, role in ROLES.items():
        echo(f"  {student:8s} {role}")
    echo("\nWhat the buggy students are told (first failed check per topic):")
    for student in ("ben", "chloe", "dev"):
        for r in sorted((r for r in report.results if r.student_id == student), key=lambda r: topics.index(r.topic)):
            failed = [c for c in r.checks if not c.passed]
            if failed:
                first = failed[0].output.splitlines()
                echo(f"  {student}/{r.topic} [{failed[0].check_id}]")
                echo(f"      {shorten(first[0], 160, placeholder=' ...')}")
                for line in first[1:3]:
                    if line.startswith(("Looks like", "Hint")):
                        echo(f"      {shorten(line, 160, placeholder=' ...')}")
    hostile = [r for r in report.results if r.student_id in ("eve", "mallory")]
    if hostile:
        echo(f"\nHostile students earned {sum(r.score for r in hostile):g} of {sum(r.max_score for r in hostile):g} "
             "points in all; the grading kept going.")
    echo(report.results[0].output.splitlines()[0] if report.results else "")
    echo(f"\nResults: {out_dir / 'graded'} (results.json per student, grades.csv per topic)")
    from quizzes.demo import run_quiz_demo

    echo("\nQuiz: per-student variants, LMS exports, response grading and item analysis")
    echo(run_quiz_demo(out_dir / "quiz"))
    elapsed = time.perf_counter() - start
    echo(f"Demo finished in {elapsed:.1f} s.")
    return {"report": report, "out_dir": out_dir, "elapsed": elapsed}
