"""The student loop and the staff pages, in-process (fake executor): what a person sees."""

from __future__ import annotations

from starlette.testclient import TestClient

from autograder.gradebook import Gradebook, load_course
from tests.service.conftest import HOSTILE_MESSAGE, HOSTILE_NAME, sign_in, upload, wait_graded

GOOD = b"# GOOD\ndef f():\n    return 1\n"
BAD = b"def f():\n    return 0\n"


def test_student_submits_sees_failure_then_full_marks(client: TestClient, codes: dict) -> None:
    sign_in(client, "s1", codes["s1"])
    home = client.get("/home")
    assert home.status_code == 200 and "Clipping" in home.text and "not submitted" in home.text
    first = upload(client, "clipping", BAD)
    state = wait_graded(client, first)
    assert state["state"] == "graded" and state["score"] == 40 and state["max_score"] == 100
    assert [f["name"] for f in state["failed"]] == ["visible check with a message", "inputs not mutated (after due)"]
    page = client.get(f"/s/{first}").text
    assert "Looks like you forgot the skip path" in page  # the teaching message
    assert "hidden test" in page and "SECRET-HIDDEN-MESSAGE" not in page  # hidden checks stay masked
    second = upload(client, "clipping", GOOD)
    assert wait_graded(client, second)["score"] == 100
    assignment = client.get("/a/clipping").text
    assert "Counted score: <strong>100 / 100</strong>" in assignment
    assert assignment.count("/s/") >= 2  # history lists both


def test_before_the_deadline_after_due_checks_are_withheld(client: TestClient, codes: dict) -> None:
    sign_in(client, "s1", codes["s1"])
    sub = upload(client, "activations", BAD)
    state = wait_graded(client, sub)
    assert state["complete"] is False and state["max_score"] == 70  # 40 + 30 shown; 20 hidden, 10 later
    assert "SECRET-AFTER-DUE-MESSAGE" not in client.get(f"/s/{sub}").text


def test_same_content_again_is_not_graded_twice(client: TestClient, codes: dict) -> None:
    sign_in(client, "s1", codes["s1"])
    a = upload(client, "clipping", BAD)
    wait_graded(client, a)
    assert upload(client, "clipping", BAD) == a


def test_submission_time_is_receipt_time(client: TestClient, codes: dict, course_dir) -> None:
    sign_in(client, "s1", codes["s1"])
    sub = upload(client, "clipping", GOOD)
    wait_graded(client, sub)
    with Gradebook.open(load_course(course_dir).db_path) as book:
        row = book.conn.execute("SELECT time_source, submitted_at, path FROM submissions WHERE id = ?",
                                (sub,)).fetchone()
    assert row["time_source"] == "receipt"
    assert (course_dir / row["path"] / "clipping.py").read_bytes() == GOOD  # stored content-addressed


def test_student_text_is_escaped_everywhere(client: TestClient, app, codes: dict) -> None:
    sign_in(client, "s1", codes["s1"])
    sub = upload(client, "clipping", BAD)
    wait_graded(client, sub)
    staff = sign_in(TestClient(app, follow_redirects=False), "prof", codes["prof"])
    pages = [client.get(f"/s/{sub}").text, staff.get("/staff").text, staff.get("/staff/students/s1").text,
             staff.get(f"/s/{sub}").text, staff.get("/staff/report").text]
    for html in pages:
        assert HOSTILE_MESSAGE not in html and HOSTILE_NAME not in html
    assert "&lt;img src=x onerror=alert(&#39;msg&#39;)&gt;" in pages[0]
    assert "&lt;script&gt;" in pages[1]


def test_dashboard_shows_the_class_and_regrades_go_to_the_audit_log(client: TestClient, app, codes: dict) -> None:
    sign_in(client, "s1", codes["s1"])
    sub = upload(client, "clipping", GOOD)
    wait_graded(client, sub)
    staff = sign_in(TestClient(app, follow_redirects=False), "prof", codes["prof"])
    dash = staff.get("/staff").text
    assert 'href="/staff/students/s1"' in dash and ">100<" in dash
    import re

    token = re.search(r'name="csrf" value="([^"]+)"', dash).group(1)
    r = staff.post("/staff/regrade", data={"csrf": token, "target": "topic:clipping"})
    assert r.status_code == 303 and "1%20submission" in r.headers["location"]
    assert wait_graded(staff, sub)["state"] == "graded"
    assert "regrade" in staff.get("/staff").text.split("Audit log")[1]
    hist = staff.get("/staff/students/s1").text
    assert "100 / 100, 100 / 100 (regrade)" in hist  # the regrade history
    for fmt in ("csv", "canvas", "moodle", "json"):
        r = staff.get(f"/staff/export/{fmt}")
        assert r.status_code == 200 and "s1" in r.text and "attachment" in r.headers["content-disposition"]


def test_handouts_download(client: TestClient, codes: dict) -> None:
    sign_in(client, "s1", codes["s1"])
    py = client.get("/a/clipping/handout.py")
    assert py.status_code == 200 and b"NotImplementedError" in py.content
    nb = client.get("/a/clipping/handout.ipynb")
    assert nb.status_code == 200 and nb.json()["nbformat"] == 4


def test_uploads_close_after_the_last_late_day(tmp_path, course_dir, codes: dict) -> None:
    text = (course_dir / "deepgrade.toml").read_text()
    import re

    text = re.sub(r'due = "[^"]+"', 'due = "2020-01-01 23:59"', text, count=1)  # activations, long past
    (course_dir / "deepgrade.toml").write_text(text)
    from autograder.service.app import create_app
    from tests.service.conftest import FakeExecutor

    with TestClient(create_app(course_dir, executor=FakeExecutor), follow_redirects=False) as c:
        sign_in(c, "s1", codes["s1"])
        page = c.get("/a/activations").text
        assert "Uploads for this assignment closed on" in page
        from tests.service.conftest import csrf_of

        r = c.post("/a/activations/upload", data={"csrf": csrf_of(c, "/a/activations")},
                   files={"file": ("activations.py", BAD)})
        assert r.status_code == 303 and "closed%20on" in r.headers["location"]
