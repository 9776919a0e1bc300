"""`deepgrade serve`, `submit`, `codes` and `backup`: registered on the main command in cli.py."""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
from pathlib import Path

import click

from autograder.cluster.cli import cluster_options, settings_from_options

COURSE_HELP = "The course folder  [default: the current folder]"


def _course(course_dir: Path | None):  # noqa: ANN202 - a Course, imported lazily
    from autograder.gradebook.course import CourseError, load_course

    try:
        return load_course(course_dir)
    except CourseError as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@click.option("--course", "course_dir", type=click.Path(file_okay=False, path_type=Path), default=None, help=COURSE_HELP)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Keep 127.0.0.1 behind a reverse proxy (see README).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Grading processes  [default: one per core]")
@click.option("--demo", is_flag=True, help="Serve a generated demo course and print sign-in codes to try it.")
@click.option("--https", is_flag=True,
              help="Behind a TLS proxy: mark session cookies Secure (browsers send them over HTTPS only).")
@cluster_options
def serve(course_dir: Path | None, host: str, port: int, workers: int | None, demo: bool, https: bool,
          **cluster) -> None:
    """Run the submission service for a course: students upload and read feedback in seconds.

    \b
    deepgrade serve --demo                     try it: a demo course, codes printed
    deepgrade codes && deepgrade serve         a real course (run in its folder)
    deepgrade serve --course dl-course --port 8080 --workers 4
    deepgrade serve --scheduler tls://grader1:8786 --tls-ca ca.pem ...   grade on a Dask cluster

    While it runs, the server holds the course lock: `deepgrade grade` on the same course
    refuses (regrade from the dashboard instead); feedback, report, export and backup work.
    """
    try:
        import uvicorn

        from autograder.service.app import create_app
    except ImportError as exc:
        raise click.ClickException(f"the service needs its extra: pip install 'deepgrade[service]' ({exc})") from None
    from autograder.gradebook.sync import CourseBusy, CourseLock

    if demo:
        from autograder.service.demo import make_demo_course

        folder = course_dir or Path(tempfile.mkdtemp(prefix="deepgrade-serve-demo-"))
        info = make_demo_course(folder)
        course = info["course"]
        click.echo(f"Demo course: {course.root}")
        click.echo(f"  student   ID s1001        code {info['codes']['s1001']}")
        click.echo(f"  staff     ID instructor   code {info['codes']['instructor']}")
        click.echo(f"  every code: {info['csv']}")
        click.echo(f"  try uploading {info['buggy']} (buggy), then {info['fixed']} (fixed)")
    else:
        course = _course(course_dir)
    try:
        lock = CourseLock(course.root).__enter__()
    except CourseBusy as exc:
        reason = str(exc).split(";")[0]
        raise click.ClickException(f"cannot serve, the course is busy: {reason}; try again when it has finished") \
            from None
    os.pwrite(lock.fd, f"{os.getpid()} (deepgrade serve on {host}:{port})\n".encode(), 0)
    settings = settings_from_options(**cluster) or course.cluster
    executor = None
    if settings is not None:
        from autograder.cluster.executor import dask_executor_factory

        executor = dask_executor_factory(settings, course)
        click.echo(f"Grading on the Dask cluster at {settings.scheduler}")
    try:
        app = create_app(course=course, workers=workers, https=https, executor=executor)
        with app.state.service.book() as book:
            if book.conn.execute("SELECT COUNT(*) FROM accounts WHERE revoked = 0").fetchone()[0] == 0:
                click.echo("No sign-in codes yet: nobody can sign in. Run `deepgrade codes` (it can run while serving).")
        click.echo(f"Serving {course.name} on http://{host}:{port}/  (Ctrl-C stops; nothing accepted is lost)")
        # proxy headers are read by the app itself, only from [service] trusted_proxies
        uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False, server_header=False)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    finally:
        lock.__exit__(None, None, None)


@click.command()
@click.argument("topic")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--server", default=None, help="The course's deepgrade server  [default: the last one used, "
              "or $DEEPGRADE_SERVER, or http://127.0.0.1:8000]")
@click.option("--no-wait", is_flag=True, help="Upload and return; do not wait for the feedback.")
@click.option("--timeout", type=click.FloatRange(1, 3600), default=300, show_default=True,
              help="Seconds to wait for the feedback.")
def submit(topic: str, file: Path, server: str | None, no_wait: bool, timeout: float) -> None:
    """Upload FILE as your TOPIC submission and print its feedback.

    \b
    deepgrade submit activations activations.py --server https://dl.example.edu
    The first time, it asks for your ID and sign-in code and keeps a token in your config
    folder. Exit status: 0 when the submission was accepted (whatever the score), 1 when not.
    """
    from autograder.service.client import SubmitError, run_submit

    try:
        code = run_submit(topic, file, server=server, wait=not no_wait, timeout=timeout, echo=click.echo,
                          prompt=lambda text, hide: click.prompt(text, hide_input=hide))
    except SubmitError as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(code)


