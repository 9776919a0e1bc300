"""deepgrade: autograded assignments and quizzes on why deep networks are hard to train.

The command tree mirrors what you type; each command is a thin wrapper over a library
function that the tests call directly.
"""
# ruff: noqa: E402 - the environment is set and the fork server started before the imports below

from __future__ import annotations

import os
import sys

from autograder import one_blas_thread
from autograder.prestart import PROGRAMS, start_early_for

if os.path.basename(sys.argv[0]) in PROGRAMS:  # the deepgrade program (not a test runner importing this)
    one_blas_thread()  # before NumPy loads
    start_early_for(sys.argv)  # `deepgrade grade` of one submission: the fork server starts now

import functools
import json
import time
from pathlib import Path
from typing import Any

import click

from autograder import __version__
from autograder.cluster.cli import cluster_options


class LazyGroup(click.Group):
    """A command group whose add-on command modules (quizzes, service, interop, ...) are
    imported only when a command outside the core ones is asked for, or listed: `deepgrade
    grade` must not pay for the quiz engine's or the web service's imports."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending: list[Any] = []  # functions that register commands on this group
        self.from_command_line = False

    def lazy(self, registrar: Any) -> None:
        """Call ``registrar`` (which adds commands to this group) the first time they are needed."""
        self.pending.append(registrar)

    def main(self, args: Any = None, *rest: Any, **kwargs: Any) -> Any:
        """As click's, remembering whether the arguments came from the command line (the
        ``deepgrade`` program) or from a caller such as click's test runner."""
        self.from_command_line = args is None
        return super().main(args, *rest, **kwargs)

    def load_all(self) -> None:
        while self.pending:
            self.pending.pop(0)()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and self.pending:
            self.load_all()
            found = super().get_command(ctx, cmd_name)
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        self.load_all()
        return super().list_commands(ctx)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="deepgrade")
def main() -> None:
    """Autograder and quiz builder for a deep-learning course on training pitfalls.

    \b
    Students:     deepgrade check activations activations.py
    Instructors:  deepgrade grade activations submissions/ --out graded/
                  deepgrade demo            (grade the bundled sample class)
                  deepgrade build --check   (are the student stubs up to date?)
    """


# ---------------------------------------------------------------------------- build / check


@main.command()
@click.argument("topics", nargs=-1)
@click.option("--check", "check_only", is_flag=True,
              help="Do not write; exit 1 if the committed stubs/READMEs differ from what would be generated.")
def build(topics: tuple[str, ...], check_only: bool) -> None:
    """Generate student stubs and READMEs from the reference solutions.

    Every `# BEGIN SOLUTION` ... `# END SOLUTION` block in solutions/<topic>.py becomes
    `raise NotImplementedError` in assignments/<topic>/<topic>.py. With no TOPICS, all
    topics are built.
    """
    from autograder import build as builder

    unknown = [t for t in topics if t not in builder.topics()]
    if unknown:
        raise click.ClickException(f"no reference for {', '.join(unknown)}; have: {', '.join(builder.topics())}")
    try:
        stale = builder.build(list(topics) or None, check=check_only)
    except builder.MarkerError as exc:
        raise click.ClickException(str(exc)) from None
    root = builder.ROOT
    if check_only:
        if stale:
            for path in stale:
                click.echo(f"out of date: {path.relative_to(root)}", err=True)
            raise click.ClickException("generated files differ from the references; run `deepgrade build`")
        click.echo("student stubs and READMEs are up to date")
    else:
        for path in stale:
            click.echo(f"wrote {path.relative_to(root)}")
        click.echo(f"{len(stale)} file(s) written" if stale else "nothing to do: everything is up to date")


@main.command()
@click.argument("topic")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--timeout", type=click.FloatRange(0.1, 600), default=2.0, show_default=True,
              help="Seconds each call into your code may take (as in grading).")
