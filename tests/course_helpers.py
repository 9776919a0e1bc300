"""Builders for the course tests: small course folders, submissions, and a fake grader.

Real grading costs ~0.1-0.3 s per (student, topic); tests that are about bookkeeping
(late days, exports, visibility) use ``fake_grader`` instead, which returns results
shaped exactly like the engine's, instantly.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from autograder.gradebook import load_course, scaffold_course
from autograder.grading import grader_version
from autograder.results import CheckResult, SubmissionResult
from tests.conftest import SAMPLES, SOLUTIONS

SECRET_HIDDEN = "SECRET-HIDDEN-MESSAGE"
SECRET_LATER = "SECRET-AFTER-DUE-MESSAGE"


def make_course(root: Path, students: list[str], topics: list[str], *, toml_extra: str = "",
                due: dict[str, str] | None = None, late: str = "") -> Path:
    """A course folder with these students on the roster; due dates replaced by ``due``."""
    scaffold_course(root, name="Test course", topics=topics,
                    roster=[(s, f"{s.title()} Tester", f"{s}@example.edu") for s in students])
    toml = root / "deepgrade.toml"
    text = toml.read_text()
    lines = []
    current = None
    for line in text.splitlines():
        if line.startswith("[assignments."):
            current = line.strip()[len("[assignments."):-1]
        if line.startswith("due = ") and due and current in due:
            line = f'due = "{due[current]}"'
        lines.append(line)
    text = "\n".join(lines) + "\n"
    if late:
        start = text.index("[late]")
        end = text.index("\n\n", start)
        text = text[:start] + "[late]\n" + late.strip() + text[end:]
    toml.write_text(text + toml_extra)
    load_course(root)
    return root


def submit(root: Path, topic: str, student: str, source: str | None = None, *, sample: str | None = None) -> Path:
    """Put a submission in submissions/<topic>/<student>/: ``source``, a sample student's file, or the reference."""
    folder = root / "submissions" / topic / student
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{topic}.py"
    if source is not None:
        path.write_text(source)
    elif sample is not None:
        shutil.copy(SAMPLES / sample / f"{topic}.py", path)
    else:
        shutil.copy(SOLUTIONS / f"{topic}.py", path)
    return path


def fake_checks(topic: str, good: bool) -> list[CheckResult]:
    """One check of each visibility: visible passing, visible failing unless good, hidden, after_due_date."""
    def check(cid: str, name: str, pts: float, ok: bool, msg: str, vis: str) -> CheckResult:
        return CheckResult(cid, name, topic, pts if ok else 0.0, pts, "passed" if ok else "failed",
                           "" if ok else msg, vis)

    return [
        check("forward_values", "visible check that passes", 40, True, "", "visible"),
        check("backward_dx", "visible check with a message", 30, good,
              "dx is wrong.\nLooks like you forgot the skip path's gradient.", "visible"),
        check("hidden_edge_case", "the hidden edge case", 20, good, SECRET_HIDDEN, "hidden"),
        check("after_due_inputs", "inputs not mutated (after due)", 10, good, SECRET_LATER, "after_due_date"),
    ]


def fake_grader(calls: list | None = None, good: set[str] | None = None):
    """A drop-in for ``grade_jobs``: instant results; ``good`` students pass everything."""
    def grade(jobs, *, workers=None, call_timeout=None, hide=(), on_result=None):
        out = []
        for job in jobs:
            ok = good is None or job.student_id in good
            r = SubmissionResult(job.student_id, job.topic, fake_checks(job.topic, ok), 0.01, "sandbox: fake",
                                 "0.1.0", grader_version(job.topic))
            if calls is not None:
                calls.append((job.student_id, job.topic))
            if on_result:
                on_result(r)
            out.append(r)
        return out

    return grade