@click.command()
@click.option("--course", "course_dir", type=click.Path(file_okay=False, path_type=Path), default=None, help=COURSE_HELP)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV of the codes issued now  [default: <course>/codes.csv]")
@click.option("--staff", "staff", multiple=True, metavar="NAME", help="Add a staff account (repeatable).")
@click.option("--rotate", multiple=True, metavar="ID", help="Issue a new code for this account (repeatable); "
              "its old code and sessions stop working.")
@click.option("--rotate-all", is_flag=True, help="New codes for every account.")
@click.option("--revoke", multiple=True, metavar="ID", help="Revoke this account's code (repeatable).")
def codes(course_dir: Path | None, out: Path | None, staff: tuple[str, ...], rotate: tuple[str, ...],
          rotate_all: bool, revoke: tuple[str, ...]) -> None:
    """Issue sign-in codes for `deepgrade serve`: one per roster student, one per staff member.

    \b
    deepgrade codes                        codes for students and staff who have none yet
    deepgrade codes --staff alice --staff bob
    deepgrade codes --rotate s1002         a lost code: a new one, the old one stops working
    deepgrade codes --revoke s1002
    Codes are stored only as salted scrypt hashes: the CSV written now is the only place they
    appear in clear (mail-merge it, then delete it). The first run adds a staff account
    "instructor".
    """
    from autograder.gradebook.store import Gradebook
    from autograder.service import accounts, submissions

    course = _course(course_dir)
    roster = {e.student_id: e for e in course.roster()}
    clash = [s for s in staff if s in roster]
    if clash:
        raise click.ClickException(f"staff name {clash[0]!r} is a student id on the roster; choose another")
    with Gradebook.open(course.db_path) as book:
        book.sync_roster(roster.values())
        have = {r["account"]: r["role"] for r in book.conn.execute("SELECT account, role FROM accounts")}
        unknown = [a for a in (*rotate, *revoke) if a not in have]
        if unknown:
            raise click.ClickException(f"no account {unknown[0]!r}; accounts are the roster ids and staff names")
        for a in revoke:
            accounts.revoke(book, a)
            submissions.audit(book, "cli", "revoke code", a)
        wanted = [(sid, "student") for sid in roster] + [(s, "staff") for s in staff]
        if not any(r == "staff" for r in have.values()) and not staff:
            wanted.append(("instructor", "staff"))
        issued = accounts.issue(book, [w for w in wanted if w[0] not in revoke])
        again = list(have) if rotate_all else list(rotate)
        rotated = accounts.issue(book, [(a, have[a]) for a in again if a not in revoke], rotate=True)
        for i in rotated:
            submissions.audit(book, "cli", "rotate code", i.account)
    rows = [accounts.Issued(i.account, i.role, i.code, getattr(roster.get(i.account), "name", ""),
                            getattr(roster.get(i.account), "email", "")) for i in issued + rotated]
    for a in revoke:
        click.echo(f"revoked {a}")
    if not rows:
        click.echo("every account already has a code (use --rotate ID for a new one)")
        return
    path = accounts.write_codes_csv(out or course.root / "codes.csv", rows)
    click.echo(f"issued {len(rows)} code(s) -> {path} (readable by you only; it is the only copy)")


@click.command()
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--course", "course_dir", type=click.Path(file_okay=False, path_type=Path), default=None, help=COURSE_HELP)
def backup(out: Path, course_dir: Path | None) -> None:
    """Copy the course's gradebook to OUT, consistently, even while `deepgrade serve` runs.

    \b
    deepgrade backup /backups/dl-course-$(date +%F).sqlite
    Uses SQLite's online backup. Uploads (uploads/) are never changed once written: copy them
    with rsync or cp -a alongside.
    """
    course = _course(course_dir)
    if out.exists() and out.is_dir():
        raise click.ClickException(f"{out} is a folder; give a file name")
    if not out.parent.is_dir():
        raise click.ClickException(f"{out.parent} does not exist")
    if not course.db_path.is_file():
        raise click.ClickException(f"{course.db_path} does not exist yet: nothing to back up")
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        src = sqlite3.connect(course.db_path, timeout=60)
        dst = sqlite3.connect(tmp)
        with dst:
            src.backup(dst)
        dst.close()
        src.close()
        os.replace(tmp, out)
    except sqlite3.Error as exc:
        tmp.unlink(missing_ok=True)
        raise click.ClickException(f"backup failed: {exc}") from None
    click.echo(f"backed up {course.db_path} -> {out} ({out.stat().st_size // 1024} kB)")


def register(main: click.Group) -> None:
    """Add the service's commands to ``deepgrade``."""
    for command in (serve, submit, codes, backup):
        main.add_command(command)
