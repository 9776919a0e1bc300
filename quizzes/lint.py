"""`deepgrade quiz check`: render every question for many seeds and check what students would see.

Per question, over LINT_SEEDS seeds: it renders; numeric answers are finite and the key's
displayed value is accepted by the tolerance; tolerances are sane; options and misconceptions
never equal the answer (within tolerance) nor each other; and the correct option's position is
spread evenly across variants. Across the bank: ids are unique (checked when loading) and
true/false answers are not lopsided.

The rules an examiner would apply on top (each error names the file, line and question):

- degenerate keys: a parameterized key that is the same in every variant (or in most of them),
  or that equals a number printed in the stem;
- a key at or near zero under an absolute tolerance (0 or a wrong sign comes close to passing);
- a parameter draw where a listed misconception falls within the key's tolerance (the build
  silently redraws those, which skews the parameters; a `where:` rule should exclude them);
- a tolerance tighter than the precision the stem states (`precision:`), so a correctly rounded
  answer fails;
- a number shown in the stem exactly at a threshold the question is about (`thresholds:`);
- floating-point noise (0.04000000000000001), double signs (- -0.5) or an unbracketed negative
  base (-0.05^10) in any rendered text;
- a count of 1 rendered with a plural ("1 layers", "1 of the 6 norms are"): a template that prints a
  number before a fixed noun or verb reads wrong for some draws;
- a matching question whose answer repeats a word of its own prompt that no other prompt or option
  has ("Group normalization" -> "... one group of its channels"): the pair matches itself;
- across the bank: the key strictly the longest option in too many single-choice questions
  (a warning), and the keys' positions not spread when choices are not shuffled.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .bank import Bank, _short_number, load_bank, precision_phrase, round_to_precision
from .errors import QuizError
from .model import Question, Variant
from .params import draw_all, rng_for
from .render import fmt_num
from .variants import (
    MAX_DRAWS,
    _context,
    _satisfied,
    choice_order,
    collision,
    render_variant,
    render_with_params,
)

LINT_SEEDS = 200
LONGEST_KEY_RATE = 0.4  # warn when the key is strictly the longest option in more single-choice questions
DEGENERATE_SHARE = 0.6  # a parameterized key that takes one value in more than this share of variants
STEM_KEY_SHARE = 0.5  # ... or that equals a number printed in the stem in at least this share
NEAR_ZERO_FACTOR = 10  # an absolute tolerance must be under a tenth of the key's size

# A number as printed: -1.5, 0.001, 2.3e-07, 10,000, 1.2 × 10⁻⁶ (the sci filter's form).
_SUPERSCRIPTS = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")
NUMBER_RE = re.compile(
    r"(?<![\w.])([-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+−]?\d+)?)"
    r"(?:\s*×\s*10([⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+))?(?![\w.]*\d)")
# Words or signs before a number that make it a rule (a threshold), not data: "< 1e-6", "above 100".
RULE_BEFORE_RE = re.compile(r"(?:[<>≤≥]|\b(?:below|above|under|over|exceeds?|threshold|than))\s*$", re.I)
FLOAT_NOISE_RE = re.compile(r"\d\.\d*?(?:0{6,}[1-9]\d?|9{6,}\d?)(?!\d)")
DOUBLE_SIGN_RE = re.compile(r"(?:^|[\s(=×·/*])[-−+±]\s*[-−+]\s*\d")
NEGATIVE_BASE_RE = re.compile(r"(?<![\w)\]])[-−]\d+(?:\.\d+)?\s*(?:\^|\*\*|[⁰¹²³⁴⁵⁶⁷⁸⁹])")
# "1 layers", "1 of the 6 norms are", "1 are": a count of one with a plural after it. Only nouns a count
# precedes in this subject, and not after a label word ("layer 1 gradients" names layer 1).
PLURAL_AFTER_ONE_RE = re.compile(
    r"(?<![\w.,−-])1 (?:of the \d+ [a-z]+ (?:are|were|have)\b|"
    r"(?:layers|epochs|norms|units|steps|values|parameters|samples|neurons|examples|entries|factors|blocks|"
    r"groups|channels|times|weights|gradients|tensors|dimensions|features)\b)"
    # a bare "1 are" only where the 1 is a count opening a clause ("Of those, 1 are ..."), not a value
    # ("norms up to about 1 are healthy")
    r"|(?:^|[,;:] |\. )1 (?:are|were|have)\b", re.M)
LABEL_BEFORE_RE = re.compile(r"\b(?:layer|epoch|step|block|group|channel|example|unit|t|n|k|=)\s*$", re.I)
# Words too common in this subject to give a matching pair away.
CUE_STOPWORDS = frozenset(
    "the a an of and or to in on for with by is are be it its that this as at from which what when how does "
    "not no into than then their there these those them they was were will can one all each every only "
    "over under across some".split())


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
    singles = [q for q in bank.questions.values() if q.type == "single"]
    longest = longest_key_questions(singles)
    if len(singles) >= 5 and len(longest) > LONGEST_KEY_RATE * len(singles):
        where = ", ".join(f"{q.id} ({q.file}:{q.line})" for q in longest)
        report.warnings.append(
            f"the key is strictly the longest option in {len(longest)} of {len(singles)} single-choice questions "
            f"(more than {LONGEST_KEY_RATE:.0%}): test-wise students pick the longest option; "
            f"shorten those keys or lengthen a distractor: {where}")
    problem = key_position_problem(singles)
    if problem is not None:
        report.errors.append(problem)
    for q in bank.questions.values():
        if q.type == "numeric" and q.precision is None:
            report.warnings.append(f"{q.file}:{q.line_of('answer')}: question {q.id!r}: the stem states no "
                                   "precision; add precision: {sig: 3} or {decimals: 2} so students know "
                                   "how to round and the tolerance is checked against it")
    return report


def _plain(text: str) -> str:
    return " ".join(text.split())


def longest_key_questions(questions: list[Question]) -> list[Question]:
    """The single-choice questions whose key is strictly the longest option (first variant, as written)."""
    out = []
    for q in questions:
        v = render_variant(q, "lint", 0)
        keys = [len(_plain(c.text)) for c in v.choices if c.correct]
        others = [len(_plain(c.text)) for c in v.choices if not c.correct]
        if len(keys) == 1 and others and keys[0] > max(others):
            out.append(q)
    return out


def key_position_problem(questions: list[Question]) -> QuizError | None:
    """An error when the keys' positions as written are not spread over the letters.

    With shuffling off (shuffle: false, or a spec's shuffle_choices: false) students see the
    options as written, so a bank whose keys are mostly first teaches "pick A". Under an even
    spread each position's count is a sum of Bernoulli(1/n_q); flag a count more than 3 standard
    deviations above its expectation.
    """
    fixed = []
    for q in questions:
        v = render_variant(q, "lint", 0)
        correct = v.correct_indices()
        if len(correct) == 1 and len(v.choices) >= 3:
            fixed.append((q, correct[0], len(v.choices)))
    if len(fixed) < 6:
        return None
    counts = Counter(k for _, k, _ in fixed)
    for k in range(max(n for _, _, n in fixed)):
        ps = [1 / n for _, _, n in fixed if k < n]
        expected = sum(ps)
        allowed = expected + 3 * math.sqrt(sum(p * (1 - p) for p in ps)) + 1
        if counts[k] > allowed:
            first = next(q for q, pos, _ in fixed if pos == k)
            shown = ", ".join(f"{chr(65 + i)}: {counts[i]}" for i in sorted(counts))
            return QuizError(
                f"the key is option {chr(65 + k)} as written in {counts[k]} of {len(fixed)} single-choice "
                f"questions (expected about {expected:.0f}; {shown}): with shuffling off every student sees "
                "that pattern; vary where the correct option is listed", file=first.file,
                line=first.line_of("choices"), qid=first.id)
    return None


def _err(q: Question, key: str, message: str, seed: int | None = None) -> QuizError:
    suffix = f" (seed {seed})" if seed is not None else ""
    return QuizError(message + suffix, file=q.file, line=q.line_of(key), qid=q.id)


def lint_question(q: Question, seeds: int = LINT_SEEDS) -> list[bool]:
    """Lint one question; raise QuizError on the first problem. Returns true/false answers seen."""
    positions: Counter[int] = Counter()
    n_choices = len(q.choices)
    tf_seen = []
    variants_seen = set()
    per_seed = []
    for seed in range(seeds):
        variant = render_variant(q, "lint", seed)
        per_seed.append((seed, variant))
        if variant.vid in variants_seen:
            continue  # same parameters as an earlier seed: content checks already done
        variants_seen.add(variant.vid)
        _lint_text(q, variant, seed)
        if q.type == "numeric":
            _lint_numeric(q, variant, seed)
        elif q.type in ("single", "multiple", "truefalse"):
            _lint_choices(q, variant, seed)
            if q.type == "truefalse":
                tf_seen.append(variant.choices[0].correct)
        _lint_thresholds(q, variant, seed)
        if q.type == "matching":
            _lint_matching_cues(q, variant, seed)
    if q.type == "numeric":
        _lint_keys(q, per_seed)  # shares of students, so variants count as often as they are drawn
    if q.parameterized and q.type in ("numeric", "single", "multiple", "truefalse"):
        _lint_raw_draws(q, seeds)
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
    if tol.kind == "abs" and not _count_like(q, v) and abs(answer) < NEAR_ZERO_FACTOR * abs_tol:
        raise _err(q, "tolerance", f"the key {fmt_num(answer)} is at or near zero under the absolute tolerance "
                                   f"±{abs_tol:g}: 0 or a wrong sign comes close to passing; keep the key at "
                                   f"least {NEAR_ZERO_FACTOR}× the tolerance away from 0 (a where: rule) or use "
                                   "a relative tolerance", seed)
    if q.precision is not None:
        rounded = round_to_precision(answer, q.precision)
        if not tol.accepts(answer, rounded):
            raise _err(q, "tolerance", f"the stem asks for {precision_phrase(q.precision)}, but the tolerance "
                                       f"±{abs_tol:g} rejects the correctly rounded {rounded:g} (key "
                                       f"{answer:.6g}); loosen the tolerance or ask for more digits", seed)
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


def _count_like(q: Question, v: Variant) -> bool:
    """A whole-number answer graded to the nearest integer (a count, an epoch): 0 is a fair key there."""
    return v.answer is not None and float(v.answer).is_integer() and (v.abs_tol or 0) >= 0.25


def _numbers(text: str) -> list[tuple[float, str]]:
    """The numbers printed in text that are data, not rules: '< 1e-6' and 'above 100' are left out."""
    out = []
    for match in NUMBER_RE.finditer(text):
        if RULE_BEFORE_RE.search(text[:match.start()]):
            continue
        mantissa = match.group(1).replace("−", "-").replace(",", "")
        try:
            value = float(mantissa)
        except ValueError:
            continue
        if match.group(2):
            value *= 10.0 ** int(match.group(2).translate(_SUPERSCRIPTS))
        out.append((value, match.group(0)))
    return out


def _lint_keys(q: Question, rendered: list[tuple[int, Variant]]) -> None:
    """Keys over the variants students get (one per seed): constant, mostly one value, or printed in the stem."""
    answers = [(seed, v) for seed, v in rendered if v.answer is not None]
    if not answers or not q.parameterized:
        return
    tol = answers[0][1].tolerance
    assert tol is not None
    values = Counter(fmt_num(v.answer) for _, v in answers)
    top, count = values.most_common(1)[0]
    if len(answers) >= 4 and count == len(answers):
        raise _err(q, "answer", f"the key is {top} in every variant: the parameters change the stem but not the "
                                "answer, so students can share it")
    if len(answers) >= 4 and count > DEGENERATE_SHARE * len(answers):
        raise _err(q, "answer", f"the key is {top} in {count} of {len(answers)} variants "
                                f"({count / len(answers):.0%}): a degenerate answer most students share; "
                                "constrain the parameters with a where: rule")
    in_stem = []
    for seed, v in answers:
        hit = next((text for value, text in _numbers(v.stem) if tol.accepts(v.answer, value)), None)
        if hit is not None:
            in_stem.append((seed, hit))
    if len(answers) >= 2 and len(in_stem) >= STEM_KEY_SHARE * len(answers):
        seed, text = in_stem[0]
        raise _err(q, "answer", f"the key equals a number printed in the stem ({text}) in {len(in_stem)} of "
                                f"{len(answers)} variants: students can copy it without working it out", seed)


def _lint_thresholds(q: Question, v: Variant, seed: int) -> None:
    """No number shown in the stem, and no numeric key, sits exactly on a threshold the question is about."""
    for label, op, limit in q.thresholds:
        if v.answer is not None and math.isclose(v.answer, limit, rel_tol=1e-9, abs_tol=0.0):
            raise _err(q, "thresholds", f"the key {fmt_num(v.answer)} is exactly the {label} threshold "
                                        f"({op} {_short_number(limit)}): whether it counts as {op} is a coin toss "
                                        "for the student; exclude such draws", seed)
        for value, text in _numbers(v.stem):
            if math.isclose(value, limit, rel_tol=1e-9, abs_tol=0.0):
                raise _err(q, "thresholds", f"the stem shows {text}, exactly the {label} threshold ({op} {_short_number(limit)}): "
                                            "a student cannot tell which side it is on; exclude such draws", seed)


def _lint_text(q: Question, v: Variant, seed: int) -> None:
    """Floating-point noise, double signs and unbracketed negative powers in anything a student reads."""
    texts = [("stem", v.stem), ("explanation", v.explanation)]
    texts += [("choices", c.text) for c in v.choices] + [("choices", c.feedback) for c in v.choices]
    texts += [("misconceptions", feedback) for _, feedback in v.misconceptions]
    for key, text in texts:
        for pattern, what in ((FLOAT_NOISE_RE, "floating-point noise"), (DOUBLE_SIGN_RE, "a double sign"),
                              (NEGATIVE_BASE_RE, "a negative base without brackets (reads as −(x^n))")):
            match = pattern.search(text)
            if match:
                snippet = text[max(0, match.start() - 15):match.end() + 15].replace("\n", " ")
                raise _err(q, key, f"the {key} shows {what}: ...{snippet.strip()}...; format numbers with the "
                                   "num filter and put negative values in brackets", seed)
        for match in PLURAL_AFTER_ONE_RE.finditer(text):
            if LABEL_BEFORE_RE.search(text[:match.start()]):
                continue
            snippet = text[max(0, match.start() - 15):match.end() + 15].replace("\n", " ")
            raise _err(q, key, f"the {key} reads '{match.group(0)}' for this draw: ...{snippet.strip()}...; "
                               "word it so that a count of 1 reads right (\"N of the 6\", \"count: N\")", seed)


def _cue_words(text: str) -> set[str]:
    """Content words of an option or prompt, crudely stemmed (batch/batches, group/groups match)."""
    words = re.findall(r"[^\W\d_]{4,}", text.casefold())
    return {w[:5] for w in words if w not in CUE_STOPWORDS}


def _lint_matching_cues(q: Question, v: Variant, seed: int) -> None:
    """A matching answer that repeats a word found only in its own prompt can be matched without knowing."""
    prompt_words = [_cue_words(p) for p in v.prompts]
    option_words = [_cue_words(c.text) for c in v.choices]
    for i, answer in enumerate(v.matches):
        elsewhere = set().union(*(w for k, w in enumerate(prompt_words) if k != i),
                                *(w for k, w in enumerate(option_words) if k != answer))
        shared = sorted((prompt_words[i] & option_words[answer]) - elsewhere)
        if shared:
            raise _err(q, "pairs", f"the answer {v.choices[answer].text!r} repeats a word of its own prompt "
                                   f"{v.prompts[i]!r} ({', '.join(shared)}…) that no other prompt or option has: "
                                   "students can match the pair by the word alone; reword the answer", seed)


def _lint_raw_draws(q: Question, seeds: int) -> None:
    """Draws that satisfy 'where' but collide (a misconception or distractor within the key's tolerance).

    The build redraws such variants so no student gets one, but that silently skews which
    parameters students see; the author should exclude them with a where: rule instead.
    """
    rng = rng_for("lint-raw", q.id)
    for _ in range(seeds):
        params = None
        for _ in range(MAX_DRAWS):
            candidate = draw_all(q.params, rng)
            if not q.where or _satisfied(q, _context(q, candidate), candidate):
                params = candidate
                break
        if params is None:
            return  # 'where' (almost) never holds: reported by render_variant already
        problem = collision(render_with_params(q, tuple(params.items())))
        if problem:
            shown = ", ".join(f"{k}={fmt_num(x) if isinstance(x, float) else x}" for k, x in params.items())
            key = "misconceptions" if q.type == "numeric" else "choices"
            raise _err(q, key, f"for {shown}: {problem}; the build redraws such variants, which skews the "
                               "parameters students get: exclude them with a where: rule")
