"""The real server in a subprocess with the real engine: SIGKILL and restart, the course lock,
`deepgrade submit` and `deepgrade backup` while serving."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from autograder.gradebook import Gradebook, load_course
from autograder.service import accounts
from tests.conftest import SAMPLES, SOLUTIONS
from tests.service.server_helpers import ROOT, Server

pytestmark = pytest.mark.slow
N_STUDENTS, N_EACH = 4, 3


@pytest.fixture
def served(course_dir: Path):
    course = load_course(course_dir)
    roster = "student_id,name,email\n" + "".join(f"u{i},U {i},u{i}@example.edu\n" for i in range(N_STUDENTS))
    (course_dir / "roster.csv").write_text(roster)
    with Gradebook.open(course.db_path) as book:
        book.sync_roster(load_course(course_dir).roster())
        codes = {i.account: i.code for i in accounts.issue(book, [(f"u{i}", "student") for i in range(N_STUDENTS)])}
    server = Server(course_dir, workers=2).start()
    yield server, codes
    server.stop()


def _tokens(url: str, codes: dict) -> dict:
    return {a: httpx.post(f"{url}/api/token", json={"account": a, "code": c}).json()["token"] for a, c in codes.items()}


def _counts(db: Path) -> tuple[int, int, list[int]]:
    conn = sqlite3.connect(db, timeout=30)
    subs = conn.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
    graded = conn.execute("SELECT COUNT(DISTINCT submission_id) FROM gradings").fetchone()[0]
    per = [n for (n,) in conn.execute("SELECT COUNT(*) FROM gradings GROUP BY submission_id")]
    conn.close()
    return subs, graded, per


def test_sigkill_and_restart_grades_everything_exactly_once(served, course_dir: Path) -> None:
    server, codes = served
    tokens = _tokens(server.url, codes)
    reference = (SOLUTIONS / "clipping.py").read_bytes()
    accepted = []
    for k in range(N_EACH):
        for student, token in tokens.items():
            body = reference + f"\n# {student} attempt {k}\n".encode()
            r = httpx.post(f"{server.url}/api/a/clipping/upload", headers={"Authorization": f"Bearer {token}"},
                           files={"file": ("clipping.py", body)}, timeout=30)
            assert r.status_code == 202, r.text
            accepted.append(r.json()["submission"])
    db = load_course(course_dir).db_path
    deadline = time.monotonic() + 60
    while _counts(db)[1] < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()  # half-way: some graded, some running, some queued
    subs, graded_at_kill, _ = _counts(db)
    assert subs == len(accepted) and 0 < graded_at_kill < len(accepted), graded_at_kill
    server.start()
    deadline = time.monotonic() + 120
    while _counts(db)[1] < len(accepted) and time.monotonic() < deadline:
        time.sleep(0.2)
    subs, graded, per = _counts(db)
    assert (subs, graded) == (len(accepted), len(accepted))  # nothing accepted was lost
    assert per == [1] * len(accepted)  # and nothing was recorded twice
    token = tokens["u0"]
    state = httpx.get(f"{server.url}/api/s/{accepted[0]}", headers={"Authorization": f"Bearer {token}"}).json()
    assert state["state"] == "graded" and state["score"] == state["max_score"] == 100


def test_grade_refuses_while_serving_and_backup_works(served, course_dir: Path, tmp_path: Path) -> None:
    server, codes = served
    run = subprocess.run([sys.executable, "-c", "from cli import main; main()", "grade", "--course", str(course_dir)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "deepgrade serve" in run.stderr and "Traceback" not in run.stderr
    out = tmp_path / "backup.sqlite"
    run = subprocess.run([sys.executable, "-c", "from cli import main; main()", "backup", str(out), "--course",
                          str(course_dir)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    conn = sqlite3.connect(out)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*) FROM accounts").fetchone()[0] == N_STUDENTS


def test_deepgrade_submit_from_a_terminal(served, tmp_path: Path) -> None:
    server, codes = served
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    cmd = [sys.executable, "-c", "from cli import main; main()", "submit", "clipping"]
    run = subprocess.run(cmd + [str(SAMPLES / "ben" / "clipping.py"), "--server", server.url], cwd=ROOT, env=env,
                         input=f"u1\n{codes['u1']}\n", capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Score: " in run.stdout and "FAILED" in run.stdout  # a low score is not a failure to submit
    token_file = tmp_path / "config" / "deepgrade" / "tokens.json"
    assert oct(token_file.stat().st_mode & 0o777) == "0o600" and codes["u1"] not in token_file.read_text()
    run = subprocess.run(cmd + [str(SOLUTIONS / "clipping.py")], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)  # signed in already; the last server is remembered
    assert run.returncode == 0 and "Score: 100 / 100" in run.stdout, run.stdout + run.stderr
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    run = subprocess.run(cmd + [str(bad)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "not submitted" in run.stderr and "Traceback" not in run.stderr


def test_serve_demo_as_the_readme_says(tmp_path: Path) -> None:
    import re

    server = Server(tmp_path / "demo", workers=1, demo=True).start()
    try:
        printed = server.log.read_text()
        code = re.search(r"ID s1001\s+code (\S+)", printed).group(1)
        assert re.search(r"ID instructor\s+code \S+", printed)
        buggy, fixed = re.search(r"try uploading (\S+) \(buggy\), then (\S+) \(fixed\)", printed).groups()
        token = httpx.post(f"{server.url}/api/token", json={"account": "s1001", "code": code}).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        scores = []
        for path in (buggy, fixed):
            r = httpx.post(f"{server.url}/api/a/activations/upload", headers=auth,
                           files={"file": ("activations.py", Path(path).read_bytes())})
            assert r.status_code == 202, r.text
            deadline = time.monotonic() + 120
            while (state := httpx.get(f"{server.url}/api/s/{r.json()['submission']}", headers=auth).json())[
                    "state"] != "graded" and time.monotonic() < deadline:
                time.sleep(0.2)
            scores.append((state["score"], state["max_score"], len(state["failed"])))
        assert scores[0][0] < 100 and scores[0][2] > 0
        assert scores[1] == (100, 100, 0)
    finally:
        server.stop()