def check(topic: str, path: Path | None, timeout: float) -> None:
    """Run the public tests of TOPIC on your file (default: ./TOPIC.py, else ./TOPIC.ipynb).

    Your code runs in the same sandbox and under the same time limits as grading, so an
    infinite loop fails its test instead of hanging. A notebook is checked as its code
    cells. The public tests are a few honest checks; the hidden graders check much more.

    \b
    Examples: deepgrade check activations activations.py
              deepgrade check activations activations.ipynb
    """
    from autograder.selfcheck import CheckError, run_public_tests

    if path is None:
        path = next((p for p in (Path(f"{topic}.py"), Path(f"{topic}.ipynb")) if p.exists()), Path(f"{topic}.py"))
    try:
        code = run_public_tests(topic, path, call_timeout=timeout, echo=click.echo)
    except CheckError as exc:
        raise click.ClickException(str(exc)) from None
    _exit_at_once(code)
    sys.exit(code)


# ---------------------------------------------------------------------------- grading


@main.command()
@click.argument("topic", required=False)
@click.argument("submissions", required=False, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("graded"), show_default=True,
              help="Folder for results.json per student, grades.csv and summary.json.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Parallel grading processes  [default: number of cores]")
@click.option("--timeout", type=click.FloatRange(0.1, 600), default=None,
              help="Seconds each call into student code may take, the same for every function. "
                   "[default: per function, 50 times the reference solution's slowest call of it in CPU time, "
                   "at least 0.25 s and at most 2 s; 10 times, at least 0.05 s, after the submission's first time-out]")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of the table.")
@click.option("--course", "course_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Grade into this course's gradebook  [default: the current folder if it has deepgrade.toml]")
@click.option("--force", is_flag=True, help="Course: regrade even what these graders already graded.")
@click.option("--wait", type=click.FloatRange(0, 86400), default=0.0,
              help="Course: seconds to wait for another grading run on the course to finish  [default: 0]")
@click.option("--budget", "budget_wall", type=click.FloatRange(1, 3600), default=None,
              help="Seconds of grading one submission may use per topic, all checks together; when spent, "
                   "its remaining checks fail saying so  [default: 20, or the course's [grading] budget_seconds]")
@click.option("--cpu-budget", "budget_cpu", type=click.FloatRange(1, 3600), default=None,
              help="CPU seconds one submission's code may use per topic  "
                   "[default: 15, or the course's [grading] cpu_budget_seconds]")
@cluster_options
def grade(topic: str | None, submissions: Path | None, out_dir: Path, workers: int | None, timeout: float | None,
          as_json: bool, course_dir: Path | None, force: bool, wait: float, budget_wall: float | None,
          budget_cpu: float | None, **cluster: Any) -> None:
    """Grade every student folder in SUBMISSIONS for TOPIC, or a course's new submissions.

    SUBMISSIONS holds one folder per student: <student_id>/<topic>.py. TOPIC is a topic
    name, a comma-separated list, or 'all'. Exit status is 0 whenever grading finished,
    whatever the scores.

    With --course (or inside a course folder, without SUBMISSIONS) deepgrade grades what is
    new or changed in submissions/<topic>/<student_id>/ into the course's gradebook, skips
    what the same graders already graded (unless --force), and keeps every result it
    finished even if the run is killed. TOPIC then narrows the run to some assignments.

    \b
    Examples: deepgrade grade activations submissions/ --out graded/
              deepgrade grade --course mycourse
              deepgrade grade activations --course mycourse --force
              deepgrade grade all submissions/ --scheduler tls://grader1:8786 --tls-ca ca.pem \\
                  --tls-cert me.pem --tls-key me.key        (on a Dask cluster)
    """
    from autograder.batch import (
        BatchError,
        check_out_dir,
        check_submissions_dir,
        class_table,
        grade_folder,
        resolve_topics,
    )
    from autograder.cluster.cli import settings_from_options
    from autograder.cluster.settings import ClusterError
    from autograder.grading import jobs_for_folder

    settings = settings_from_options(**cluster)
    if course_dir is not None or (submissions is None and (Path.cwd() / "deepgrade.toml").is_file()):
        _grade_course(course_dir, topic, workers=workers, timeout=timeout, as_json=as_json, force=force, wait=wait,
                      budget=(budget_wall, budget_cpu), cluster=settings)
        return
    if topic is None or submissions is None:
        raise click.UsageError(f"Missing argument '{'TOPIC' if topic is None else 'SUBMISSIONS'}' "
                               "(or pass --course DIR to grade a course).")
    try:
        topics = resolve_topics(topic)
        check_submissions_dir(submissions, topics)
        check_out_dir(out_dir)  # before any grading: a bad --out must not cost a graded batch
        jobs = jobs_for_folder(submissions, topics)
        if not jobs:
            raise BatchError(f"no student folders in {submissions} (expected <student_id>/<topic>.py)")
        _say_if_calibrating(topics if timeout is None and settings is None else [])
        start = time.perf_counter()
        with click.progressbar(length=len(jobs), label="grading", file=sys.stderr,
                               show_pos=True, show_eta=True) as bar:
            report = grade_folder(topic, submissions, out_dir, workers=workers, call_timeout=timeout,
                                  budget=_budget(budget_wall, budget_cpu), cluster=settings,
                                  jobs=jobs, on_result=lambda r: bar.update(1))
    except (BatchError, ClusterError) as exc:
        raise click.ClickException(str(exc)) from None
    elapsed = time.perf_counter() - start
    if as_json:
        click.echo(json.dumps({**report.summary(), "engine": _engine(settings)}, indent=2))
    else:
        click.echo(class_table(report))
        click.echo(f"\n{len(jobs)} submission(s) graded in {elapsed:.1f} s -> {out_dir}/")
        if report.results:
            click.echo(report.results[0].output.splitlines()[0])
    _exit_at_once()


