"""Simulated responses, for the demo, the benchmark and tests: a plausible class answering a quiz.

Each student gets an ability θ ~ N(0, 1); they answer a question right with probability
sigmoid(1.7 (θ − b)) with b = −1, 0, 1 for easy, medium and hard questions. A wrong answer is
what a student with a misconception would give: a distractor, a misconception's value, or (less
often) some other wrong number; now and then a cell is left blank.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from .assemble import BuiltQuiz
from .model import LETTERS, Item
from .params import rng_for
from .render import fmt_num

DIFFICULTY_B = {"easy": -1.0, "medium": 0.0, "hard": 1.0}


def _cell(item: Item, right: bool, rng) -> str:
    v = item.variant
    if rng.random() < 0.03:
        return ""
    if v.type == "numeric":
        assert v.answer is not None
        if right:
            return fmt_num(v.answer * (1 + rng.uniform(-0.2, 0.2) * (v.abs_tol or 0) / max(abs(v.answer), 1e-300)))
        if v.misconceptions and rng.random() < 0.75:
            return fmt_num(v.misconceptions[int(rng.integers(len(v.misconceptions)))][0])
        return fmt_num(v.answer * rng.choice([0.5, 2.0, 10.0, -1.0]) + 1.0)
    if v.type in ("ordering", "matching"):
        return _arranged_cell(item, right, rng)
    shown_correct = [k for k, i in enumerate(item.order) if v.choices[i].correct]
    shown_wrong = [k for k, i in enumerate(item.order) if not v.choices[i].correct]
    if v.type == "multiple":
        marked = set(shown_correct)
        if not right:
            if len(marked) > 1 and rng.random() < 0.6:
                marked.discard(shown_correct[int(rng.integers(len(shown_correct)))])
            if rng.random() < 0.7:
                marked.add(shown_wrong[int(rng.integers(len(shown_wrong)))])
        return ",".join(LETTERS[k] for k in sorted(marked))
    if right:
        return LETTERS[shown_correct[0]]
    # Earlier distractors in the bank tend to be the more common misconceptions.
    weights = [1.0 / (1 + n) for n in range(len(shown_wrong))]
    canon = sorted(shown_wrong, key=lambda k: item.order[k])
    pick = rng.choice(len(canon), p=[w / sum(weights) for w in weights])
    return LETTERS[canon[int(pick)]]


def _arranged_cell(item: Item, right: bool, rng) -> str:
    """An ordering answer (letters in the student's order) or a matching one (a letter per prompt).

    A wrong answer swaps two neighbouring steps, or two prompts' answers (or, when the question
    has distractors, puts a distractor on one prompt): the mistakes students make.
    """
    v = item.variant
    shown_at = {i: k for k, i in enumerate(item.order)}
    if v.type == "ordering":
        letters = [LETTERS[shown_at[i]] for i in range(len(v.choices))]
    else:
        letters = [LETTERS[shown_at[i]] for i in v.matches]
    if not right:
        distractors = [LETTERS[shown_at[i]] for i in range(len(v.choices)) if i not in v.matches]
        if v.type == "matching" and distractors and rng.random() < 0.4:
            letters[int(rng.integers(len(letters)))] = distractors[int(rng.integers(len(distractors)))]
        else:
            k = int(rng.integers(len(letters) - 1))
            letters[k], letters[k + 1] = letters[k + 1], letters[k]
    return ",".join(letters)


def simulate_responses(quiz: BuiltQuiz, seed: int | str = 0) -> list[list[str]]:
    """Rows (header first) of a responses CSV for every student of the quiz."""
    n = len(quiz.questions)
    rows = [["student_id", *(f"q{k}" for k in range(1, n + 1))]]
    for s in quiz.students:
        rng = rng_for("simulate", seed, s.student_id)
        theta = float(rng.normal())
        row = [s.student_id]
        for item in s.items:
            b = DIFFICULTY_B.get(item.variant.difficulty, 0.0)
            p = 1 / (1 + math.exp(-1.7 * (theta - b)))
            row.append(_cell(item, bool(rng.random() < p), rng))
        rows.append(row)
    return rows


def write_responses(quiz: BuiltQuiz, path: str | Path, seed: int | str = 0) -> Path:
    """Write simulated responses to a CSV file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(simulate_responses(quiz, seed))
    return path
