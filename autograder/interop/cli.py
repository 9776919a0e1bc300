"""Commands for students' formats and other graders' workflows: release, nbgrader, gradescope.

Registered on the main `deepgrade` command in cli.py; each calls a library function.
"""

from __future__ import annotations

from pathlib import Path

import click


def _check_topic(topic: str) -> None:
    from autograder.build import topics

    if topic not in topics():
        raise click.ClickException(f"unknown topic {topic!r}; choose from: {', '.join(topics())}")


@click.command()
@click.argument("topic")
@click.option("--format", "fmt", type=click.Choice(["ipynb", "py"]), default="ipynb", show_default=True,
              help="A Jupyter notebook, or the .py stub with its README and public tests.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to write into  [default: release/TOPIC]")
def release(topic: str, fmt: str, out_dir: Path | None) -> None:
    """Write the student version of TOPIC.

    \b
    deepgrade release activations --format ipynb    -> release/activations/activations.ipynb
    deepgrade release activations --format py        -> the stub, README.md and public tests
    """
    from autograder.notebooks import release as write_release

    _check_topic(topic)
    for path in write_release(topic, out_dir or Path("release") / topic, fmt):
        click.echo(f"wrote {path}")


@click.command()
@click.argument("topic")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("autograder.zip"),
              show_default=True, help="Where to write the zip to upload to Gradescope.")
@click.option("--timeout", type=click.FloatRange(0.1, 600), default=None,
              help="Seconds each call into student code may take  [default: 2]")
def gradescope(topic: str, out: Path, timeout: float | None) -> None:
    """Build a Gradescope autograder for TOPIC (a programming assignment's autograder.zip).

    The zip holds setup.sh (installs deepgrade from the bundled wheel), run_autograder
    (grades the student's TOPIC.py or TOPIC.ipynb) and the wheel. Upload it under
    "Configure Autograder"; students submit one file.
    """
    from autograder.interop.gradescope import build_autograder

    _check_topic(topic)
    try:
        path = build_autograder(topic, out, call_timeout=timeout)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {path} ({path.stat().st_size // 1024} kB): upload it to Gradescope")


@click.group()
def nbgrader() -> None:
    """Use deepgrade's graders and sandbox inside an nbgrader course.

    \b
    deepgrade nbgrader export activations --course COURSE   then: nbgrader generate_assignment activations
    nbgrader collect activations   (or place submitted/<student>/activations/activations.ipynb)
    deepgrade nbgrader grade activations --course COURSE    then: nbgrader export
    """


_course = click.option("--course", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
                       show_default=True, help="The nbgrader course folder (holds source/, submitted/, gradebook.db).")


@nbgrader.command("export")
@click.argument("topic")
@_course
def nbgrader_export(topic: str, course: Path) -> None:
    """Write COURSE/source/TOPIC/TOPIC.ipynb for `nbgrader generate_assignment TOPIC`.

    One solution cell per function with `### BEGIN SOLUTION`/`### END SOLUTION` around the
    reference body, and one autograder-tests cell per function worth the points deepgrade's
    hidden checks give it.
    """
    from autograder.interop.nbgrader import export

    _check_topic(topic)
    path = export(topic, course)
    click.echo(f"wrote {path}\nnext: cd {course} && nbgrader generate_assignment {topic}")


@nbgrader.command("grade")
@click.argument("topic")
@_course
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Parallel grading processes.")
def nbgrader_grade(topic: str, course: Path, workers: int | None) -> None:
    """Grade the collected notebooks of TOPIC and write the scores into the course's gradebook.

    Reads COURSE/submitted/<student>/TOPIC/TOPIC.ipynb, grades each in deepgrade's sandbox
    (never in a Jupyter kernel), and records the points per tests cell through nbgrader's
    API; `nbgrader export` and formgrader then show them.
    """
    try:
        from autograder.interop.nbgrader import NbgraderError, grade
    except ImportError as exc:
        raise click.ClickException(f"{exc}: install the extra with pip install 'deepgrade[nbgrader]'") from None
    _check_topic(topic)
    try:
        graded = grade(topic, course, workers=workers)
    except NbgraderError as exc:
        raise click.ClickException(str(exc)) from None
    for g in graded:
        click.echo(f"{g.student_id:20s} {g.score:6g} / {g.max_score:g}")
    click.echo(f"{len(graded)} notebook(s) graded into {course / 'gradebook.db'}")


def register(main: click.Group) -> None:
    """Add these commands to the `deepgrade` command group."""
    main.add_command(release)
    main.add_command(gradescope)
    main.add_command(nbgrader)
