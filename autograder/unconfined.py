"""``--unsafe-no-sandbox`` on ``deepgrade grade``: the explicit opt-in to grading unconfined.

Attached to the core grade command at start-up, so it imports nothing heavy until grade
runs; there it turns a sandbox refusal (``autograder.sandbox.tiers``) into one clear line,
and a course run names its sandbox tier up front.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import click

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
        from autograder.sandbox.tiers import UNSAFE_ENV, SandboxRefused

        if unsafe_no_sandbox or _course_opts_in(kwargs.get("course_dir"), kwargs.get("submissions")):
            os.environ[UNSAFE_ENV] = "1"  # grading processes and their fork servers inherit it
            click.echo("warning: --unsafe-no-sandbox: where this machine cannot confine student code it is graded "
                       "unconfined, and every result says so", err=True)
        try:
            if _is_course_run(kwargs.get("course_dir"), kwargs.get("submissions")):
                # A batch's class table ends with the sandbox line; a course run says it up front.
                from autograder.sandbox import Sandbox

                with Sandbox() as sandbox:
                    click.echo(sandbox.isolation, err=True)
            return callback(*args, **kwargs)
        except SandboxRefused as exc:
            raise click.ClickException(str(exc)) from None
        except RuntimeError as exc:  # a refusal raised in a parallel grading process arrives as text
            text = str(exc)
            if "refusing to grade:" not in text:
                raise
            raise click.ClickException(text[text.index("refusing to grade:"):].split("; SandboxRefused")[0]) from None

    grade.callback = run


