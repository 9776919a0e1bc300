"""Shared fixtures for deepgrade's own tests."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
SAMPLES = ROOT / "autograder" / "samples" / "class"


def reference_source(topic: str) -> str:
    """The reference solution's source text for `topic`."""
    return (SOLUTIONS / f"{topic}.py").read_text()


def write_submission(tmp_path: Path, topic: str, source: str, student: str = "student") -> Path:
    """Write `source` as `<tmp_path>/<student>/<topic>.py` and return the file path."""
    folder = tmp_path / student
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{topic}.py"
    path.write_text(source)
    return path


def make_variant(tmp_path: Path, topic: str, replace: dict[str, str], student: str = "variant") -> Path:
    """A realistic wrong (or alternative) submission: the reference with exact text replaced.

    Each key must occur exactly once in the reference, so a variant cannot silently stop
    exercising the bug it was written for when the reference changes.
    """
    source = reference_source(topic)
    for old, new in replace.items():
        count = source.count(old)
        if count != 1:
            raise AssertionError(f"variant text occurs {count} times in solutions/{topic}.py: {old!r}")
        source = source.replace(old, new)
    return write_submission(tmp_path, topic, source, student)


@pytest.fixture
def variant(tmp_path: Path):
    """`variant(topic, {old: new})` -> path of a modified reference submission."""

    def _make(topic: str, replace: dict[str, str], student: str = "variant") -> Path:
        return make_variant(tmp_path, topic, replace, student)

    return _make


def grade_all(topic: str, submissions: dict, *, workers: int = 2, call_timeout: float = 2.0) -> dict:
    """Grade named submissions of one topic in one grading run: name -> SubmissionResult.

    A value is the topic file's source (str or bytes) or a whole folder ({file name: bytes}).
    One run means one pytest start-up for every variant, alternative and sample of a test file.
    """
    from autograder.grading import Job, grade_jobs

    jobs = []
    for name, value in submissions.items():
        if isinstance(value, dict):
            files = value
        else:
            files = {f"{topic}.py": value.encode() if isinstance(value, str) else value}
        jobs.append(Job(name, topic, files))
    return {r.student_id: r for r in grade_jobs(jobs, workers=workers, call_timeout=call_timeout)}


def failed(result, check_id: str, *keywords: str) -> None:
    """The check failed, and its message says each keyword (case-insensitive)."""
    check = result.check(check_id)
    assert check.status == "failed" and check.score == 0, result.failures_text()
    for word in keywords:
        assert word.lower() in check.output.lower(), check.output
