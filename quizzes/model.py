"""The quiz data model: questions as written in the bank, and variants as rendered for one student.

Bank side (templates and expressions, not yet evaluated): ParamSpec, ChoiceSpec, Misconception,
Tolerance, Question. Student side (plain text and numbers): Choice, Variant, Item, StudentQuiz.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

QUESTION_TYPES = ("single", "multiple", "truefalse", "numeric", "ordering", "matching")
CHOICE_TYPES = ("single", "multiple", "truefalse")  # one or more options marked by letter
DIFFICULTIES = ("easy", "medium", "hard")
PARAM_KINDS = ("choice", "int", "float", "logfloat", "ints", "floats", "logfloats")
LETTERS = "ABCDEFGHIJ"


@dataclass(frozen=True)
class ParamSpec:
    """A parameter drawn per variant: from a list (choice), an integer or float range, or a vector of them."""

    name: str
    kind: str
    values: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    step: int = 1
    size: tuple[int, int] | None = None  # vector kinds: length drawn from [lo, hi]
    digits: int | None = None  # floats: round to this many decimals
    sig: int | None = None  # floats: round to this many significant digits


@dataclass(frozen=True)
class ChoiceSpec:
    """One option as written: text template, correctness (bool or expression), feedback template.

    value, when given, is an expression for the option's number; lint then compares options
    numerically (within the question's tolerance) instead of by their text. output, on a question
    with code, is the printed value the option claims: it is correct when it equals what the code
    printed (compared numerically, never by NumPy's repr).
    """

    text: str
    correct: bool | str
    feedback: str = ""
    value: str | None = None
    output: str | None = None  # code-output questions: the printed value this option claims (an expression)


@dataclass(frozen=True)
class Misconception:
    """A wrong numeric answer a student reaches through a named mistake, with feedback naming it."""

    value: str
    feedback: str


@dataclass(frozen=True)
class Tolerance:
    """Absolute (|x - a| <= value) or relative (|x - a| <= value * |a|) tolerance."""

    kind: str
    value: float

    def absolute(self, answer: float) -> float:
        """The absolute tolerance this gives for a given answer (GIFT and Moodle take only absolute)."""
        return self.value if self.kind == "abs" else self.value * abs(answer)

    def accepts(self, answer: float, given: float) -> bool:
        """Whether given is within tolerance of answer (a tiny slack absorbs float rounding)."""
        if not math.isfinite(given):
            return False
        return abs(given - answer) <= self.absolute(answer) * (1 + 1e-9) + 1e-15


@dataclass(frozen=True, eq=False)
class Question:
    """A bank question: everything is a template or expression until a variant renders it.

    Compared and hashed by identity (eq=False): it keys the render cache, and hashing every
    field on each lookup would cost more than rendering.
    """

    id: str
    topic: str
    type: str
    difficulty: str
    points: float
    stem: str
    explanation: str
    choices: tuple[ChoiceSpec, ...] = ()
    answer: str | float | None = None  # numeric: the answer expression
    tolerance: Tolerance | None = None
    misconceptions: tuple[Misconception, ...] = ()
    params: tuple[ParamSpec, ...] = ()
    let: tuple[tuple[str, str], ...] = ()  # derived values, evaluated in order
    where: tuple[str, ...] = ()  # constraints a draw must satisfy
    shuffle: bool = True
    tags: tuple[str, ...] = ()
    file: str = ""
    line: int = 0
    field_lines: dict[str, int] = field(default_factory=dict)
    precision: tuple[str, int] | None = None  # numeric: ("sig", 3) or ("decimals", 2), stated in the stem
    thresholds: tuple[tuple[str, str, float], ...] = ()  # (label, "<" or ">", value) the question is about
    source: str = ""  # authoring provenance: seed file and section, or the reference solution
    code: str = ""  # code-output questions: a NumPy snippet template, run at build time (quizzes/codeoutput.py)
    prompts: tuple[str, ...] = ()  # matching: the left-hand prompts; prompt i's answer is choices[matches[i]]
    matches: tuple[int, ...] = ()

    @property
    def kind(self) -> str:
        """The item type as counted in reports: the type, or 'code-output' for a question with code."""
        return "code-output" if self.code else self.type

    @property
    def parameterized(self) -> bool:
        """True when the question draws parameters, so variants differ in content, not only order."""
        return bool(self.params)

    def line_of(self, key: str) -> int:
        """The bank line of one of this question's fields (or of the question)."""
        return self.field_lines.get(key, self.line)


@dataclass(frozen=True)
class Choice:
    """One rendered option."""

    text: str
    correct: bool
    feedback: str
    value: float | None = None


@dataclass(frozen=True)
class Variant:
    """A question rendered for one parameter draw; choices in the bank's (canonical) order."""

    qid: str
    vid: str  # stable content id: question id + parameter values
    topic: str
    type: str
    difficulty: str
    points: float
    stem: str
    explanation: str
    choices: tuple[Choice, ...] = ()
    answer: float | None = None
    tolerance: Tolerance | None = None
    misconceptions: tuple[tuple[float, str], ...] = ()
    params: tuple[tuple[str, Any], ...] = ()
    shuffle: bool = True
    prompts: tuple[str, ...] = ()  # matching: prompt i's answer is choices[matches[i]]
    matches: tuple[int, ...] = ()
    code: str = ""  # code-output: the snippet as run (also shown in the stem)

    @property
    def abs_tol(self) -> float | None:
        """The absolute tolerance of a numeric variant."""
        if self.tolerance is None or self.answer is None:
            return None
        return self.tolerance.absolute(self.answer)

    def correct_indices(self) -> tuple[int, ...]:
        """Canonical indices of the correct options."""
        return tuple(i for i, c in enumerate(self.choices) if c.correct)


@dataclass(frozen=True)
class Item:
    """A variant at one position of one student's quiz, with its options in presented order.

    order[k] is the canonical index of the option shown with letter LETTERS[k]. For ordering
    questions the canonical order is the right order; for matching ones the options are the
    answers the numbered prompts are matched to.
    """

    position: int
    variant: Variant
    order: tuple[int, ...] = ()
    points: float = 1.0

    def presented(self) -> list[Choice]:
        """The options in the order the student sees them."""
        return [self.variant.choices[i] for i in self.order]

    def correct_letters(self) -> str:
        """The correct letters as the student sees them: 'B' or 'A,C'; ordering 'C,A,B' (the items in
        their right order); matching '1B,2A,3C' (each prompt's answer)."""
        shown_at = {i: k for k, i in enumerate(self.order)}
        if self.variant.type == "ordering":
            return ",".join(LETTERS[shown_at[i]] for i in range(len(self.variant.choices)))
        if self.variant.type == "matching":
            return ",".join(f"{n}{LETTERS[shown_at[i]]}" for n, i in enumerate(self.variant.matches, start=1))
        return ",".join(LETTERS[k] for k, i in enumerate(self.order) if self.variant.choices[i].correct)


@dataclass(frozen=True)
class StudentQuiz:
    """One student's quiz: their items in presented order and a short code printed on the paper."""

    student_id: str
    name: str
    code: str
    items: tuple[Item, ...]

    @property
    def total_points(self) -> float:
        """Points available on this quiz."""
        return sum(item.points for item in self.items)