def _say_if_calibrating(topics: list[str]) -> None:
    """Tell the user why a first grading waits before its first result."""
    from autograder.calibration import uncalibrated

    first = uncalibrated(topics)
    if first:
        click.echo(f"first grading of {', '.join(first)} on this machine: timing the reference and slow "
                   "solutions to set each call's time limit (about a second per topic, once)", err=True)


def _exit_at_once(code: int = 0) -> None:
    """End the ``deepgrade`` program with ``code`` now that every file is written and closed and
    the output printed: tearing down an interpreter that holds pytest and NumPy takes about
    0.05 s that nobody needs. Only on the command line (a test runner calling ``main`` lives on)."""
    if not main.from_command_line:
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: what Python itself reports at exit
            code = 120
    os._exit(code)


def _budget(wall: float | None, cpu: float | None, base=None):
    """The grading budget from --budget/--cpu-budget over ``base`` (a course's), or None for the default."""
    from autograder.sandbox import Budget

    if wall is None and cpu is None:
        return base
    base = base or Budget()
    return Budget(wall=wall if wall is not None else base.wall, cpu=cpu if cpu is not None else base.cpu)


def _grades_here_alone(submissions: Path | None, workers: int | None, course_dir: Path | None,
                       cluster: dict) -> bool:
    """Will this process grade a flat folder itself, in one grading process (one student, or
    --workers 1)? Only then is starting its fork server early worth it."""
    if submissions is None or course_dir is not None or cluster.get("scheduler") or not submissions.is_dir():
        return False
    if workers == 1:
        return True
    try:
        with os.scandir(submissions) as entries:
            return sum(1 for e in entries if not e.name.startswith(".") and e.is_dir()) == 1
    except OSError:
        return False


def _engine(cluster: Any) -> dict:
    """Which engine graded, for --json: local processes or a Dask scheduler."""
    return {"name": "dask", "scheduler": cluster.scheduler} if cluster is not None else {"name": "local"}


