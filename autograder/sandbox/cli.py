"""Sandbox commands: ``deepgrade doctor``, and ``--unsafe-no-sandbox`` on ``deepgrade grade``.

Registered on the main command in cli.py. The grade option is attached here, with the
refusal turned into one clear line, so the sandbox's policy lives in one place.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import click

from autograder.sandbox import tiers


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


UNSAFE_HELP = ("Grade even where this machine cannot confine student code (sandbox tier 3): submissions can "
               "then read references and write wherever you can. Every result says so. Also [sandbox] "
               "unsafe_no_sandbox = true in deepgrade.toml.")


def _is_course_run(course_dir: Path | None, submissions: object) -> bool:
    """Is ``deepgrade grade`` grading a course (as its own code decides)?"""
    return course_dir is not None or (submissions is None and (Path.cwd() / "deepgrade.toml").is_file())


def _course_opts_in(course_dir: Path | None, submissions: object) -> bool:
    """Does the course being graded say ``[sandbox] unsafe_no_sandbox = true``?"""
    if not _is_course_run(course_dir, submissions):
        return False
    try:
        from autograder.gradebook.course import load_course

        return bool(getattr(load_course(course_dir), "unsafe_no_sandbox", False))
    except Exception:  # noqa: BLE001 - the grade command itself reports a broken course
        return False


def add_unsafe_option(grade: click.Command) -> None:
    """Give ``grade`` its ``--unsafe-no-sandbox`` flag and turn a sandbox refusal into one line."""
    grade.params.append(click.Option(["--unsafe-no-sandbox", "unsafe_no_sandbox"], is_flag=True, help=UNSAFE_HELP))
    callback = grade.callback

    @functools.wraps(callback)
    def run(*args, unsafe_no_sandbox: bool = False, **kwargs):
        if unsafe_no_sandbox or _course_opts_in(kwargs.get("course_dir"), kwargs.get("submissions")):
            os.environ[tiers.UNSAFE_ENV] = "1"  # grading processes and their fork servers inherit it
            click.echo("warning: --unsafe-no-sandbox: where this machine cannot confine student code it is graded "
                       "unconfined, and every result says so", err=True)
        try:
            if _is_course_run(kwargs.get("course_dir"), kwargs.get("submissions")):
                # A batch's class table ends with the sandbox line; a course run says it up front.
                from autograder.sandbox import Sandbox

                with Sandbox() as sandbox:
                    click.echo(sandbox.isolation, err=True)
            return callback(*args, **kwargs)
        except tiers.SandboxRefused as exc:
            raise click.ClickException(str(exc)) from None
        except RuntimeError as exc:  # a refusal raised in a parallel grading process arrives as text
            text = str(exc)
            if "refusing to grade:" not in text:
                raise
            raise click.ClickException(text[text.index("refusing to grade:"):].split("; SandboxRefused")[0]) from None

    grade.callback = run


def register(main: click.Group) -> None:
    """Add ``doctor`` and the grade command's sandbox option to ``main``."""
    main.add_command(doctor)
    if "grade" in main.commands:
        add_unsafe_option(main.commands["grade"])
