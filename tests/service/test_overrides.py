"""Staff overrides: a score set by hand (with a reason) counts everywhere the counted score is read."""

from __future__ import annotations

import json
import re

from starlette.testclient import TestClient

from autograder.gradebook import Gradebook, load_course
from autograder.gradebook.exports import gradebook_table, text_table, to_csv
from autograder.gradebook.history import student_history
from autograder.reports.classreport import report_context, write_report
from tests.service.conftest import csrf_of, sign_in, upload, wait_graded

BAD = b"def f():\n    return 0\n"


def _graded_s1(client: TestClient, app, codes: dict) -> TestClient:
    """s1 has a graded (failing) clipping submission; returns a signed-in staff client."""
    sign_in(client, "s1", codes["s1"])
    wait_graded(client, upload(client, "clipping", BAD))
    return sign_in(TestClient(app, follow_redirects=False), "prof", codes["prof"])


def test_staff_override_counts_everywhere_and_can_be_cleared(client: TestClient, app, codes: dict,
                                                             course_dir) -> None:
    staff = _graded_s1(client, app, codes)
    before = client.get("/home").text
    graded = re.search(r"(\d+(?:\.\d+)?) / 100", before).group(1)
    assert graded != "87.5"
    token = csrf_of(staff, "/staff/students/s1")
    r = staff.post("/staff/override", data={"csrf": token, "student": "s1", "topic": "clipping", "score": "87.5",
                                            "reason": "grader crashed on a valid answer"})
    assert r.status_code == 303 and r.headers["location"].startswith("/staff/students/s1?m=")
    page = staff.get(r.headers["location"]).text
    assert "grader crashed on a valid answer" in page and "87.5 / 100" in page

    # the student's own pages say so, with the reason
    home, assignment = client.get("/home").text, client.get("/a/clipping").text
    assert "87.5 / 100" in home and "set by staff" in home and "grader crashed on a valid answer" in home
    assert "set by staff" in assignment and "87.5 / 100" in assignment
    # the exports, the class report and `deepgrade student` read the overridden score
    rows = list(csv_rows(staff.get("/staff/export/csv").text))
    assert rows[0]["clipping"] == "87.5"
    detail = json.loads(staff.get("/staff/export/json").text)["students"][0]["detail"]["clipping"]
    assert detail["override"]["reason"] == "grader crashed on a valid answer" and detail["final_score"] == 87.5
    course = load_course(course_dir)
    with Gradebook.open(course.db_path) as book:
        ctx = report_context(course, book, out=course.root / "reports" / "r.html")
        clipping = next(a for a in ctx["assignments"] if a["topic"] == "clipping")
        assert clipping["mean"] == 87.5
        html = write_report(course, book, course.root / "reports" / "r.html").read_text()
        assert "! score set by staff" in text_table(course, book)
        history = student_history(course, book, "s1")
    assert 'title="set by staff: grader crashed on a valid answer">S<' in html  # the report's gradebook table
    assert "score set by staff: 87.5/100" in history and "reason: grader crashed on a valid answer" in history
    # the audit log on the dashboard
    audit = staff.get("/staff").text.split("Audit log")[1]
    assert "override" in audit and "87.5/100" in audit
    assert "(set by staff)" in staff.get("/staff").text.split("Audit log")[0]  # the class table

    r = staff.post("/staff/override", data={"csrf": token, "student": "s1", "topic": "clipping", "clear": "1"})
    assert r.status_code == 303
    assert "set by staff" not in client.get("/home").text
    assert list(csv_rows(staff.get("/staff/export/csv").text))[0]["clipping"] == graded
    assert "override cleared" in staff.get("/staff").text.split("Audit log")[1]


def test_override_without_a_grading_still_counts_in_the_exports(course_dir, codes: dict) -> None:
    course = load_course(course_dir)
    points = course.assignments["activations"].points
    with Gradebook.open(course.db_path) as book:
        book.set_override("s2", "activations", 5, 10, "lost upload, graded by hand", "staff:prof")
        columns, rows = gradebook_table(course, book)
    row = next(r for r in rows if r.student.student_id == "s2")
    col = next(c for c in columns if c.key == "activations")
    assert col.possible == (points or 10) and row.cells["activations"] == col.possible / 2
    assert "s2" in to_csv(columns, rows)


def test_bad_override_input_is_refused_with_a_clear_message(client: TestClient, app, codes: dict) -> None:
    staff = _graded_s1(client, app, codes)
    token = csrf_of(staff, "/staff/students/s1")
    base = {"csrf": token, "student": "s1", "topic": "clipping"}
    cases = [({"score": "150", "reason": "x"}, "between 0 and 100"), ({"score": "ten", "reason": "x"}, "a number"),
             ({"score": "50", "reason": "  "}, "reason")]
    for extra, words in cases:
        r = staff.post("/staff/override", data={**base, **extra})
        assert r.status_code == 400 and words in r.text, (extra, r.text)
    r = staff.post("/staff/override", data={**base, "topic": "nope", "score": "1", "reason": "x"})
    assert r.status_code == 404
    with app.state.service.book() as book:
        assert book.overrides() == []


def test_a_student_cannot_override_and_csrf_is_required(client: TestClient, app, codes: dict) -> None:
    staff = _graded_s1(client, app, codes)
    data = {"student": "s1", "topic": "clipping", "score": "100", "reason": "I deserve it"}
    r = client.post("/staff/override", data={**data, "csrf": csrf_of(client, "/home")})  # s1 on their own score
    assert r.status_code == 403
    r = staff.post("/staff/override", data=data)  # staff, but no CSRF token
    assert r.status_code == 403
    r = staff.post("/staff/override", data={**data, "csrf": "forged"})
    assert r.status_code == 403
    with app.state.service.book() as book:
        assert book.overrides() == []
        assert book.conn.execute("SELECT COUNT(*) FROM audit WHERE action LIKE 'override%'").fetchone()[0] == 0


def csv_rows(text: str):
    import csv
    import io

    return csv.DictReader(io.StringIO(text))
