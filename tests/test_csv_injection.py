"""CSV injection (issue 9 §4): no CSV deepgrade writes holds a cell a spreadsheet would run.

OWASP: a text cell starting with = + - @ tab or CR is a formula to Excel, LibreOffice and
Google Sheets; such cells get a leading apostrophe. Numbers stay numbers. The LMS exports
must still import: Canvas matches students by its ID column, Moodle by email, and both
still find every student and their grade.
"""

from __future__ import annotations

import csv
import io

from autograder.gradebook import Gradebook, grade_course, load_course
from autograder.gradebook.exports import export
from autograder.results import CheckResult, SubmissionResult, write_grades_csv
from tests.course_helpers import fake_grader, make_course, submit

HOSTILE_ID = '=HYPERLINK("evil.example";"Open grade")'
HOSTILE_NAME = "@SUM(1+1) Tester"
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def assert_inert(rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row:
            if cell.startswith(DANGEROUS):
                float(cell)  # only a number may start like a formula


def test_cells_are_neutralized_and_numbers_are_not():
    from autograder.results import csv_cell

    assert csv_cell(HOSTILE_ID) == "'" + HOSTILE_ID
    for start in DANGEROUS:
        assert csv_cell(start + "cmd|' /C calc'!A0").startswith("'")
    assert csv_cell("-2.5") == "-2.5" and csv_cell(-2.5) == -2.5 and csv_cell(3) == 3
    assert csv_cell("s1001") == "s1001"


def test_grades_csv_holds_no_formula(tmp_path):
    checks = [CheckResult("works", "it works", "activations", 1.0, 1.0, "passed")]
    results = [SubmissionResult(sid, "activations", list(checks)) for sid in (HOSTILE_ID, "+1+cmd", "\tx", "s1")]
    write_grades_csv(results, tmp_path / "grades.csv")
    rows = rows_of((tmp_path / "grades.csv").read_text())
    assert_inert(rows)
    assert ["'" + HOSTILE_ID, "1", "1", "1"] in rows
    assert ["s1", "1", "1", "1"] in rows


def test_course_exports_hold_no_formula_and_lms_imports_still_match(tmp_path):
    root = make_course(tmp_path / "c", ["s1", "s2"], ["residual"])
    buf = io.StringIO()
    csv.writer(buf).writerows([["student_id", "name", "email", "canvas_id"],
                               [HOSTILE_ID, HOSTILE_NAME, "evil@example.edu", "101"],
                               ["s1", "Ada Lovelace", "ada@example.edu", "102"],
                               ["s2", "-Alan Turing", "alan@example.edu", "103"]])
    (root / "roster.csv").write_text(buf.getvalue())
    for student in (HOSTILE_ID, "s1", "s2"):
        submit(root, "residual", student)
    course = load_course(root)
    grade_course(course, grader=fake_grader(good={"s1"}))
    with Gradebook.open(course.db_path) as book:
        expected = {g.student_id: g.final_score for g in book.current()}
        paths = {fmt: export(course, book, fmt) for fmt in ("csv", "canvas", "moodle")}
    assert set(expected) == {HOSTILE_ID, "s1", "s2"}
    texts = {fmt: path.read_text(encoding="utf-8") for fmt, path in paths.items()}
    for fmt, text in texts.items():
        assert_inert(rows_of(text))
        assert any("'" + HOSTILE_ID in row for row in rows_of(text)), fmt

    # Canvas matches by its own ID (the roster's canvas_id), which is never altered.
    canvas_ids = {"101": HOSTILE_ID, "102": "s1", "103": "s2"}
    header, _possible, *rows = rows_of(texts["canvas"])
    column = header.index("Residual")
    matched = {canvas_ids[r[header.index("ID")]]: float(r[column]) for r in rows}
    assert matched == expected

    # Moodle maps users by email address (or ID number); the email column matches every student.
    emails = {"evil@example.edu": HOSTILE_ID, "ada@example.edu": "s1", "alan@example.edu": "s2"}
    header, *rows = rows_of(texts["moodle"])
    column = header.index("Residual")
    matched = {emails[r[header.index("Email address")]]: float(r[column]) for r in rows}
    assert matched == expected
    first_names = {r[header.index("First name")] for r in rows}
    assert "'@SUM(1+1)" in first_names and "'-Alan" in first_names
