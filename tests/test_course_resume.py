"""A real `deepgrade grade --course` killed with SIGKILL mid-batch, resumed; two runs at once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.gradebook import CourseBusy, Gradebook, grade_course, load_course
from autograder.gradebook.sync import CourseLock
from tests.conftest import ROOT, SOLUTIONS
from tests.course_helpers import make_course, submit

SLOW = 0.4  # seconds each slow student's module sleeps on import: makes the batch long enough to interrupt


def slow_course(root: Path, n: int) -> list[str]:
    students = [f"s{i:02d}" for i in range(n)]
    make_course(root, students, ["residual"])
    source = (SOLUTIONS / "residual.py").read_text()
    for s in students:
        submit(root, "residual", s, source + f"\nimport time as _time\n\n_time.sleep({SLOW})\n")
    return students


def start_grade(root: Path, *extra: str) -> subprocess.Popen:
    """`deepgrade grade --course root` as its own process group (so a kill takes its helpers too)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "cli", "grade", "--course", str(root), "--workers", "1", *extra],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute(sql).fetchone()[0])
        finally:
            conn.close()
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"grading ended before the test could act (exit {proc.returncode}):\n{out}\n{err}")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("timed out waiting for the grading run")
        time.sleep(0.02)


def test_sigkill_mid_batch_then_resume_loses_nothing_and_grades_nothing_twice(tmp_path):
    root = tmp_path / "course"
    students = slow_course(root, 6)
    db = root / "gradebook.sqlite"
    proc = start_grade(root)
    wait_for(lambda: count(db, "SELECT COUNT(*) FROM gradings") >= 1, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    done = count(db, "SELECT COUNT(*) FROM gradings")
    assert 1 <= done < len(students), "the kill did not land mid-batch"
    # Whole results only: every committed grading has all its checks.
    assert count(db, "SELECT COUNT(*) FROM gradings g WHERE (SELECT COUNT(*) FROM check_results c "
                     "WHERE c.grading_id = g.id) != 9") == 0

    course = load_course(root)
    report = grade_course(course, workers=1)
    assert len(report.graded) == len(students) - done and report.skipped == done
    with Gradebook.open(course.db_path) as book:
        assert book.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        per_submission = book.conn.execute("SELECT s.student_id, COUNT(g.id) FROM submissions s "
                                           "LEFT JOIN gradings g ON g.submission_id = s.id GROUP BY s.id").fetchall()
        assert sorted(tuple(r) for r in per_submission) == [(s, 1) for s in students]
        assert all(g.final_score == 100 for g in book.current())
        assert [r["status"] for r in book.runs()] == ["interrupted", "finished"]


def test_two_runs_at_once_one_refuses_clearly_one_waits(tmp_path):
    root = tmp_path / "course"
    students = slow_course(root, 8)
    db = root / "gradebook.sqlite"
    first = start_grade(root)
    wait_for(lambda: count(db, "SELECT COUNT(*) FROM runs WHERE status = 'running'") == 1, first)

    refused = start_grade(root)
    out, err = refused.communicate(timeout=60)
    assert refused.returncode == 1, out + err
    assert f"another `deepgrade grade` is grading this course (pid {first.pid}" in err
    assert "--wait" in err

    assert first.poll() is None, "the first run finished too early for the test to queue behind it"
    queued = start_grade(root, "--wait", "120")
    out_first, err_first = first.communicate(timeout=120)
    assert first.returncode == 0, err_first
    out, err = queued.communicate(timeout=120)
    assert queued.returncode == 0, err
    assert f"0 graded, {len(students)} unchanged" in out
    assert count(db, "SELECT COUNT(*) FROM gradings") == len(students)
    assert count(db, "SELECT COUNT(*) FROM runs") == 1


def test_lock_in_one_process_refuses_a_second_holder_and_is_released(tmp_path):
    with CourseLock(tmp_path):
        with pytest.raises(CourseBusy, match="this process"):
            with CourseLock(tmp_path, wait=0.2):
                pass
    with CourseLock(tmp_path):  # released on exit
        pass
