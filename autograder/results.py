"""The result model and its writers (Gradescope results.json, grades.csv, JSON summary).

Everything downstream (gradebook, feedback, reports, LMS exports) reads these objects or
the files written from them; nothing downstream re-runs or re-judges a submission.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")

# Student-derived text (messages, printed output) is capped wherever a result is made, so
# results.json, the gradebook and every page stay small whatever a submission raises or prints.
MAX_CHECK_TEXT = 8 * 1024  # characters of one check's output
MAX_NOTES_TEXT = 16 * 1024  # characters of the result's own notes
MAX_RESULT_TEXT = 64 * 1024  # characters of notes and check outputs together
TRUNCATED = "\n... (truncated)"


def cap_text(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in a visible "(truncated)"."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(TRUNCATED))] + TRUNCATED


@dataclass
class CheckResult:
    """One grader check for one submission."""

    check_id: str  # test function name without "test_", stable across runs
    name: str  # human name (first docstring line)
    topic: str
    score: float
    max_score: float
    status: str  # "passed" or "failed"
    output: str = ""  # the teaching message when failed
    visibility: str = "visible"

    def __post_init__(self) -> None:
        self.output = cap_text(self.output, MAX_CHECK_TEXT)

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class SubmissionResult:
    """All checks of one topic for one student."""

    student_id: str
    topic: str
    checks: list[CheckResult] = field(default_factory=list)
    execution_time: float = 0.0
    output: str = ""  # notes for the student: sandbox mode, import errors, printed output
    engine_version: str = ""
    grader_version: str = ""

    def __post_init__(self) -> None:
        # Per check, then per result: the notes first, then checks in order share what is left.
        # Each check keeps room for a "(truncated)" of its own, so the total stays in bounds.
        self.output = cap_text(self.output, MAX_NOTES_TEXT)
        reserve = len(TRUNCATED)
        room = MAX_RESULT_TEXT - len(self.output) - reserve * len(self.checks)
        for c in self.checks:
            c.output = cap_text(c.output, max(room, 0) + reserve)
            room -= len(c.output) - reserve

    @property
    def score(self) -> float:
        return round(sum(c.score for c in self.checks), 6)

    @property
    def max_score(self) -> float:
        return round(sum(c.max_score for c in self.checks), 6)

    def check(self, check_id: str) -> CheckResult:
        """The check with this id (KeyError names the ids that exist)."""
        for c in self.checks:
            if c.check_id == check_id:
                return c
        raise KeyError(f"no check {check_id!r}; have {[c.check_id for c in self.checks]}")

    def failures_text(self) -> str:
        """Every failed check with its message, for assertion messages and terminals."""
        lines = [f"{c.check_id} ({c.score:g}/{c.max_score:g}): {c.output}" for c in self.checks if not c.passed]
        return "\n".join(lines) or "no failures"

    # ------------------------------------------------------------------ formats
    def to_gradescope(self) -> dict:
        """Gradescope autograder results.json (score, execution_time, output, tests)."""
        return {
            "score": self.score,
            "execution_time": round(self.execution_time, 3),
            "output": self.output,
            "stdout_visibility": "hidden",
            "tests": [
                {
                    "name": c.name,
                    "number": c.check_id,
                    "score": c.score,
                    "max_score": c.max_score,
                    "status": c.status,
                    "output": c.output,
                    "visibility": c.visibility,
                    "tags": [c.topic],
                }
                for c in self.checks
            ],
            "extra_data": {
                "student_id": self.student_id,
                "topic": self.topic,
                "engine_version": self.engine_version,
                "grader_version": self.grader_version,
            },
        }

    def to_dict(self) -> dict:
        data = asdict(self)
        data["score"], data["max_score"] = self.score, self.max_score
        return data

    @classmethod
    def from_dict(cls, data: dict) -> SubmissionResult:
        checks = [CheckResult(**c) for c in data.get("checks", [])]
        keep = {k: data[k] for k in ("student_id", "topic", "execution_time", "output", "engine_version",
                                      "grader_version") if k in data}
        return cls(checks=checks, **keep)


def atomic_write(path: Path, text: str) -> None:
    """Write a file so that readers see either the old or the complete new content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # UTF-8 whatever the locale; a stray surrogate becomes \udcff text instead of a crash.
        with os.fdopen(fd, "w", newline="", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_results_json(result: SubmissionResult, path: Path) -> None:
    """One student's Gradescope results.json."""
    atomic_write(path, json.dumps(result.to_gradescope(), indent=2) + "\n")


def grades_table(results: Iterable[SubmissionResult]) -> tuple[list[str], list[list]]:
    """Header and rows for grades.csv: student_id, score, max_score, then one column per check."""
    results = list(results)
    check_ids: list[str] = []
    for r in results:
        for c in r.checks:
            if c.check_id not in check_ids:
                check_ids.append(c.check_id)
    header = ["student_id", "score", "max_score", *check_ids]
    rows = []
    for r in sorted(results, key=lambda r: r.student_id):
        by_id = {c.check_id: c.score for c in r.checks}
        rows.append([r.student_id, _num(r.score), _num(r.max_score), *(_num(by_id.get(i, 0)) for i in check_ids)])
    return header, rows


def write_grades_csv(results: Iterable[SubmissionResult], path: Path) -> None:
    """grades.csv for one topic."""
    header, rows = grades_table(results)
    atomic_write(path, csv_text(header, rows))


# Spreadsheets run a cell that starts with one of these as a formula (OWASP: CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A CSV cell that no spreadsheet runs: text starting with = + - @ tab or CR gets a leading '.

    Numbers are never touched (a negative score stays a number, written as text or not);
    only text cells are.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        try:
            float(value)
            return value  # "-2.5" is a number, not a formula
        except ValueError:
            return "'" + value
    return value


def csv_text(header: list, rows: Iterable[list], lineterminator: str = "\r\n") -> str:
    """CSV with every text cell neutralized (``csv_cell``): the one way deepgrade writes CSV."""
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=lineterminator)
    writer.writerow([csv_cell(v) for v in header])
    writer.writerows([csv_cell(v) for v in row] for row in rows)
    return buf.getvalue()


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else round(x, 4)
