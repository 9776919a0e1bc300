"""Markdown export: the same quiz pages and answer key as the HTML export, in Markdown."""

from __future__ import annotations

from pathlib import Path

from ..assemble import BuiltQuiz
from ..templating import render
from .common import answer_text, safe_name


def write_markdown(quiz: BuiltQuiz, dest: Path) -> list[Path]:
    """Write md/all_students.md, md/students/<id>.md and md/answer_key.md."""
    (dest / "students").mkdir(parents=True, exist_ok=True)
    written, pages = [], []
    for s in quiz.students:
        page = render("quiz.md.j2", spec=quiz.spec, students=[s])
        pages.append(page)
        path = dest / "students" / f"{safe_name(s.student_id)}.md"
        path.write_text(page, encoding="utf-8")
        written.append(path)
    combined = dest / "all_students.md"
    combined.write_text("\n---\n\n".join(pages), encoding="utf-8")
    key = dest / "answer_key.md"
    key.write_text(render("answer_key.md.j2", spec=quiz.spec, students=quiz.students, answer_text=answer_text),
                   encoding="utf-8")
    return [combined, key, *written]
