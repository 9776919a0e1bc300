"""Fixtures for the submission service: a small course with codes, the app in-process, a fake executor.

Page and security tests drive the real Starlette app in-process (Starlette's TestClient over
httpx); grading there goes through ``FakeExecutor`` (instant results shaped like the engine's,
good when the upload contains "GOOD"). The restart and browser tests run the real server and
the real engine.
"""

from __future__ import annotations

import queue
import warnings
from collections.abc import Hashable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")  # Starlette 1.x asks for httpx2
from starlette.testclient import TestClient  # noqa: E402

from autograder.gradebook import Gradebook, load_course  # noqa: E402
from autograder.grading import Job, grader_version  # noqa: E402
from autograder.results import SubmissionResult  # noqa: E402
from autograder.service import accounts  # noqa: E402
from autograder.service.app import create_app  # noqa: E402
from tests.course_helpers import fake_checks, make_course  # noqa: E402

HOSTILE_NAME = "<script>alert('name')</script>"
HOSTILE_MESSAGE = "<img src=x onerror=alert('msg')>"
STUDENTS = ["s1", "s2"]


class FakeExecutor:
    """Grades instantly on the dispatcher's thread (tests only: a real server uses LocalExecutor)."""

    def __init__(self) -> None:
        self.done: queue.Queue = queue.Queue()
        self.jobs: list[Job] = []

    def submit(self, key: Hashable, job: Job) -> None:
        self.jobs.append(job)
        good = any(b"GOOD" in data for data in job.files.values())
        checks = fake_checks(job.topic, good)
        if not good:
            checks[1].output += "\n" + HOSTILE_MESSAGE
        self.done.put((key, SubmissionResult(job.student_id, job.topic, checks, 0.01, "sandbox: fake", "0.1.0",
                                             grader_version(job.topic))))

    def completed(self, timeout: float | None = None) -> Iterator:
        try:
            yield self.done.get(timeout=timeout or 0.01)
        except queue.Empty:
            return
        while not self.done.empty():
            yield self.done.get_nowait()

    def pending(self) -> int:
        return self.done.qsize()

    def close(self) -> None:
        pass


@pytest.fixture
def course_dir(tmp_path: Path) -> Path:
    root = make_course(tmp_path / "course", STUDENTS, ["activations", "clipping"],
                       toml_extra='\n[service]\nmax_upload_kb = 50\n')
    # clipping has no due date: every check (after_due_date too) is shown at once
    text = (root / "deepgrade.toml").read_text()
    start = text.index("[assignments.clipping]")
    due_at = text.index("due = ", start)
    end = text.index("\n", due_at)
    (root / "deepgrade.toml").write_text(text[:due_at] + text[end + 1:])
    roster = (root / "roster.csv").read_text().replace("S1 Tester", HOSTILE_NAME.replace(",", " "))
    (root / "roster.csv").write_text(roster)
    return root


@pytest.fixture
def codes(course_dir: Path) -> dict[str, str]:
    course = load_course(course_dir)
    with Gradebook.open(course.db_path) as book:
        book.sync_roster(course.roster())
        issued = accounts.issue(book, [(s, "student") for s in STUDENTS] + [("prof", "staff")])
    return {i.account: i.code for i in issued}


@pytest.fixture
def app(course_dir: Path, codes: dict[str, str]):
    return create_app(course_dir, executor=FakeExecutor)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        yield c


def csrf_of(client: TestClient, path: str = "/signin") -> str:
    import re

    html = client.get(path).text
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(client: TestClient, account: str, code: str) -> TestClient:
    token = csrf_of(client)
    r = client.post("/signin", data={"account": account, "code": code, "csrf": token})
    assert r.status_code == 303, r.text
    return client


def upload(client: TestClient, topic: str, source: bytes, name: str | None = None) -> int:
    """Upload through the web form; return the submission id it redirects to."""
    token = csrf_of(client, f"/a/{topic}")
    r = client.post(f"/a/{topic}/upload", data={"csrf": token},
                    files={"file": (name or f"{topic}.py", source, "text/x-python")})
    assert r.status_code == 303 and r.headers["location"].startswith("/s/"), (r.status_code, r.headers, r.text)
    return int(r.headers["location"].rsplit("/", 1)[1])


def wait_graded(client: TestClient, sub_id: int, timeout: float = 20.0) -> dict:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get(f"/api/s/{sub_id}").json()
        if state["state"] in ("graded", "failed"):
            return state
        time.sleep(0.05)
    raise AssertionError(f"submission {sub_id} not graded within {timeout} s: {state}")
