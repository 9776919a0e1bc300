"""`deepgrade quiz check`: render every question for many seeds and check what students would see.

Per question, over LINT_SEEDS seeds: it renders; numeric answers are finite and the key's
displayed value is accepted by the tolerance; tolerances are sane; options and misconceptions
never equal the answer (within tolerance) nor each other; and the correct option's position is
spread evenly across variants. Across the bank: ids are unique (checked when loading) and
true/false answers are not lopsided.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .bank import Bank, load_bank
from .errors import QuizError
from .model import Question, Variant
from .render import fmt_num
from .variants import choice_order, collision, render_variant

LINT_SEEDS = 200


@dataclass
class LintReport:
    """What `quiz check` found: errors fail the check, warnings are advice."""

    bank: Bank
    errors: list[QuizError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when there is no error."""
        return not self.errors

    def summary(self) -> str:
        """A few lines for the terminal: counts per topic and the verdict."""
        qs = list(self.bank.questions.values())
        per_topic = Counter(q.topic for q in qs)
        lines = [f"{len(qs)} questions in {len(self.bank.files)} files, "
                 f"{sum(q.parameterized for q in qs)} parameterized, {LINT_SEEDS} seeds each"]
        lines += [f"  {topic:<16} {per_topic[topic]:>3}  {title}" for topic, title in self.bank.topics.items()]
        lines += [f"warning: {w}" for w in self.warnings]
        lines += [f"error: {e}" for e in self.errors]
        lines.append("OK" if self.ok else f"FAILED: {len(self.errors)} error(s)")
        return "\n".join(lines)


def check_bank(paths: Iterable[str | Path] | None = None, seeds: int = LINT_SEEDS) -> LintReport:
    """Load the bank (default: the package's) and lint every question; loading errors are raised."""
    bank = load_bank(list(paths) if paths else None)
    report = LintReport(bank)
    tf_answers: Counter[bool] = Counter()
    for q in bank.questions.values():
        try:
            tf_answers.update(lint_question(q, seeds))
        except QuizError as exc:
            report.errors.append(exc)
    total = sum(tf_answers.values())
    if total >= 4 and not 0.25 <= tf_answers[True] / total <= 0.75:
        report.warnings.append(f"true/false answers are lopsided: {tf_answers[True]} true, "
                               f"{tf_answers[False]} false over all variants")
    return report


def _err(q: Question, key: str, message: str, seed: int | None = None) -> QuizError:
    suffix = f" (seed {seed})" if seed is not None else ""
    return QuizError(message + suffix, file=q.file, line=q.line_of(key), qid=q.id)


def lint_question(q: Question, seeds: int = LINT_SEEDS) -> list[bool]:
    """Lint one question; raise QuizError on the first problem. Returns true/false answers seen."""
    positions: Counter[int] = Counter()
    n_choices = len(q.choices)
    tf_seen = []
    variants_seen = set()
    for seed in range(seeds):
        variant = render_variant(q, "lint", seed)
        if variant.vid in variants_seen:
            continue  # same parameters as an earlier seed: content checks already done
        variants_seen.add(variant.vid)
        if q.type == "numeric":
            _lint_numeric(q, variant, seed)
        else:
            _lint_choices(q, variant, seed)
            if q.type == "truefalse":
                tf_seen.append(variant.choices[0].correct)
    if n_choices >= 3:
        for seed in range(seeds):
            variant = render_variant(q, "lint", seed)
            order = choice_order(variant, True, "lint", seed)
            positions.update(k for k, i in enumerate(order) if variant.choices[i].correct)
        _lint_spread(q, positions, n_choices)
    if q.type == "truefalse" and not q.parameterized:
        return tf_seen[:1]
    return tf_seen


def _lint_numeric(q: Question, v: Variant, seed: int) -> None:
    tol = v.tolerance
    assert tol is not None and v.answer is not None
    answer, abs_tol = v.answer, v.abs_tol or 0.0
    if abs_tol <= 0:
        raise _err(q, "tolerance", f"tolerance is 0 for answer {answer:g}", seed)
    if answer != 0 and abs_tol >= abs(answer):
        raise _err(q, "tolerance", f"tolerance ±{abs_tol:g} is as large as the answer {answer:g}: 0 would pass",
                   seed)
    if answer != 0 and abs_tol < 1e-9 * abs(answer):
        raise _err(q, "tolerance", f"tolerance ±{abs_tol:g} is below float precision for {answer:g}", seed)
    shown = float(fmt_num(answer))
    if not tol.accepts(answer, shown):
        raise _err(q, "tolerance", f"the key shows {fmt_num(answer)} but the tolerance ±{abs_tol:g} rejects it; "
                                   "loosen the tolerance", seed)
    problem = collision(v)
    if problem:
        raise _err(q, "misconceptions", problem, seed)
    if any(not math.isfinite(value) for value, _ in v.misconceptions):
        raise _err(q, "misconceptions", "a misconception value is not finite", seed)


def _lint_choices(q: Question, v: Variant, seed: int) -> None:
    correct = [c for c in v.choices if c.correct]
    if not correct:
        raise _err(q, "choices", "no option is correct in this variant", seed)
    if q.type in ("single", "truefalse") and len(correct) != 1:
        raise _err(q, "choices", f"{len(correct)} options are correct; a {q.type} question needs exactly one", seed)
    if q.type == "multiple" and len(correct) == len(v.choices):
        raise _err(q, "choices", "every option is correct; add a wrong one", seed)
    texts = [" ".join(c.text.split()).casefold() for c in v.choices]
    if any(not t for t in texts):
        raise _err(q, "choices", "an option renders as empty text", seed)
    dupes = [t for t, n in Counter(texts).items() if n > 1]
    if dupes:
        raise _err(q, "choices", f"two options read the same: {dupes[0]!r}", seed)
    if any(c.value is not None and not math.isfinite(c.value) for c in v.choices):
        raise _err(q, "choices", "an option's value is not finite", seed)
    problem = collision(v)
    if problem:
        raise _err(q, "choices", problem, seed)


def _lint_spread(q: Question, positions: Counter[int], n: int) -> None:
    # Under an even spread each position's count is binomial(total, 1/n); flag counts more than
    # 4 standard deviations off, which a well-shuffled question essentially never reaches.
    total = sum(positions.values())
    expected = total / n
    allowed = 4 * math.sqrt(total * (1 / n) * (1 - 1 / n)) + 1
    if any(abs(positions[k] - expected) > allowed for k in range(n)):
        shown = ", ".join(f"{chr(65 + k)}: {positions[k]}" for k in range(n))
        hint = " (set shuffle: true or vary the answer)" if not q.shuffle else ""
        raise _err(q, "choices" if q.choices else "type",
                   f"the correct option's position is not spread evenly over variants ({shown}){hint}")
