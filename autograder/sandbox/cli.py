"""``deepgrade doctor``, registered on the main command in cli.py (loaded when asked for)."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.option("--course", "course_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also check this course folder (as `deepgrade grade --course` hides it).")
@click.option("--hide", "extra", multiple=True, type=click.Path(path_type=Path),
              help="Also check this path (repeatable), e.g. a submissions or output folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def doctor(course_dir: Path | None, extra: tuple[Path, ...], as_json: bool) -> None:
    """Say which sandbox tier this machine gives student code, and why.

    \b
    tier 1  namespaces: the worker's own root, network and PIDs (Linux, root or not)
    tier 2  privilege drop: root without namespaces (Docker, Gradescope): own uid per
            worker, seccomp filter; course files must be closed to other users
    tier 3  unconfined: neither; `deepgrade grade` refuses unless --unsafe-no-sandbox

    It starts a real worker and shows its uid, capabilities, no_new_privs and seccomp
    mode, and how each path student code must not read is hidden. Exit status 0 when
    grading would run confined, 1 when it would refuse.
    """
    from autograder.sandbox.doctor import diagnose, render

    hide = [*extra]
    if course_dir is not None:
        if not course_dir.is_dir():
            raise click.ClickException(f"course folder {course_dir} does not exist")
        hide.append(course_dir)
    try:
        report = diagnose(hide)
    except (OSError, RuntimeError) as exc:
        raise click.ClickException(f"could not start the sandbox: {exc}") from None
    click.echo(json.dumps(report, indent=2) if as_json else render(report))
    raise SystemExit(0 if report["ok"] else 1)


def register(main: click.Group) -> None:
    """Add ``doctor`` to ``main`` (``--unsafe-no-sandbox`` is added by ``autograder.unconfined``)."""
    main.add_command(doctor)
