"""Similarity in a course: settings from deepgrade.toml's [similarity] table and the class
report's section (one comparison per assignment, pages under reports/similarity/<topic>/)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from autograder.similarity.detect import INSTALL_HINT, Settings


def course_settings(course: Any) -> tuple[Settings, list[Path], bool]:
    """(settings, reference folders, compare with the solution?) from the course's [similarity]."""
    table = dict(getattr(course, "similarity", {}) or {})
    refs = list(table.pop("references", []))
    solution = bool(table.pop("solution", False))
    return replace(Settings(), **table).check(), refs, solution


def inputs_digest(topic: str, folders: list[Path], settings: Settings, solution: bool) -> str:
    """A digest of everything a comparison reads: each file's path, size and modification time
    in the submission and reference folders, the starter code, the settings and the version."""
    from autograder import __version__
    from autograder.similarity.detect import starter_code

    h = hashlib.sha256(f"{__version__}|{topic}|{settings}|{solution}|{starter_code(topic)}".encode())
    for folder in folders:
        h.update(f"\0{folder}".encode())
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                try:
                    st = os.stat(os.path.join(root, name), follow_symlinks=False)
                except OSError:
                    continue
                h.update(f"\0{os.path.relpath(os.path.join(root, name), folder)}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()


def report_section(course: Any, report_file: Path) -> dict:
    """What the class report shows per assignment: flagged pairs, groups, a link to the pages.

    Each assignment's comparison lives in <course>/reports/similarity/<topic>/ (what
    `deepgrade similarity` writes); it is redone only when a submission, a reference or a
    setting changed since, so a report on an unchanged course costs no comparison.
    """
    from autograder.similarity.detect import compare_folder
    from autograder.similarity.pages import write_report

    try:
        import copydetect  # noqa: F401  (an optional extra)
    except ImportError:
        return {"error": INSTALL_HINT, "topics": []}
    settings, refs, solution = course_settings(course)
    topics = []
    for topic, assignment in course.assignments.items():
        folder = course.submissions_dir / topic
        if not folder.is_dir():
            continue
        out = course.root / "reports" / "similarity" / topic
        digest = inputs_digest(topic, [folder, *refs], settings, solution)
        data = _read_json(out / "similarity.json")
        if data.get("inputs") != digest or not (out / "index.html").is_file():
            report = compare_folder(topic, folder, references=refs, settings=settings, include_solution=solution)
            write_report(report, out, title=assignment.title, inputs=digest)
            data = _read_json(out / "similarity.json")
        flagged = [dict(p, similarity=max(p["similarity_a"], p["similarity_b"]),
                        link=os.path.relpath(out / p["page"], report_file.parent) if p.get("page") else "")
                   for p in data.get("pairs", []) if p.get("flagged")]
        topics.append({"topic": topic, "title": assignment.title, "students": data.get("students", 0),
                       "flagged": flagged, "clusters": data.get("clusters", []),
                       "link": os.path.relpath(out / "index.html", report_file.parent)})
    return {"error": "", "topics": topics, "settings": settings}


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
