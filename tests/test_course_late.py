"""Late days and penalties at the boundaries, extensions, time zones, manifests, deepgrade.toml errors."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import pytest

from autograder.gradebook import CourseError, Gradebook, LatePolicy, grade_course, load_course
from autograder.gradebook.late import final_score, late_days, penalty_fraction
from autograder.gradebook.manifest import read_manifest
from tests.course_helpers import fake_grader, make_course, submit

DUE = datetime(2025, 10, 6, 23, 59, tzinfo=timezone.utc)
S, MIN, DAY = timedelta(seconds=1), timedelta(minutes=1), timedelta(days=1)


def test_exactly_on_time_and_one_second_late():
    policy = LatePolicy(percent_per_day=10, grace_minutes=0, max_days=3)
    assert late_days(DUE, DUE, policy) == 0
    assert late_days(DUE - S, DUE, policy) == 0
    assert late_days(DUE + S, DUE, policy) == 1
    assert final_score(80, late_days(DUE + S, DUE, policy), policy) == 72.0


def test_every_started_day_counts():
    policy = LatePolicy(percent_per_day=10, grace_minutes=0, max_days=3)
    assert late_days(DUE + DAY, DUE, policy) == 1
    assert late_days(DUE + DAY + S, DUE, policy) == 2
    assert late_days(DUE + 2 * DAY, DUE, policy) == 2


def test_grace_period_forgives_up_to_its_end_then_counts_from_the_deadline():
    policy = LatePolicy(percent_per_day=10, grace_minutes=15, max_days=3)
    assert late_days(DUE + 15 * MIN, DUE, policy) == 0
    assert late_days(DUE + 15 * MIN + S, DUE, policy) == 1
    # Grace does not shift the day boundaries: 24 h + 1 s after the deadline is day 2.
    assert late_days(DUE + DAY + S, DUE, policy) == 2


def test_max_days_then_zero():
    policy = LatePolicy(percent_per_day=10, grace_minutes=0, max_days=3)
    days = late_days(DUE + 3 * DAY, DUE, policy)
    assert days == 3 and penalty_fraction(days, policy) == pytest.approx(0.3)
    assert final_score(100, days, policy) == pytest.approx(70.0)
    days = late_days(DUE + 3 * DAY + S, DUE, policy)
    assert days == 4 and penalty_fraction(days, policy) == 1.0 and final_score(100, days, policy) == 0.0
    # max_days = 0: any lateness beyond grace scores zero.
    strict = LatePolicy(percent_per_day=10, grace_minutes=5, max_days=0)
    assert final_score(90, late_days(DUE + 5 * MIN, DUE, strict), strict) == 90
    assert final_score(90, late_days(DUE + 5 * MIN + S, DUE, strict), strict) == 0


def test_penalty_never_exceeds_the_score_and_no_due_date_is_never_late():
    policy = LatePolicy(percent_per_day=40, grace_minutes=0, max_days=5)
    assert final_score(50, 3, policy) == 0.0
    assert late_days(DUE + 100 * DAY, None, policy) == 0
    with pytest.raises(ValueError, match="time zone"):
        late_days(DUE.replace(tzinfo=None), DUE, policy)


def test_due_dates_are_in_the_course_time_zone(tmp_path):
    root = make_course(tmp_path / "c", ["s1"], ["residual"], due={"residual": "2025-10-06 23:59"})
    text = (root / "deepgrade.toml").read_text().replace('timezone = "UTC"', 'timezone = "Europe/Berlin"')
    (root / "deepgrade.toml").write_text(text)
    course = load_course(root)
    # 23:59 CEST is 21:59 UTC.
    assert course.assignments["residual"].due == datetime(2025, 10, 6, 21, 59, tzinfo=timezone.utc)
    assert course.local(course.assignments["residual"].due) == "2025-10-06 23:59 CEST"


def _graded(root, calls=None):
    course = load_course(root)
    report = grade_course(course, grader=fake_grader(calls))
    with Gradebook.open(course.db_path) as book:
        return report, {g.student_id: g for g in book.current()}


def test_extensions_move_the_deadline_and_changes_apply_without_regrading(tmp_path):
    root = make_course(tmp_path / "c", ["s1", "s2"], ["residual"], due={"residual": "2025-10-06T23:59:00Z"},
                       late="percent_per_day = 10\ngrace_minutes = 0\nmax_days = 5",
                       toml_extra="s1 = { residual = 2 }\n")
    toml = root / "deepgrade.toml"  # file times: an opt-in source (the student sets them)
    toml.write_text(toml.read_text().replace('submission_time = "manifest"', 'submission_time = "mtime"'))
    submitted = (DUE + DAY + timedelta(hours=3)).timestamp()  # 27 h late
    for s in ("s1", "s2"):
        os.utime(submit(root, "residual", s), (submitted, submitted))
    calls = []
    _, graded = _graded(root, calls)
    assert graded["s1"].late_days == 0 and graded["s1"].final_score == 100
    assert graded["s2"].late_days == 2 and graded["s2"].final_score == pytest.approx(80)
    assert graded["s2"].raw_score == 100 and graded["s2"].penalty == pytest.approx(0.2)
    # The instructor grants s2 a day and takes s1's away: late days and finals follow, nothing is regraded.
    toml = root / "deepgrade.toml"
    toml.write_text(toml.read_text().replace("s1 = { residual = 2 }", "s2 = { residual = 1 }"))
    report, graded = _graded(root, calls)
    assert len(calls) == 2 and report.skipped == 2
    assert graded["s1"].late_days == 2 and graded["s1"].final_score == pytest.approx(80)
    assert graded["s2"].late_days == 1 and graded["s2"].final_score == pytest.approx(90)
    with Gradebook.open(root / "gradebook.sqlite") as book:
        assert [(r["student_id"], r["days"]) for r in book.extensions()] == [("s2", 1.0)]


def test_manifest_times_win_over_file_times(tmp_path):
    root = make_course(tmp_path / "c", ["s1", "s2", "s3"], ["residual"], due={"residual": "2025-10-06 23:59"},
                       late="percent_per_day = 25\ngrace_minutes = 10\nmax_days = 2")
    for s in ("s1", "s2", "s3"):
        submit(root, "residual", s)  # file times: now, long after the due date
    (root / "submissions" / "residual" / "manifest.csv").write_text(
        "student_id,submitted_at\n"
        "s1,2025-10-06 23:59:00\n"          # exactly on time
        "s2,2025-10-07T00:09:00+00:00\n"    # in the grace period
        "s3,2025-10-08T23:59:01Z\n")        # 2 days and 1 second: beyond max_days
    _, graded = _graded(root)
    assert {s: (g.late_days, g.final_score) for s, g in graded.items()} == {
        "s1": (0, 100), "s2": (0, 100), "s3": (3, 0)}
    assert graded["s1"].time_source.endswith("manifest.csv")


def test_json_manifest_forms(tmp_path):
    tz = timezone(timedelta(hours=2))
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"s1": "2025-10-06T12:00:00"}))
    assert read_manifest(path, tz)[("s1", None)] == datetime(2025, 10, 6, 10, 0, tzinfo=timezone.utc)
    path.write_text(json.dumps([{"student": "s2", "topic": "residual", "timestamp": "2025-10-06T12:00:00Z"}]))
    assert read_manifest(path, tz) == {("s2", "residual"): datetime(2025, 10, 6, 12, 0, tzinfo=timezone.utc)}
    path.write_text(json.dumps([{"student": "s2"}]))
    with pytest.raises(CourseError, match="needs a student id"):
        read_manifest(path, tz)


@pytest.mark.parametrize("edit, message", [
    (('[late]', '[late]\ngrace_minute = 5'), "unknown setting 'grace_minute'"),
    (('[assignments.residual]', '[assignments.resdual]'), "unknown topic 'resdual'"),
    (('timezone = "UTC"', 'timezone = "Mars/Olympus"'), "unknown time zone 'Mars/Olympus'"),
    (('weight = 1', 'weight = -1'), "weight = -1: expected a number >= 0"),
    (('percent_per_day = 10', 'percent_per_day = 150'), "expected at most 100"),
    (('max_days = 5', 'max_days = 1.5'), "whole number of days"),
    (('[extensions]', '[extensions]\ns1 = { clipping = 1 }'), "'clipping' is not an assignment"),
    (('name = "Test course"', 'name = "unterminated'), "not valid TOML"),
])
def test_config_errors_name_the_setting(tmp_path, edit, message):
    root = make_course(tmp_path / "c", ["s1"], ["residual"])
    toml = root / "deepgrade.toml"
    text = toml.read_text()
    assert edit[0] in text
    toml.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(CourseError, match="deepgrade.toml") as err:
        load_course(root)
    assert message in str(err.value)


def test_due_date_must_parse(tmp_path):
    with pytest.raises(CourseError, match=r"\[assignments.residual\] due: 'next friday' is not a date"):
        make_course(tmp_path / "c", ["s1"], ["residual"], due={"residual": "next friday"})
