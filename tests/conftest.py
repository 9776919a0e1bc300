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
