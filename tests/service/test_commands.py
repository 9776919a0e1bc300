"""`deepgrade codes`, `backup` and `serve` refusals, in-process through click."""

from __future__ import annotations

import csv
import sqlite3

from click.testing import CliRunner

from autograder.gradebook import Gradebook, load_course
from autograder.service import accounts
from cli import main


def test_codes_issue_rotate_revoke(course_dir) -> None:
    runner = CliRunner()
    out = course_dir / "codes.csv"
    r = runner.invoke(main, ["codes", "--course", str(course_dir)])
    assert r.exit_code == 0 and "issued 3 code(s)" in r.output, r.output
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    rows = {row["account"]: row for row in csv.DictReader(out.open())}
    assert set(rows) == {"s1", "s2", "instructor"} and rows["instructor"]["role"] == "staff"
    assert rows["s2"]["email"] == "s2@example.edu"
    with Gradebook.open(load_course(course_dir).db_path) as book:
        assert accounts.authenticate(book, "s1", rows["s1"]["code"])
    r = runner.invoke(main, ["codes", "--course", str(course_dir)])
    assert "every account already has a code" in r.output
    r = runner.invoke(main, ["codes", "--course", str(course_dir), "--rotate", "s1", "--staff", "ta1"])
    assert r.exit_code == 0 and "issued 2 code(s)" in r.output
    new = {row["account"]: row["code"] for row in csv.DictReader(out.open())}
    with Gradebook.open(load_course(course_dir).db_path) as book:
        assert not accounts.authenticate(book, "s1", rows["s1"]["code"])
        assert accounts.authenticate(book, "s1", new["s1"]).role == "student"
        assert accounts.authenticate(book, "ta1", new["ta1"]).role == "staff"
    r = runner.invoke(main, ["codes", "--course", str(course_dir), "--revoke", "s1"])
    assert r.exit_code == 0 and "revoked s1" in r.output
    with Gradebook.open(load_course(course_dir).db_path) as book:
        assert not accounts.authenticate(book, "s1", new["s1"])
        actions = [a["action"] for a in book.conn.execute("SELECT action FROM audit ORDER BY id")]
    assert actions == ["rotate code", "revoke code"]


def test_codes_refuse_clearly(course_dir) -> None:
    runner = CliRunner()
    r = runner.invoke(main, ["codes", "--course", str(course_dir), "--rotate", "nobody"])
    assert r.exit_code == 1 and "no account 'nobody'" in r.output and "Traceback" not in r.output
    r = runner.invoke(main, ["codes", "--course", str(course_dir), "--staff", "s2"])
    assert r.exit_code == 1 and "is a student id on the roster" in r.output


def test_backup_is_a_consistent_copy(course_dir, codes, tmp_path) -> None:
    runner = CliRunner()
    r = runner.invoke(main, ["backup", str(tmp_path / "copy.sqlite"), "--course", str(course_dir)])
    assert r.exit_code == 0, r.output
    conn = sqlite3.connect(tmp_path / "copy.sqlite")
    assert conn.execute("SELECT COUNT(*) FROM accounts").fetchone()[0] == 3
    r = runner.invoke(main, ["backup", str(tmp_path / "missing" / "x.sqlite"), "--course", str(course_dir)])
    assert r.exit_code == 1 and "does not exist" in r.output


def test_serve_refuses_a_busy_course(course_dir, codes) -> None:
    from autograder.gradebook.sync import CourseLock

    with CourseLock(course_dir):
        r = CliRunner().invoke(main, ["serve", "--course", str(course_dir), "--port", "1"])
    assert r.exit_code == 1 and "busy" in r.output and "Traceback" not in r.output


def test_notebook_uploads_are_graded_like_py(client, codes, app) -> None:
    from tests.service.conftest import sign_in, upload, wait_graded

    sign_in(client, "s1", codes["s1"])
    notebook = client.get("/a/clipping/handout.ipynb").content
    sub = upload(client, "clipping", notebook, name="my notebook.ipynb")
    assert wait_graded(client, sub)["state"] == "graded"
    executor = app.state.service.dispatcher.executor
    assert "clipping.py" in executor.jobs[-1].files and b"def clip_by_value" in executor.jobs[-1].files["clipping.py"]