def _grade_course(course_dir: Path | None, topic: str | None, *, workers: int | None, timeout: float | None,
                  as_json: bool, force: bool, wait: float, budget: tuple = (None, None), cluster: Any = None) -> None:
    """`deepgrade grade --course`: grade new and changed submissions into the gradebook."""
    from autograder.batch import BatchError, resolve_topics
    from autograder.cluster.settings import ClusterError
    from autograder.gradebook import CourseBusy, CourseError, Gradebook, grade_course, load_course
    from autograder.gradebook.exports import text_table
    from autograder.names import printable

    bar = None

    def plan(todo: int, skipped: int) -> None:
        nonlocal bar
        click.echo(f"{todo} submission(s) to grade, {skipped} unchanged (already graded by these graders)",
                   err=True)
        if todo:
            bar = click.progressbar(length=todo, label="grading", file=sys.stderr, show_pos=True, show_eta=True)
            bar.__enter__()

    try:
        course = load_course(course_dir)
        topics = resolve_topics(topic) if topic and topic != "all" else None
        report = grade_course(course, topics, force=force, workers=workers, call_timeout=timeout, wait=wait,
                              budget=_budget(*budget, base=course.budget), cluster=cluster,
                              on_plan=plan, on_result=lambda r: bar.update(1) if bar else None)
    except (CourseError, CourseBusy, BatchError, ClusterError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if as_json:
        click.echo(json.dumps({"course": str(course.root), "engine": _engine(cluster or course.cluster),
                               "graded": len(report.graded), "skipped": report.skipped,
                               "quizzes": report.quizzes, "unknown_students": report.unknown_students,
                               "results": [{"student_id": r.student_id, "topic": r.topic, "score": r.score,
                                            "max_score": r.max_score} for r in report.graded]}, indent=2))
        return
    with Gradebook.open(course.db_path) as book:
        click.echo(text_table(course, book))
    for name, n in report.quizzes.items():
        if n:
            click.echo(f"quiz {name}: {n} student(s) graded")
    if report.unknown_students:
        click.echo(f"not on the roster: {', '.join(map(printable, report.unknown_students))}")
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"\n{len(report.graded)} graded, {report.skipped} unchanged, in {report.elapsed:.1f} s "
               f"-> {course.db_path}")


# ---------------------------------------------------------------------------- the course


def _course_option(func: Any) -> Any:
    """The --course option every course command takes."""
    return click.option("--course", "course_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help="The course folder  [default: the current folder if it has deepgrade.toml]")(func)


def _open_course(course_dir: Path | None) -> Any:
    """(course, gradebook) with late days refreshed, or a one-line error."""
    from autograder.gradebook import CourseError, Gradebook, load_course

    try:
        course = load_course(course_dir)
    except CourseError as exc:
        raise click.ClickException(str(exc)) from None
    if not course.db_path.exists():
        raise click.ClickException(f"nothing graded yet in {course.root}; run `deepgrade grade --course "
                                   f"{course.root}` first")
    book = Gradebook.open(course.db_path)
    book.sync_extensions(course)
    book.refresh_lateness(course)  # due dates, extensions or the policy may have changed since grading
    return course, book


@main.command()
@click.argument("course_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", default=None, help="Course name  [default: the folder's name]")
@click.option("--topics", "topic_spec", default="all", show_default=True,
              help="Assigned topics: 'all' or a comma-separated list.")
@click.option("--timezone", "tz", default="UTC", show_default=True,
              help="IANA time zone of the due dates, e.g. Europe/Berlin.")
def init(course_dir: Path, name: str | None, topic_spec: str, tz: str) -> None:
    """Create a course in COURSE_DIR: deepgrade.toml, roster.csv, submissions/<topic>/<student_id>/.

    Edit deepgrade.toml (due dates, weights, late policy) and roster.csv, collect
    submissions, then run `deepgrade grade` in the course folder.
    """
    from autograder.batch import BatchError, resolve_topics
    from autograder.gradebook import CourseError, scaffold_course

    try:
        written = scaffold_course(course_dir, name=name, topics=resolve_topics(topic_spec), timezone_name=tz)
    except (CourseError, BatchError) as exc:
        raise click.ClickException(str(exc)) from None
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"next: edit {course_dir / 'deepgrade.toml'}, put submissions in {course_dir / 'submissions'}/"
               f"<topic>/<student_id>/, then run `deepgrade grade --course {course_dir}`")


@main.command()
@_course_option
@click.option("--format", "fmt", type=click.Choice(["csv", "canvas", "moodle", "json"]), default="csv",
              show_default=True, help="csv: one row per student; canvas/moodle: their grade-import layouts.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write  [default: <course>/exports/grades_<format>.csv|json]")
def export(course_dir: Path | None, fmt: str, out: Path | None) -> None:
    """Export the gradebook: a column per assignment and quiz, weighted totals."""
    from autograder.gradebook.exports import export as write_export

    course, book = _open_course(course_dir)
    with book:
        try:
            click.echo(f"wrote {write_export(course, book, fmt, out)}")
        except OSError as exc:
            raise click.ClickException(f"cannot write {out or 'the export'}: {exc.strerror or exc}") from None


