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


def register(main: click.Group) -> None:
    """Add these commands to the `deepgrade` command group."""
    main.add_command(release)
    main.add_command(gradescope)
