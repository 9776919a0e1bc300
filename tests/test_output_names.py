"""Student ids as file names and terminal text (issue 9 §1, the third bullet).

Ids are folder names, so students choose them: they must map to output names one to one,
never onto the batch's own files, survive bytes that are not UTF-8, and never reach a
terminal as escape sequences. Fast: no grading, results are made by hand.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from autograder.batch import BatchReport, class_table, write_outputs
from autograder.grading import jobs_for_folder
from autograder.results import CheckResult, SubmissionResult

TRICKY = ["ref", "ref_", "Ref", "grades.csv", "GRADES.CSV", "summary.json", "..", ".", "", "a/b", "con", "nul.txt",
          "x" * 300, "x" * 301, "=HYPERLINK(\"evil.example\";\"Open grade\")", "bad\\xffname", "\x1b[2K\rref 100",
          "ada@example.edu", "s1001", "_ref-0123456789abcdef", "ref-"]


def result(student_id: str, score: float = 1.0) -> SubmissionResult:
    check = CheckResult("works", "it works", "activations", score, 1.0, "passed" if score else "failed")
    return SubmissionResult(student_id, "activations", [check], output="sandbox: test")


def test_output_names_are_one_to_one_plain_and_never_the_batch_files():
    from autograder.names import output_name

    names = [output_name(i) for i in TRICKY]
    assert len(set(names)) == len(TRICKY)
    for name in names:
        assert name and "/" not in name and "\x00" not in name and name not in (".", "..")
        assert name.lower() not in ("grades.csv", "summary.json")
        assert name.isprintable() and len(name) <= 100
    assert output_name("s1001") == "s1001" and output_name("ada@example.edu") == "ada@example.edu"
    assert output_name("ref_") != output_name("ref")


def test_a_student_named_like_a_batch_file_cannot_replace_it(tmp_path):
    report = BatchReport(["activations"], [result(i) for i in ("grades.csv", "summary.json", "ref", "ref_")],
                         tmp_path)
    write_outputs(report)
    rows = list(csv.reader((tmp_path / "grades.csv").open()))
    assert rows[0][:3] == ["student_id", "score", "max_score"]
    assert sorted(r[0] for r in rows[1:]) == ["grades.csv", "ref", "ref_", "summary.json"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    folders = {r["student_id"]: r["folder"] for r in summary["results"]}
    assert len(set(folders.values())) == 4
    for student_id, folder in folders.items():
        data = json.loads((tmp_path / folder / "results.json").read_text())
        assert data["extra_data"]["student_id"] == student_id


def test_a_folder_name_that_is_not_utf8_is_graded_and_written(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    os.mkdir(os.fsencode(subs) + b"/bad\xffname")
    (subs / "good").mkdir()
    jobs = jobs_for_folder(subs, ["activations"])
    ids = sorted(j.student_id for j in jobs)
    assert ids == ["bad\\xffname", "good"]
    for student_id in ids:
        student_id.encode("utf-8")  # valid text for every writer
    report = BatchReport(["activations"], [result(i) for i in ids], tmp_path / "out")
    write_outputs(report)
    assert "bad\\xffname" in (tmp_path / "out" / "grades.csv").read_text(encoding="utf-8")


def test_terminal_tables_escape_control_characters():
    forged = "\x1b[2K\rref 100 100.0%"
    table = class_table(BatchReport(["activations"], [result("ref"), result(forged, 0.0)], Path("out")))
    assert "\x1b" not in table and "\r" not in table
    assert "\\x1b[2K\\x0dref 100 100.0%" in table


def test_feedback_pages_of_ref_and_ref_underscore_are_two_files():
    from autograder.reports.feedback import safe_name

    assert safe_name("ref") != safe_name("ref_")
    assert len({safe_name(i) for i in TRICKY}) == len(TRICKY)


def test_course_tables_and_history_escape_control_characters(tmp_path):
    from autograder.gradebook import Gradebook, grade_course, load_course
    from autograder.gradebook.exports import text_table
    from autograder.gradebook.history import student_history
    from tests.course_helpers import fake_grader, make_course, submit

    forged = "\x1b[2K\rs1 100"
    root = make_course(tmp_path / "c", ["s1"], ["residual"])
    submit(root, "residual", "s1")
    submit(root, "residual", forged)
    course = load_course(root)
    grade_course(course, grader=fake_grader())
    with Gradebook.open(course.db_path) as book:
        table, history = text_table(course, book), student_history(course, book, forged)
    for text in (table, history):
        assert "\x1b" not in text and "\r" not in text
        assert "\\x1b[2K\\x0ds1 100" in text
