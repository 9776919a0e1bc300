"""Similarity in a course: settings from deepgrade.toml's [similarity] table and the class
report's section (one comparison per assignment, pages under reports/similarity/<topic>/)."""

from __future__ import annotations

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


def report_section(course: Any, report_file: Path) -> dict:
    """What the class report shows per assignment: flagged pairs, groups, a link to the pages.

    Compares the current submissions (seconds per assignment) and writes each assignment's
    pages under <course>/reports/similarity/<topic>/, so the links always match the table.
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
        report = compare_folder(topic, folder, references=refs, settings=settings, include_solution=solution)
        out = course.root / "reports" / "similarity" / topic
        index = write_report(report, out, title=assignment.title)
        link = os.path.relpath(index, report_file.parent)
        pages = {p.slug: os.path.relpath(out / "pairs" / f"{p.slug}.html", report_file.parent)
                 for p in report.flagged if (out / "pairs" / f"{p.slug}.html").exists()}
        topics.append({"topic": topic, "title": assignment.title, "report": report, "link": link, "pages": pages})
    return {"error": "", "topics": topics, "settings": settings}
