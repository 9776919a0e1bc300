"""Rules the LMS formats impose: Moodle's allowed fractions, absolute tolerances, Canvas's rounding."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from ..errors import QuizError
from ..model import Variant

if TYPE_CHECKING:  # assemble imports the exporters' text helpers; avoid the cycle at run time
    from ..assemble import BuiltQuiz

# Moodle accepts only these answer grades (and their negatives), in percent.
MOODLE_FRACTIONS = (100, 90, 83.33333, 80, 75, 70, 66.66667, 60, 50, 40, 33.33333, 30, 25, 20, 16.66667,
                    14.28571, 12.5, 11.11111, 10, 5, 0)

# Canvas stores numeric answers with 4 decimals: anything below 1e-4 becomes 0.
CANVAS_MIN = 1e-4


def category_path(title: str, topic: str, qid: str) -> str:
    """The Moodle category holding one question's variants: $course$/top/deepgrade/<quiz>/<topic>/<id>.

    The quiz title is reduced to letters, digits, spaces and -_. so no format's syntax can trip on it.
    """
    clean = " ".join(re.sub(r"[^\w\s.-]", " ", title).split()) or "quiz"
    return f"$course$/top/deepgrade/{clean}/{topic}/{qid}"


def snap_fraction(percent: float) -> float:
    """The allowed Moodle grade nearest to percent (sign kept): 100/3 → 33.33333."""
    nearest = min(MOODLE_FRACTIONS, key=lambda f: abs(f - abs(percent)))
    return -nearest if percent < 0 and nearest else float(nearest)


def fraction_text(percent: float) -> str:
    """A Moodle fraction as written in XML/GIFT: 100, 33.33333, -50."""
    return f"{snap_fraction(percent):.5f}".rstrip("0").rstrip(".")


def multiple_answer_fractions(v: Variant) -> list[float]:
    """Right-minus-wrong weights per option (canonical order), snapped to Moodle's values.

    Each correct option is worth +100/k (k correct options), each wrong one −100/w (w wrong ones),
    the same rule the grader uses; Moodle floors a question's total at 0 like we do.
    """
    k = sum(c.correct for c in v.choices)
    w = len(v.choices) - k
    return [snap_fraction(100 / k) if c.correct else snap_fraction(-100 / w) for c in v.choices]


def absolute_tolerance(v: Variant) -> float:
    """GIFT and Moodle take only absolute tolerance: a relative one becomes absolute per variant."""
    assert v.answer is not None and v.tolerance is not None
    return v.tolerance.absolute(v.answer)


def canvas_scale(v: Variant) -> int:
    """The power of ten k so that answer × 10^k and its tolerance survive Canvas's 4-decimal rounding.

    0 when no scaling is needed; a QuizError when no reasonable scaling exists.
    """
    assert v.answer is not None
    tol = absolute_tolerance(v)
    k = 0
    while (tol * 10**k < CANVAS_MIN or (v.answer != 0 and abs(v.answer) * 10**k < CANVAS_MIN * 10)) and k <= 15:
        k += 1
    if k > 15 or not math.isfinite(v.answer * 10**k):
        raise QuizError(f"answer {v.answer:g} (±{tol:g}) cannot be entered in Canvas, which rounds numbers "
                        "below 1e-4 to 0; give the question an absolute tolerance or rescale its answer",
                        qid=v.qid)
    return k


# Formats that cannot hold a question type: the build writes them without those questions and
# warns (or, with --strict, refuses). GIFT and Canvas QTI 1.2 (Classic Quizzes) have no ordering.
FORMAT_NAMES = {"gift": "GIFT", "qti": "Canvas QTI 1.2", "moodle": "Moodle XML"}
UNSUPPORTED_TYPES = {"gift": {"ordering"}, "qti": {"ordering"}}


def unsupported(v: Variant, fmt: str) -> str | None:
    """Why format fmt cannot hold variant v (a phrase), or None when it can."""
    if v.type in UNSUPPORTED_TYPES.get(fmt, set()):
        return f"{FORMAT_NAMES[fmt]} has no {v.type} questions"
    if fmt == "gift" and v.type == "matching" and any("->" in t for t in (*v.prompts, *(c.text for c in v.choices))):
        return "GIFT matching cannot hold a '->' inside a prompt or answer"
    return None


def skipped_questions(quiz: BuiltQuiz, fmt: str) -> list[tuple[str, str]]:
    """(question id, reason) for each question of the quiz that format fmt leaves out."""
    out = []
    for qid, variants in quiz.variants_by_question().items():
        reason = next((r for r in (unsupported(v, fmt) for v in variants) if r), None)
        if reason:
            out.append((qid, reason))
    return out


def kept_variants(quiz: BuiltQuiz, fmt: str) -> dict[str, list[Variant]]:
    """The quiz's variants by question, without the questions format fmt cannot hold."""
    skipped = {qid for qid, _ in skipped_questions(quiz, fmt)}
    return {qid: vs for qid, vs in quiz.variants_by_question().items() if qid not in skipped}
