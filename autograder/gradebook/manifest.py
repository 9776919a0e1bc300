"""Submission times from a manifest, as LMS bulk downloads provide them.

A manifest is CSV or JSON next to the submissions (``submissions/<topic>/manifest.csv`` or
``.json``, or ``submissions/manifest.csv`` for every topic). CSV has a header with a
student column (student_id, id, student, sis_user_id or username), a time column
(submitted_at, submitted, submission_time, timestamp or time) and optionally a topic
column. JSON is a list of such objects, or ``{"<student_id>": "<time>"}``. Times are ISO
8601; without an offset they are in the course's time zone.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, tzinfo
from pathlib import Path

from autograder.gradebook.course import CourseError, parse_time

MANIFEST_NAMES = ("manifest.csv", "manifest.json")
_STUDENT_KEYS = ("student_id", "id", "student", "sis_user_id", "username")
_TIME_KEYS = ("submitted_at", "submitted", "submission_time", "timestamp", "time")

Times = dict[tuple[str, str | None], datetime]  # (student_id, topic or None for any) -> time


def read_manifest(path: Path, tz: tzinfo) -> Times:
    """(student_id, topic or None) -> submission time from a CSV or JSON manifest."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CourseError(f"cannot read the manifest {path}: {exc.strerror}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CourseError(f"{path}: not valid JSON: {exc}") from None
        if isinstance(data, dict):
            rows = [{"student_id": k, "submitted_at": v} for k, v in data.items()]
        elif isinstance(data, list) and all(isinstance(r, dict) for r in data):
            rows = data
        else:
            raise CourseError(f"{path}: expected a list of objects or {{\"student_id\": \"time\"}}")
        numbered = [(i + 1, {str(k).strip().lower(): v for k, v in r.items()}) for i, r in enumerate(rows)]
    else:
        reader = csv.DictReader(text.splitlines())
        numbered = [(line, {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()})
                    for line, row in enumerate(reader, start=2)]
    times: Times = {}
    for line, row in numbered:
        sid = next((str(row[k]).strip() for k in _STUDENT_KEYS if row.get(k)), "")
        when = next((row[k] for k in _TIME_KEYS if row.get(k)), None)
        if not sid and when is None:
            continue
        if not sid or when is None:
            raise CourseError(f"{path}:{line}: each row needs a student id ({'/'.join(_STUDENT_KEYS[:3])}) "
                              f"and a time ({'/'.join(_TIME_KEYS[:3])})")
        topic = str(row.get("topic") or "").strip() or None
        times[(sid, topic)] = parse_time(when, tz, f"{path}:{line}")
    return times


def manifest_times(submissions_dir: Path, topic: str, tz: tzinfo) -> tuple[Times, str]:
    """The times that apply to one topic's folder, and the manifest they came from ('' if none)."""
    for folder in (submissions_dir / topic, submissions_dir):
        for name in MANIFEST_NAMES:
            path = folder / name
            if path.is_file():
                return read_manifest(path, tz), str(path.relative_to(submissions_dir.parent))
    return {}, ""


def lookup(times: Times, student_id: str, topic: str) -> datetime | None:
    """A student's time for this topic: a row naming the topic wins over one that names none."""
    return times.get((student_id, topic), times.get((student_id, None)))
