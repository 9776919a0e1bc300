"""deepgrade: autograded assignments and quizzes on why deep networks are hard to train.

The command tree mirrors what you type; each command is a thin wrapper over a library
function that the tests call directly.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

from autograder import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
def check(topic: str, path: Path | None) -> None:
    """Run the public tests of TOPIC on your file (default: ./TOPIC.py).

    The public tests are a few honest checks; the hidden graders check much more.
    """
    from autograder.build import ASSIGNMENTS

    tests = ASSIGNMENTS / topic / f"test_{topic}.py"
    if not tests.exists():
        topics = sorted(p.name for p in ASSIGNMENTS.iterdir() if (p / f"test_{p.name}.py").exists())
        raise click.ClickException(f"no public tests for {topic!r}; topics: {', '.join(topics)}")
    path = path or Path(f"{topic}.py")
    if not path.exists():
        raise click.ClickException(f"{path} not found; pass the path of your {topic}.py")
    with tempfile.TemporaryDirectory(prefix="deepgrade-check-") as tmp:
        for sibling in path.resolve().parent.glob("*.py"):
            shutil.copy(sibling, tmp)
        shutil.copy(path, Path(tmp) / f"{topic}.py")
        shutil.copy(tests, tmp)
        code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", tmp,
                                "-c", "/dev/null", str(Path(tmp) / tests.name)], cwd=tmp)
    sys.exit(code)


# ---------------------------------------------------------------------------- grading


@main.command()
@click.argument("topic")
@click.argument("submissions", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("graded"), show_default=True,
              help="Folder for results.json per student, grades.csv and summary.json.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Parallel grading processes  [default: number of cores]")
@click.option("--timeout", type=click.FloatRange(0.1, 600), default=2.0, show_default=True,
              help="Seconds each call into student code may take.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of the table.")
def grade(topic: str, submissions: Path, out_dir: Path, workers: int | None, timeout: float, as_json: bool) -> None:
    """Grade every student folder in SUBMISSIONS for TOPIC.

    SUBMISSIONS holds one folder per student: <student_id>/<topic>.py. TOPIC is a topic
    name, a comma-separated list, or 'all'. Exit status is 0 whenever grading finished,
    whatever the scores.

    \b
    Example:  deepgrade grade activations submissions/ --out graded/
    """
    from autograder.batch import BatchError, class_table, grade_folder, resolve_topics
    from autograder.grading import jobs_for_folder

    try:
        topics = resolve_topics(topic)
        if not submissions.is_dir():
            raise BatchError(f"submissions folder {submissions} does not exist")
        jobs = jobs_for_folder(submissions, topics)
        if not jobs:
            raise BatchError(f"no student folders in {submissions} (expected <student_id>/<topic>.py)")
        start = time.perf_counter()
        with click.progressbar(length=len(jobs), label="grading", file=sys.stderr,
                               show_pos=True, show_eta=True) as bar:
            report = grade_folder(topic, submissions, out_dir, workers=workers, call_timeout=timeout,
                                  jobs=jobs, on_result=lambda r: bar.update(1))
    except BatchError as exc:
        raise click.ClickException(str(exc)) from None
    elapsed = time.perf_counter() - start
    if as_json:
        click.echo(json.dumps(report.summary(), indent=2))
        return
    click.echo(class_table(report))
    click.echo(f"\n{len(jobs)} submission(s) graded in {elapsed:.1f} s -> {out_dir}/")
    if report.results:
        click.echo(report.results[0].output.splitlines()[0])


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


_register_quiz_commands()


def _register_interop_commands() -> None:
    from autograder.interop.cli import register

    register(main)


_register_interop_commands()

if __name__ == "__main__":
    main()
