"""HTML export: one print-ready page per student, all pages in one printable file, and the answer key."""

from __future__ import annotations

from pathlib import Path

from markupsafe import Markup

from ..assemble import BuiltQuiz
from ..templating import render
from .common import answer_text, safe_name


def write_html(quiz: BuiltQuiz, dest: Path) -> list[Path]:
    """Write html/all_students.html, html/students/<id>.html and html/answer_key.html."""
    (dest / "students").mkdir(parents=True, exist_ok=True)
    written = []
    sheets = []
    for s in quiz.students:
        # Each sheet is rendered once and reused for the per-student page and the all-in-one file.
        sheet = Markup(render("_sheet.html.j2", spec=quiz.spec, s=s))
        sheets.append(sheet)
        path = dest / "students" / f"{safe_name(s.student_id)}.html"
        path.write_text(render("quiz.html.j2", title=f"{quiz.spec.title} · {s.student_id}", sheets=[sheet]),
                        encoding="utf-8")
        written.append(path)
    combined = dest / "all_students.html"
    combined.write_text(render("quiz.html.j2", title=quiz.spec.title, sheets=sheets), encoding="utf-8")
    key = dest / "answer_key.html"
    key.write_text(render("answer_key.html.j2", spec=quiz.spec, students=quiz.students, answer_text=answer_text),
                   encoding="utf-8")
    return [combined, key, *written]
