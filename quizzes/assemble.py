"""Assembling a quiz: spec + students → every student's rendered quiz, ready for the exporters."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import QuizError
from .exports.text import lms_variants
from .model import Question, StudentQuiz, Variant
from .spec import (
    QuizSpec,
    Student,
    anonymous_students,
    load_roster,
    load_spec,
    select_questions,
    spec_bank,
    student_quiz,
)


@dataclass(frozen=True)
class BuiltQuiz:
    """A spec's questions and every student's quiz (what all export formats are written from)."""

    spec: QuizSpec
    questions: tuple[tuple[Question, float], ...]
    students: tuple[StudentQuiz, ...]

    @property
    def total_points(self) -> float:
        """Points available on the quiz."""
        return sum(points for _, points in self.questions)

    def variants_by_question(self) -> dict[str, list[Variant]]:
        """Distinct content variants per question, in spec order (for the LMS exports)."""
        found = lms_variants(item.variant for s in self.students for item in s.items)
        return {q.id: found[q.id] for q, _ in self.questions}

    def points_of(self, qid: str) -> float:
        """Points of a question in this quiz (the spec may override the bank's)."""
        return next(points for q, points in self.questions if q.id == qid)


def assemble(spec: QuizSpec | str | Path, roster: str | Path | None = None,
             variants: int | None = None) -> BuiltQuiz:
    """Render one quiz per roster student, or `variants` anonymous ones when there is no roster."""
    if not isinstance(spec, QuizSpec):
        spec = load_spec(spec)
    if roster is not None:
        students: list[Student] = load_roster(roster)
    elif variants is not None:
        students = anonymous_students(variants)
    else:
        raise QuizError("give a roster (--roster roster.csv) or a number of anonymous variants (--variants N)")
    questions = select_questions(spec, spec_bank(spec))
    quizzes = tuple(student_quiz(spec, questions, s) for s in students)
    return BuiltQuiz(spec, tuple(questions), quizzes)
