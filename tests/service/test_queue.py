"""The queue in the gradebook: receipt, claim, exactly-once commit, recovery, counting and limits."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from autograder.gradebook import Gradebook, load_course
from autograder.grading import grader_version
from autograder.results import SubmissionResult
from autograder.service import submissions
from autograder.service.settings import ServiceSettings, load_settings
from tests.course_helpers import fake_checks

T0 = datetime(2031, 3, 2, 10, 0, tzinfo=timezone.utc)


def result(student: str, topic: str, good: bool) -> SubmissionResult:
    return SubmissionResult(student, topic, fake_checks(topic, good), 0.01, "sandbox: fake", "0.1.0",
                            grader_version(topic))


@pytest.fixture
def env(course_dir):
    course = load_course(course_dir)
    book = Gradebook.open(course.db_path)
    run = book.start_run("0.1.0", {}, False)
    yield course, book, run
    book.close()


def test_accepted_is_on_disk_and_queued(env) -> None:
    course, book, _ = env
    r = submissions.receive(course, book, ServiceSettings(), "s1", "clipping", "mine.py", b"x = 1\n", now=T0)
    row = book.conn.execute("SELECT * FROM submissions WHERE id = ?", (r.submission_id,)).fetchone()
    assert row["submitted_at"].startswith("2031-03-02T10:00") and row["time_source"] == "receipt"
    assert (course.root / row["path"] / "clipping.py").read_bytes() == b"x = 1\n"
    assert submissions.status(book, r.submission_id) == {"state": "queued", "ahead": 0, "regrade": False}


def test_a_result_is_recorded_exactly_once(env) -> None:
    course, book, run = env
    settings = ServiceSettings()
    r = submissions.receive(course, book, settings, "s1", "clipping", "c.py", b"x = 1\n", now=T0)
    [entry] = submissions.claim(book, 10)
    assert submissions.claim(book, 10) == []  # running entries are not handed out twice
    assert submissions.complete(book, course, settings, run, entry["id"], result("s1", "clipping", True))
    assert not submissions.complete(book, course, settings, run, entry["id"], result("s1", "clipping", True))
    assert book.conn.execute("SELECT COUNT(*) FROM gradings").fetchone()[0] == 1
    assert submissions.status(book, r.submission_id)["state"] == "graded"


def test_a_dead_servers_running_entries_are_graded_again(env) -> None:
    course, book, run = env
    settings = ServiceSettings()
    for i in range(3):
        submissions.receive(course, book, settings, "s1", "clipping", "c.py", f"x = {i}\n".encode(), now=T0)
    claimed = submissions.claim(book, 2)
    assert submissions.complete(book, course, settings, run, claimed[0]["id"], result("s1", "clipping", True))
    # the server dies here: entry 2 is "running", entry 3 "queued"
    assert submissions.recover(book) == 1
    again = submissions.claim(book, 10)
    assert [e["id"] for e in again] == [claimed[1]["id"], claimed[1]["id"] + 1]
    for e in again:
        submissions.complete(book, course, settings, run, e["id"], result("s1", "clipping", True))
    per_sub = book.conn.execute("SELECT submission_id, COUNT(*) AS n FROM gradings GROUP BY submission_id").fetchall()
    assert sorted(r["n"] for r in per_sub) == [1, 1, 1]


def test_failures_retry_then_stop(env) -> None:
    course, book, _ = env
    r = submissions.receive(course, book, ServiceSettings(), "s1", "clipping", "c.py", b"x\n", now=T0)
    states = []
    for _ in range(submissions.MAX_ATTEMPTS):
        [e] = submissions.claim(book, 1)
        states.append(submissions.fail(book, e["id"], "worker died"))
    assert states == ["queued", "queued", "failed"]
    assert submissions.status(book, r.submission_id)["state"] == "failed"
    assert submissions.enqueue_regrade(book, [r.submission_id], "prof") == 1  # staff can retry


@pytest.mark.parametrize("counts, expected", [("last", 40.0), ("best", 100.0)])
def test_which_submission_counts(env, counts: str, expected: float) -> None:
    course, book, run = env
    settings = ServiceSettings(counts=counts)
    for good, text in ((True, b"good\n"), (False, b"bad\n")):
        submissions.receive(course, book, settings, "s1", "clipping", "c.py", text, now=T0)
        [e] = submissions.claim(book, 1)
        submissions.complete(book, course, settings, run, e["id"], result("s1", "clipping", good))
    [g] = book.current(topic="clipping", student_id="s1")
    assert g.final_score == expected


def test_resubmission_limits_count_days_in_the_course_time_zone(env, course_dir) -> None:
    course, book, _ = env
    settings = ServiceSettings(max_per_day=2, cooldown_seconds=60)
    submissions.receive(course, book, settings, "s1", "clipping", "c.py", b"1\n", now=T0)
    with pytest.raises(submissions.Refused, match="wait 30 s"):
        submissions.receive(course, book, settings, "s1", "clipping", "c.py", b"2\n", now=T0 + timedelta(seconds=30))
    submissions.receive(course, book, settings, "s1", "clipping", "c.py", b"3\n", now=T0 + timedelta(minutes=5))
    with pytest.raises(submissions.Refused, match="all 2 submissions"):
        submissions.receive(course, book, settings, "s1", "clipping", "c.py", b"4\n", now=T0 + timedelta(hours=1))
    submissions.receive(course, book, settings, "s2", "clipping", "c.py", b"5\n", now=T0 + timedelta(hours=1))
    submissions.receive(course, book, settings, "s1", "clipping", "c.py", b"6\n", now=T0 + timedelta(days=1))


def test_late_days_come_from_the_receipt_time(env) -> None:
    course, book, _ = env
    deadline = course.deadline("s1", "activations")
    r = submissions.receive(course, book, ServiceSettings(), "s1", "activations", "a.py", b"1\n",
                            now=deadline + timedelta(hours=30))
    row = book.conn.execute("SELECT late_days FROM submissions WHERE id = ?", (r.submission_id,)).fetchone()
    assert row["late_days"] == 2
    end = submissions.upload_window_end(course, "s1", "activations")
    with pytest.raises(submissions.Refused, match="closed on"):
        submissions.receive(course, book, ServiceSettings(), "s1", "activations", "a.py", b"2\n",
                            now=end + timedelta(seconds=1))


def test_service_settings_are_checked(course_dir) -> None:
    from autograder.gradebook.course import CourseError

    toml = course_dir / "deepgrade.toml"
    assert load_settings(load_course(course_dir)).max_upload_kb == 50
    toml.write_text(toml.read_text().replace("max_upload_kb = 50", 'counts = "median"'))
    with pytest.raises(CourseError, match="choose \"last\" or \"best\""):
        load_settings(load_course(course_dir))
    toml.write_text(toml.read_text().replace('counts = "median"', "max_per_dya = 3"))
    with pytest.raises(CourseError, match="unknown setting 'max_per_dya'"):
        load_settings(load_course(course_dir))
