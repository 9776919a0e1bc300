"""Commands for students' formats and other graders' workflows.

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


def register(main: click.Group) -> None:
    """Add these commands to the `deepgrade` command group."""
    main.add_command(release)
