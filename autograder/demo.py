"""`deepgrade demo`: grade the bundled sample class on every topic and show the results."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from textwrap import shorten

from autograder.batch import class_table, grade_folder
from autograder.calibration import uncalibrated
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
    first = uncalibrated(topics)
    if first:
        echo(f"(first run: timing the reference and slow solutions of {len(first)} topic(s) to set each call's "
             "time limit, about a second per topic, once)")
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
    echo("\nCourse: a term in a course folder (init, grade, feedback, report, export)")
    run_course_demo(out_dir, class_dir, workers=workers, echo=echo)
    elapsed = time.perf_counter() - start
    echo(f"Demo finished in {elapsed:.1f} s.")
    return {"report": report, "out_dir": out_dir, "elapsed": elapsed}


COURSE_TOPICS = ("residual", "clipping")


def run_course_demo(out_dir: Path, class_dir: Path, *, workers: int | None = None,
                    echo: Callable[[str], None] = print) -> Path:
    """The sample class as a course in ``out_dir/course``: residual is past due (with LMS
    submission times, a late student, one with an extension), clipping is due next week;
    a quiz is graded too. Returns the course folder."""
    import csv
    from datetime import datetime, timedelta, timezone

    from autograder.gradebook import Gradebook, grade_course, load_course, scaffold_course
    from autograder.gradebook.exports import FORMATS, export, text_table
    from autograder.reports.classreport import write_report
    from autograder.reports.feedback import write_feedback
    from quizzes.build import build_quiz
    from quizzes.demo import SAMPLE_SPEC
    from quizzes.simulate import write_responses

    course_dir = out_dir / "course"
    students = sorted(p.name for p in class_dir.iterdir() if p.is_dir())
    now = datetime.now(timezone.utc)
    # Due dates a week apart from first_due: residual three days ago, clipping in four days.
    scaffold_course(course_dir, name="Sample class (deepgrade demo)", topics=list(COURSE_TOPICS),
                    first_due=now - timedelta(days=10),
                    roster=[(s, s.title(), f"{s}@example.edu") for s in students])
    echo(f"  deepgrade init {course_dir}")
    for topic in COURSE_TOPICS:
        for s in students:
            shutil.copy(class_dir / s / f"{topic}.py", course_dir / "submissions" / topic / s / f"{topic}.py")
    course = load_course(course_dir)
    due = course.assignments["residual"].due
    assert due is not None
    late_by = {"ada": -timedelta(hours=5), "ben": timedelta(minutes=10), "chloe": timedelta(hours=20),
               "dev": timedelta(days=1, hours=3), "eve": timedelta(days=6), "mallory": -timedelta(minutes=1)}
    with (course_dir / "submissions" / "residual" / "manifest.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student_id", "submitted_at"])
        for s in students:
            writer.writerow([s, (due + late_by.get(s, timedelta(0))).isoformat(timespec="seconds")])
    quiz_dir = course_dir / "quizzes"
    built = build_quiz(SAMPLE_SPEC, quiz_dir / "week5", roster=course.roster_path, formats="key")
    responses = write_responses(built.quiz, quiz_dir / "week5-responses.csv", seed="demo")
    with (course_dir / "deepgrade.toml").open("a", encoding="utf-8") as fh:
        fh.write('dev = { residual = 2 }            # dev was ill: two extra days\n\n'
                 '[quizzes.week5]\ntitle = "Week 5 quiz"\nkey = "quizzes/week5"\n'
                 f'responses = "quizzes/{responses.name}"\nweight = 0.5\n')
    course = load_course(course_dir)

    first = grade_course(course, workers=workers)
    echo(f"  deepgrade grade --course {course_dir}    ->  {len(first.graded)} graded in {first.elapsed:.1f} s, "
         f"quiz week5: {first.quizzes.get('week5', 0)} students")
    again = grade_course(course, workers=workers)
    echo(f"  deepgrade grade --course {course_dir}    ->  {len(again.graded)} graded, {again.skipped} unchanged "
         "(skipped: same content, same graders)")
    with Gradebook.open(course.db_path) as book:
        echo("")
        echo("\n".join("    " + line for line in text_table(course, book).splitlines()))
        echo("    (residual was due 3 days ago: ben is within the 15-minute grace, chloe 1 day late, dev on time "
             "with a 2-day extension, eve beyond 5 days scores 0)")
        echo("")
        pages = write_feedback(course, book)
        example = course_dir / "feedback" / "residual" / "ben.html"
        echo(f"  deepgrade feedback  ->  {len(pages) // 2} pages (HTML and Markdown), e.g. {example}")
        echo(f"  deepgrade report    ->  {write_report(course, book)}")
        for fmt in FORMATS:
            echo(f"  deepgrade export --format {fmt:<7s}->  {export(course, book, fmt)}")
    return course_dir