@main.command()
@click.argument("student_id")
@_course_option
def student(student_id: str, course_dir: Path | None) -> None:
    """Show one student's history: every submission, score, late days and regrade."""
    from autograder.gradebook.history import student_history

    course, book = _open_course(course_dir)
    with book:
        text = student_history(course, book, student_id)
    if text is None:
        raise click.ClickException(f"no student {student_id!r} in the gradebook of {course.root}")
    click.echo(text)


@main.command()
@_course_option
@click.option("--student", "student_id", default=None, help="Only this student.")
@click.option("--topic", default=None, help="Only this assignment.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to write into  [default: <course>/feedback]")
def feedback(course_dir: Path | None, student_id: str | None, topic: str | None, out: Path | None) -> None:
    """Write feedback pages (HTML and Markdown) per student and assignment.

    Each check shows its points, status and the grader's message, hidden checks only as
    their visibility allows, the late penalty, and where in the course material to review.
    """
    from autograder.gradebook import CourseError
    from autograder.reports.feedback import write_feedback

    course, book = _open_course(course_dir)
    with book:
        try:
            written = write_feedback(course, book, student=student_id, topic=topic, out=out)
        except CourseError as exc:
            raise click.ClickException(str(exc)) from None
    pages = [p for p in written if p.suffix == ".html"]
    folder = out or course.root / "feedback"
    click.echo(f"wrote {len(pages)} feedback page(s) (HTML and Markdown) in {folder}/")


@main.command()
@_course_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write  [default: <course>/reports/class_report.html]")
def report(course_dir: Path | None, out: Path | None) -> None:
    """Write the class report: score distributions, pass rates per check, frequent failures,
    lateness, quiz item analysis and the gradebook, as one self-contained HTML page."""
    from autograder.reports.classreport import write_report

    course, book = _open_course(course_dir)
    with book:
        try:
            click.echo(f"wrote {write_report(course, book, out)}")
        except OSError as exc:
            raise click.ClickException(f"cannot write {out or 'the report'}: {exc.strerror or exc}") from None


@main.command()
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Where to write the demo's outputs  [default: a temporary folder]")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Parallel grading processes.")
def demo(out_dir: Path | None, workers: int | None) -> None:
    """Grade the bundled sample class on every topic and print the class table.

    The class: a reference student, realistic buggy students, and hostile ones (infinite
    loops, memory bombs, sys.exit, lying __eq__, monkeypatching, reading the solutions).
    """
    from autograder.demo import run_demo

    run_demo(out_dir, workers=workers, echo=click.echo)


@main.command()
def topics() -> None:
    """List the topics that have hidden graders."""
    from autograder.grading import available_topics

    for t in available_topics():
        click.echo(t)


def _register_quiz_commands() -> None:
    from quizzes.cli import quiz

    main.add_command(quiz)


main.lazy(_register_quiz_commands)


def _register_interop_commands() -> None:
    from autograder.interop.cli import register

    register(main)


main.lazy(_register_interop_commands)


def _register_mutants_commands() -> None:
    from autograder.mutants.cli import register

    register(main)


main.lazy(_register_mutants_commands)


def _register_similarity_commands() -> None:
    from autograder.similarity.cli import register

    register(main)


main.lazy(_register_similarity_commands)


def _register_service_commands() -> None:
    from autograder.service.cli import register

    register(main)


main.lazy(_register_service_commands)


def _register_sandbox_commands() -> None:
    from autograder.sandbox.cli import register

    register(main)


main.lazy(_register_sandbox_commands)


def _add_grade_sandbox_option() -> None:
    from autograder.unconfined import add_unsafe_option

    add_unsafe_option(main.commands["grade"])  # eager: grade is a core command; importing this costs nothing


_add_grade_sandbox_option()


def _start_fork_server_first() -> None:
    """Wrap grade (outermost, so before the sandbox option's wrapper imports the sandbox package
    and NumPy) to start the fork server first when this process grades alone: it comes up while
    this process imports pytest and NumPy."""
    command = main.commands["grade"]
    callback = command.callback

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        from autograder.prestart import cancel_early, start_early

        if _grades_here_alone(kwargs.get("submissions"), kwargs.get("workers"), kwargs.get("course_dir"), kwargs):
            start_early()  # if the command line's first guess (top of this module) did not
        else:
            cancel_early()
        return callback(*args, **kwargs)

    command.callback = run


_start_fork_server_first()

if __name__ == "__main__":
    main()
