"""Shared helpers for the quiz tests (a plain module: conftest.py files are git-ignored here)."""

from __future__ import annotations

import textwrap
from functools import lru_cache
from pathlib import Path

from quizzes.assemble import BuiltQuiz, assemble
from quizzes.demo import SAMPLE_ROSTER, SAMPLE_SPEC

# One question of each type, with GIFT's special characters and LaTeX braces in the text.
TINY_BANK = textwrap.dedent("""\
    topic: tiny
    title: "Tiny bank: one of each"
    questions:
      - id: tiny-single
        type: single
        difficulty: easy
        stem: "Which is right? Note: a = b {really} ~ maybe #1, and \\\\frac{a}{b}."
        choices:
          - text: "right {1}"
            correct: true
          - text: "wrong: a=b"
            feedback: "misconception #1: confused ~ with ="
          - text: wrong two
            feedback: second misconception
        explanation: 'Because {it is}: see \\frac{a}{b}.'
      - id: tiny-multiple
        type: multiple
        stem: Pick the even numbers.
        choices:
          - {text: "2", correct: true, feedback: "2 is even"}
          - {text: "4", correct: true, feedback: "4 is even"}
          - {text: "3", feedback: "3 is odd"}
          - {text: "5", feedback: "5 is odd"}
        explanation: 2 and 4 are even.
      - id: tiny-tf
        type: truefalse
        stem: ReLU's derivative is 1 for positive inputs.
        answer: true
        feedback: It is 1 for z > 0.
        explanation: ReLU'(z) = 1 for z > 0.
      - id: tiny-numeric
        type: numeric
        params:
          n: {int: [2, 5]}
        stem: "What is 0.25 ** {{ n }}?"
        answer: 0.25 ** n
        tolerance: {rel: 0.02}
        misconceptions:
          - value: 0.25 * n
            feedback: multiplied instead of powered
        explanation: "0.25^{{ n }} = {{ answer | num }}"
    """)


def write(path: Path, text: str) -> Path:
    """Write text to path (parents created) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def tiny_spec(tmp_path: Path, shuffle: bool = True, seed: int = 7) -> Path:
    """A spec over TINY_BANK, written into tmp_path."""
    bank = write(tmp_path / "bank" / "tiny.yaml", TINY_BANK)
    return write(tmp_path / "tiny_spec.yaml", textwrap.dedent(f"""\
        title: "Tiny quiz: {{braces}} & colons"
        instructions: Answer everything.
        seed: {seed}
        shuffle_questions: {str(shuffle).lower()}
        shuffle_choices: {str(shuffle).lower()}
        bank: [{bank.parent.name}/{bank.name}]
        draw:
          - {{ids: [tiny-single, tiny-multiple, tiny-tf, tiny-numeric]}}
        """))


@lru_cache(maxsize=1)
def sample_quiz() -> BuiltQuiz:
    """The demo's sample quiz for the sample roster (assembled once per test session)."""
    return assemble(SAMPLE_SPEC, roster=SAMPLE_ROSTER)


def responses_csv(path: Path, header_n: int, rows: list[list[str]]) -> Path:
    """Write a responses CSV with a student_id,q1..qN header."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["student_id", *(f"q{k}" for k in range(1, header_n + 1))])
        w.writerows(rows)
    return path
