"""Loading the question bank: YAML files, one per topic, into validated Question objects.

A bank file looks like::

    topic: initialization
    title: Weight initialization
    questions:
      - id: init-he-variance
        type: numeric            # single | multiple | truefalse | numeric
        difficulty: medium       # easy | medium | hard
        points: 1
        params:
          fan_in: {choice: [64, 128, 256]}
        let:
          var: he_var(fan_in)
        stem: "A ReLU layer has fan-in {{ fan_in }}. What variance does He initialization give?"
        answer: var
        precision: {sig: 3}      # the stem asks for 3 significant digits; tolerance: rel 0.01
        source: "seed 004 §3.2"  # where the question comes from (authoring provenance)
        misconceptions:
          - value: lecun_var(fan_in)
            feedback: "1/fan_in is LeCun's variance; He doubles it for ReLU."
        explanation: "He: Var(W) = 2 / fan_in = 2 / {{ fan_in }} = {{ var | num }}."

Every error names the file, the line and the question id.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError

from .errors import QuizError
from .model import (
    DIFFICULTIES,
    LETTERS,
    PARAM_KINDS,
    QUESTION_TYPES,
    ChoiceSpec,
    Misconception,
    ParamSpec,
    Question,
    Tolerance,
)
from .render import compile_expression, compile_template
from .yamlio import LineDict, load_yaml

BANK_DIR = Path(__file__).resolve().parent / "bank"
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,63}$")
NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")

QUESTION_KEYS = {
    "id", "topic", "type", "difficulty", "points", "stem", "explanation", "choices", "answer", "tolerance",
    "misconceptions", "params", "let", "where", "shuffle", "tags", "feedback",
    "precision", "thresholds", "source",
    "code", "items", "pairs", "distractors",
}
CHOICE_KEYS = {"text", "correct", "feedback", "value", "output"}
RESERVED_NAMES = {"answer", "loop", "true", "false", "none"}


@dataclass(frozen=True)
class Bank:
    """All questions loaded from some bank files, by id, plus each topic's title."""

    questions: dict[str, Question]
    topics: dict[str, str]
    files: tuple[str, ...]

    def by_topic(self, topic: str) -> list[Question]:
        """The questions of one topic, in bank order."""
        return [q for q in self.questions.values() if q.topic == topic]


def default_bank_files() -> list[Path]:
    """The bank shipped with the package (found beside this module, so any cwd works)."""
    return sorted(BANK_DIR.glob("*.yaml"))


def load_bank(paths: Iterable[str | Path] | None = None) -> Bank:
    """Load and validate bank files (default: the package's bank); raise QuizError on the first problem.

    A directory argument means every *.yaml in it. Ids must be unique across all files.
    """
    files = _expand(paths) if paths else default_bank_files()
    if not files:
        raise QuizError("no bank files found")
    questions: dict[str, Question] = {}
    topics: dict[str, str] = {}
    for path in files:
        topic, title, qs = load_bank_file(path)
        topics.setdefault(topic, title)
        for q in qs:
            if q.id in questions:
                other = questions[q.id]
                raise QuizError(f"duplicate id (first defined at {other.file}:{other.line})",
                                file=path, line=q.line, qid=q.id)
            questions[q.id] = q
    return Bank(questions=questions, topics=topics, files=tuple(str(f) for f in files))


def _expand(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(p.glob("*.yaml")))
        elif p.exists():
            out.append(p)
        else:
            raise QuizError("no such file", file=p)
    return out


def load_bank_file(path: Path) -> tuple[str, str, list[Question]]:
    """Parse one bank file into (topic, title, questions)."""
    data = load_yaml(path)
    if not isinstance(data, LineDict):
        raise QuizError("a bank file is a mapping with 'topic' and 'questions'", file=path, line=1)
    unknown = set(data) - {"topic", "title", "questions"}
    if unknown:
        key = sorted(unknown)[0]
        raise QuizError(f"unknown top-level key {key!r}", file=path, line=data.line_of(key))
    topic = data.get("topic")
    if not isinstance(topic, str) or not ID_RE.match(topic):
        raise QuizError("'topic' must be a short lowercase name like 'initialization'",
                        file=path, line=data.line_of("topic"))
    title = str(data.get("title") or topic)
    raw = data.get("questions")
    if not isinstance(raw, list) or not raw:
        raise QuizError("'questions' must be a non-empty list", file=path, line=data.line_of("questions"))
    return topic, title, [parse_question(item, path, topic) for item in raw]


class _Ctx:
    """Raises errors located at a question's field."""

    def __init__(self, path: Path, raw: LineDict, qid: str | None) -> None:
        self.path, self.raw, self.qid = path, raw, qid

    def fail(self, message: str, key: str | None = None, line: int | None = None) -> QuizError:
        where = line or (self.raw.line_of(key) if key else self.raw.line)
        return QuizError(message, file=self.path, line=where, qid=self.qid)


def parse_question(raw: Any, path: Path, topic: str) -> Question:
    """Validate one question mapping from a bank file."""
    if not isinstance(raw, LineDict):
        line = getattr(raw, "line", None)
        raise QuizError("each question must be a mapping", file=path, line=line)
    qid = raw.get("id")
    ctx = _Ctx(path, raw, qid if isinstance(qid, str) else None)
    if not isinstance(qid, str) or not ID_RE.match(qid):
        raise ctx.fail("'id' must be 2-64 characters of a-z, 0-9, '-' or '_'", "id")
    unknown = set(raw) - QUESTION_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise ctx.fail(f"unknown key {key!r} (allowed: {', '.join(sorted(QUESTION_KEYS))})", key)

    qtype = raw.get("type")
    if qtype not in QUESTION_TYPES:
        raise ctx.fail(f"'type' must be one of {', '.join(QUESTION_TYPES)}", "type")
    difficulty = raw.get("difficulty", "medium")
    if difficulty not in DIFFICULTIES:
        raise ctx.fail(f"'difficulty' must be one of {', '.join(DIFFICULTIES)}", "difficulty")
    points = raw.get("points", 1)
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not 0 < points <= 100:
        raise ctx.fail("'points' must be a number in (0, 100]", "points")
    q_topic = raw.get("topic", topic)
    if q_topic != topic:
        raise ctx.fail(f"question topic {q_topic!r} differs from the file's topic {topic!r}", "topic")

    stem = _text(ctx, raw, "stem", required=True)
    precision = _precision(ctx, raw.get("precision"), qtype)
    thresholds = _thresholds(ctx, raw.get("thresholds"))
    stem = _state_precision_and_thresholds(ctx, stem, precision, thresholds)
    source = raw.get("source", "")
    if not isinstance(source, str):
        raise ctx.fail("'source' is text naming where the question comes from (seed file and section)", "source")
    explanation = _text(ctx, raw, "explanation", required=True)
    params = _params(ctx, raw.get("params"))
    names = {p.name for p in params}
    let = _let(ctx, raw.get("let"), names)
    where = tuple(_expr(ctx, "where", w) for w in _as_list(ctx, raw.get("where"), "where"))
    tags = tuple(str(t) for t in _as_list(ctx, raw.get("tags"), "tags"))
    shuffle = raw.get("shuffle", qtype != "truefalse")
    if not isinstance(shuffle, bool):
        raise ctx.fail("'shuffle' must be true or false", "shuffle")

    choices: tuple[ChoiceSpec, ...] = ()
    answer: str | float | None = None
    tolerance: Tolerance | None = None
    misconceptions: tuple[Misconception, ...] = ()
    prompts: tuple[str, ...] = ()
    matches: tuple[int, ...] = ()
    code = _code(ctx, raw, qtype)
    for key in ("items", "pairs", "distractors"):
        if key in raw and not (qtype == "ordering" and key == "items" or qtype == "matching" and key != "items"):
            raise ctx.fail(f"{key!r} belongs to {'ordering' if key == 'items' else 'matching'} questions", key)
    if qtype in ("ordering", "matching"):
        for key in ("choices", "answer", "tolerance", "misconceptions", "feedback"):
            if key in raw:
                raise ctx.fail(f"an {qtype} question has no {key!r}; give "
                               f"{'items (in their right order)' if qtype == 'ordering' else 'pairs'}", key)
        if raw.get("shuffle", True) is not True:
            raise ctx.fail(f"an {qtype} question is always shuffled (its right order would be the key)", "shuffle")
        if qtype == "ordering":
            choices = _ordering_items(ctx, raw.get("items"))
        else:
            prompts, choices, matches = _matching_pairs(ctx, raw.get("pairs"), raw.get("distractors"))
    elif qtype == "numeric":
        for key in ("choices", "feedback"):
            if key in raw:
                raise ctx.fail(f"a numeric question has no {key!r}", key)
        # A code question's key is what its snippet printed (quizzes/codeoutput.py).
        answer = "as_number(output)" if code and "answer" not in raw else _value_expr(ctx, raw, "answer")
        if "tolerance" not in raw and precision is not None:
            tolerance = precision_tolerance(precision)
        else:
            tolerance = _tolerance(ctx, raw)
        misconceptions = _misconceptions(ctx, raw.get("misconceptions"))
    elif qtype == "truefalse":
        for key in ("choices", "tolerance", "misconceptions"):
            if key in raw:
                raise ctx.fail(f"a true/false question has no {key!r}; give 'answer' and 'feedback'", key)
        truth = raw.get("answer")
        if not isinstance(truth, (bool, str)):
            raise ctx.fail("'answer' must be true, false or an expression", "answer")
        if isinstance(truth, str):
            truth = _expr(ctx, "answer", truth)
        feedback = _text(ctx, raw, "feedback", required=True)
        false_truth: bool | str = (not truth) if isinstance(truth, bool) else f"not ({truth})"
        choices = (ChoiceSpec("True", truth, feedback), ChoiceSpec("False", false_truth, feedback))
    else:
        for key in ("answer", "feedback", "misconceptions"):
            if key in raw:
                raise ctx.fail(f"a {qtype} question marks its answer with 'correct: true' on a choice", key)
        choices = _choices(ctx, raw.get("choices"), qtype, has_code=bool(code))
        if "tolerance" in raw:
            tolerance = _tolerance(ctx, raw)
        elif any(c.value is not None for c in choices):
            tolerance = Tolerance("rel", 1e-3)

    return Question(
        id=qid, topic=topic, type=qtype, difficulty=difficulty, points=float(points), stem=stem,
        explanation=explanation, choices=choices, answer=answer, tolerance=tolerance,
        misconceptions=misconceptions, params=params, let=let, where=where, shuffle=shuffle, tags=tags,
        file=str(path), line=raw.line, field_lines=dict(raw.key_lines),
        precision=precision, thresholds=thresholds, source=source.strip(),
        code=code, prompts=prompts, matches=matches,
    )


def _as_list(ctx: _Ctx, value: Any, key: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, str) and key in ("where", "tags"):
        return [value]
    raise ctx.fail(f"{key!r} must be a list", key)


def _text(ctx: _Ctx, raw: LineDict, key: str, required: bool = False) -> str:
    value = raw.get(key)
    if value is None:
        if required:
            raise ctx.fail(f"missing {key!r}")
        return ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ctx.fail(f"{key!r} must be text", key)
    text = str(value)
    if required and not text.strip():
        raise ctx.fail(f"{key!r} is empty", key)
    _check_template(ctx, text, key)
    return text


def _check_template(ctx: _Ctx, text: str, key: str, line: int | None = None) -> None:
    try:
        compile_template(text)
    except TemplateSyntaxError as exc:
        base = line or ctx.raw.line_of(key)
        raise ctx.fail(f"template error in {key!r}: {exc.message}", line=base + max(0, (exc.lineno or 1) - 1)) \
            from exc


def _expr(ctx: _Ctx, key: str, source: Any, line: int | None = None) -> str:
    if isinstance(source, bool) or isinstance(source, (int, float)):
        return repr(source)
    if not isinstance(source, str) or not source.strip():
        raise ctx.fail(f"{key!r} must be an expression", key, line)
    try:
        compile_expression(source)
    except TemplateSyntaxError as exc:
        raise ctx.fail(f"expression error in {key!r}: {exc.message}: {source}", key, line) from exc
    return source


def _value_expr(ctx: _Ctx, raw: LineDict, key: str) -> str | float:
    value = raw.get(key)
    if value is None:
        raise ctx.fail(f"missing {key!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return _expr(ctx, key, value)


def _tolerance(ctx: _Ctx, raw: LineDict) -> Tolerance:
    tol = raw.get("tolerance")
    if not isinstance(tol, dict) or len(tol) != 1 or next(iter(tol)) not in ("abs", "rel"):
        raise ctx.fail("'tolerance' must be {abs: number} or {rel: number}", "tolerance")
    kind, value = next(iter(tol.items()))
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ctx.fail("tolerance must be a positive number", "tolerance")
    if kind == "rel" and value > 0.2:
        raise ctx.fail(f"relative tolerance {value} is more than 20%: students could pass with a wrong method",
                       "tolerance")
    return Tolerance(kind, float(value))


def _misconceptions(ctx: _Ctx, raw: Any) -> tuple[Misconception, ...]:
    out = []
    for item in _as_list(ctx, raw, "misconceptions"):
        line = getattr(item, "line", None)
        if not isinstance(item, dict) or set(item) - {"value", "feedback"} or "value" not in item:
            raise ctx.fail("each misconception is {value: expression, feedback: text}", "misconceptions", line)
        feedback = str(item.get("feedback") or "")
        if not feedback.strip():
            raise ctx.fail("a misconception needs feedback naming the mistake", "misconceptions", line)
        _check_template(ctx, feedback, "misconceptions", line)
        out.append(Misconception(_expr(ctx, "misconceptions", item["value"], line), feedback))
    return tuple(out)


def _choices(ctx: _Ctx, raw: Any, qtype: str, has_code: bool = False) -> tuple[ChoiceSpec, ...]:
    items = _as_list(ctx, raw, "choices")
    if not 2 <= len(items) <= len(LETTERS):
        raise ctx.fail(f"a {qtype} question needs 2 to {len(LETTERS)} choices", "choices")
    out = []
    for item in items:
        line = getattr(item, "line", None)
        if not isinstance(item, dict):
            raise ctx.fail("each choice is a mapping with 'text' (and 'correct', 'feedback')", "choices", line)
        unknown = set(item) - CHOICE_KEYS
        if unknown:
            raise ctx.fail(f"unknown choice key {sorted(unknown)[0]!r}", "choices", line)
        output = item.get("output")
        if output is not None:
            if not has_code:
                raise ctx.fail("'output' belongs to options of a question with 'code'", "choices", line)
            if "correct" in item:
                raise ctx.fail("an option with 'output' is correct when the code prints it; drop 'correct'",
                               "choices", line)
            output = _expr(ctx, "choices", _literal(output), line)
        correct = item.get("correct", False) if output is None else f"same_output(output, {output})"
        if isinstance(correct, str):
            correct = _expr(ctx, "choices", correct, line)
        elif not isinstance(correct, bool):
            raise ctx.fail("'correct' must be true, false or an expression", "choices", line)
        value = item.get("value")
        value = None if value is None else _expr(ctx, "choices", value, line)
        text = item.get("text")
        if text is None and value is not None:
            text = "{{ (" + value + ") | num }}"
        if text is None and output is not None:
            text = "{{ output_text(" + output + ") }}"
        if not isinstance(text, (str, int, float)) or not str(text).strip():
            raise ctx.fail("each choice needs 'text'", "choices", line)
        feedback = str(item.get("feedback") or "")
        if correct is False and not feedback.strip():
            raise ctx.fail(f"distractor {str(text)[:40]!r} needs feedback naming its misconception",
                           "choices", line)
        _check_template(ctx, str(text), "choices", line)
        _check_template(ctx, feedback, "choices", line)
        out.append(ChoiceSpec(str(text), correct, feedback, value, output))
    if all(c.correct is False for c in out):
        raise ctx.fail("no choice is marked 'correct: true'", "choices")
    if qtype == "single" and sum(1 for c in out if c.correct is True) > 1:
        raise ctx.fail("a single-choice question has exactly one correct choice (use type: multiple)", "choices")
    return tuple(out)


def _params(ctx: _Ctx, raw: Any) -> tuple[ParamSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise ctx.fail("'params' maps names to {choice: [...]}, {int: [lo, hi]}, ...", "params")
    out = []
    for name, spec in raw.items():
        line = raw.line_of(name) if isinstance(raw, LineDict) else None
        if not NAME_RE.match(str(name)) or name in RESERVED_NAMES:
            raise ctx.fail(f"parameter name {name!r} is not a valid lowercase identifier", "params", line)
        if not isinstance(spec, dict):
            raise ctx.fail(f"parameter {name!r} must be a mapping like {{int: [1, 9]}}", "params", line)
        kinds = [k for k in spec if k in PARAM_KINDS]
        if len(kinds) != 1:
            raise ctx.fail(f"parameter {name!r} needs exactly one of {', '.join(PARAM_KINDS)}", "params", line)
        kind = kinds[0]
        extra = set(spec) - {kind, "step", "size", "digits", "sig"}
        if extra:
            raise ctx.fail(f"parameter {name!r}: unknown option {sorted(extra)[0]!r}", "params", line)
        out.append(_param(ctx, name, kind, spec, line))
    return tuple(out)


def _param(ctx: _Ctx, name: str, kind: str, spec: dict, line: int | None) -> ParamSpec:
    body = spec[kind]
    if kind == "choice":
        if not isinstance(body, list) or not body:
            raise ctx.fail(f"parameter {name!r}: choice needs a non-empty list", "params", line)
        return ParamSpec(name, kind, values=tuple(_freeze(v) for v in body))
    if not (isinstance(body, list) and len(body) == 2 and all(isinstance(b, (int, float)) for b in body)):
        raise ctx.fail(f"parameter {name!r}: {kind} needs [low, high]", "params", line)
    low, high = float(body[0]), float(body[1])
    if not low <= high or (kind.startswith("log") and low <= 0):
        raise ctx.fail(f"parameter {name!r}: need 0 < low <= high for log ranges, low <= high otherwise",
                       "params", line)
    size = None
    if kind.endswith("s"):
        raw_size = spec.get("size")
        if isinstance(raw_size, int) and not isinstance(raw_size, bool):
            size = (raw_size, raw_size)
        elif isinstance(raw_size, list) and len(raw_size) == 2 and all(isinstance(s, int) for s in raw_size):
            size = (raw_size[0], raw_size[1])
        if size is None or not 1 <= size[0] <= size[1] <= 50:
            raise ctx.fail(f"parameter {name!r}: vector kinds need size: n or [lo, hi] with 1 <= n <= 50",
                           "params", line)
    step = spec.get("step", 1)
    if not isinstance(step, int) or step < 1:
        raise ctx.fail(f"parameter {name!r}: step must be a positive integer", "params", line)
    digits, sig = spec.get("digits"), spec.get("sig")
    for label, v in (("digits", digits), ("sig", sig)):
        if v is not None and (not isinstance(v, int) or not 0 <= v <= 12):
            raise ctx.fail(f"parameter {name!r}: {label} must be an integer 0..12", "params", line)
    return ParamSpec(name, kind, low=low, high=high, step=step, size=size, digits=digits, sig=sig)


def _freeze(value: Any) -> Any:
    """Lists in parameter choices become tuples so variants hash; the sandbox sees them as sequences."""
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _let(ctx: _Ctx, raw: Any, known: set[str]) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise ctx.fail("'let' maps names to expressions, evaluated in order", "let")
    out = []
    for name, source in raw.items():
        line = raw.line_of(name) if isinstance(raw, LineDict) else None
        if not NAME_RE.match(str(name)) or name in RESERVED_NAMES:
            raise ctx.fail(f"'let' name {name!r} is not a valid lowercase identifier", "let", line)
        if name in known:
            raise ctx.fail(f"'let' name {name!r} is already a parameter", "let", line)
        known.add(name)
        out.append((name, _expr(ctx, "let", source, line)))
    return tuple(out)


PRECISION_KINDS = ("sig", "decimals")
THRESHOLD_RE = re.compile(r"^\s*(<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


def precision_phrase(precision: tuple[str, int]) -> str:
    """How a precision reads in a stem: '3 significant digits', '2 decimal places', 'a whole number'."""
    kind, n = precision
    if kind == "sig":
        return f"{n} significant digit" + ("s" if n != 1 else "")
    return "a whole number" if n == 0 else f"{n} decimal place" + ("s" if n != 1 else "")


def round_to_precision(x: float, precision: tuple[str, int]) -> float:
    """x as a student gives it at the stated precision (3 significant digits, 2 decimals, ...)."""
    kind, n = precision
    if kind == "sig":
        return float(f"{x:.{n}g}") if x != 0 else 0.0
    return round(x, n)


def precision_tolerance(precision: tuple[str, int]) -> Tolerance:
    """The tolerance a stated precision implies: one unit in the last stated digit (twice the rounding
    error, so a student who rounded an intermediate result too still passes); half a unit for whole numbers."""
    kind, n = precision
    if kind == "sig":
        return Tolerance("rel", 10.0 ** (1 - n))
    return Tolerance("abs", 0.5 if n == 0 else 10.0 ** -n)


def _precision(ctx: _Ctx, raw: Any, qtype: str) -> tuple[str, int] | None:
    if raw is None:
        return None
    if qtype != "numeric":
        raise ctx.fail("'precision' belongs to numeric questions", "precision")
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in PRECISION_KINDS:
        raise ctx.fail("'precision' must be {sig: n} (significant digits) or {decimals: n}", "precision")
    kind, n = next(iter(raw.items()))
    if isinstance(n, bool) or not isinstance(n, int) or not (1 if kind == "sig" else 0) <= n <= 8:
        raise ctx.fail(f"precision {kind} must be a whole number from {1 if kind == 'sig' else 0} to 8",
                       "precision")
    return (kind, n)


def _thresholds(ctx: _Ctx, raw: Any) -> tuple[tuple[str, str, float], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not raw:
        raise ctx.fail("'thresholds' maps names to rules like {vanished: '< 1e-6', exploding: '> 100'}",
                       "thresholds")
    out = []
    for label, rule in raw.items():
        match = THRESHOLD_RE.match(str(rule))
        if not match:
            line = raw.line_of(label) if isinstance(raw, LineDict) else None
            raise ctx.fail(f"threshold {label!r} must read like '< 1e-6' or '> 100', not {rule!r}",
                           "thresholds", line)
        out.append((str(label), match.group(1), float(match.group(2))))
    return tuple(out)


def thresholds_phrase(thresholds: tuple[tuple[str, str, float], ...]) -> str:
    """How thresholds read in a stem: 'vanished < 1e-6, weak < 1e-4, exploding > 100'."""
    return ", ".join(f"{label} {op} {_short_number(value)}" for label, op, value in thresholds)


def _short_number(x: float) -> str:
    """1e-6 rather than 1e-06 or 0.000001, 100 rather than 100.0: how the course writes thresholds."""
    if x != 0 and not 1e-3 <= abs(x) < 1e5:
        mantissa, exp = f"{x:.6e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exp)}"
    return f"{x:g}"


def _state_precision_and_thresholds(ctx: _Ctx, stem: str, precision: tuple[str, int] | None,
                                    thresholds: tuple[tuple[str, str, float], ...]) -> str:
    """Write the structured precision and thresholds into the stem, so the wording always matches what
    lint checks: {{ precision }} and {{ thresholds }} are replaced where the author put them, and a
    precision the stem does not mention is stated in a sentence at its end."""
    if "{{ thresholds }}" in stem:
        if not thresholds:
            raise ctx.fail("the stem uses {{ thresholds }} but the question has no 'thresholds'", "stem")
        stem = stem.replace("{{ thresholds }}", thresholds_phrase(thresholds))
    if precision is None:
        if "{{ precision }}" in stem:
            raise ctx.fail("the stem uses {{ precision }} but the question has no 'precision'", "stem")
        return stem
    phrase = precision_phrase(precision)
    if "{{ precision }}" in stem:
        return stem.replace("{{ precision }}", phrase)
    sentence = "Give your answer as a whole number." if phrase == "a whole number" else \
        f"Give your answer to {phrase}."
    return stem.rstrip() + "\n\n" + sentence


def _literal(value: Any) -> Any:
    """A YAML value as a bank expression: lists and numbers as written ([0.5, 1.0] stays a list)."""
    if isinstance(value, list):
        return "[" + ", ".join(str(_literal(v)) for v in value) + "]"
    if isinstance(value, str):
        return value
    return repr(value)


def _code(ctx: _Ctx, raw: LineDict, qtype: str) -> str:
    """A code-output question's snippet (a template); checked now when it has no parameters."""
    code = raw.get("code")
    if code is None:
        return ""
    if qtype not in ("numeric", "single", "multiple"):
        raise ctx.fail("'code' belongs to numeric, single or multiple questions (predict what it prints)", "code")
    if not isinstance(code, str) or not code.strip():
        raise ctx.fail("'code' is the snippet whose printed output students predict", "code")
    _check_template(ctx, code, "code")
    if "{{" not in code and "{%" not in code:
        from .codeoutput import SnippetError, check  # late: codeoutput imports numpy

        try:
            check(code.strip("\n"))
        except SnippetError as exc:
            # YAML block scalars start on the line after 'code: |'.
            line = ctx.raw.line_of("code") + (exc.line or 0)
            raise ctx.fail(str(exc).split(": ", 1)[-1] if exc.line else str(exc), line=line) from None
    return code.strip("\n")


def _item_texts(ctx: _Ctx, raw: Any, key: str, low: int, what: str) -> list[str]:
    items = _as_list(ctx, raw, key)
    if not low <= len(items) <= len(LETTERS):
        raise ctx.fail(f"{what} needs {low} to {len(LETTERS)} {key}", key)
    texts = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int, float)) or not str(item).strip():
            raise ctx.fail(f"each of {key!r} is a line of text", key, getattr(item, "line", None))
        _check_template(ctx, str(item), key)
        texts.append(str(item))
    return texts


def _ordering_items(ctx: _Ctx, raw: Any) -> tuple[ChoiceSpec, ...]:
    """An ordering question's items, in their right order (students see them shuffled)."""
    texts = _item_texts(ctx, raw, "items", 3, "an ordering question")
    if len({" ".join(t.split()).casefold() for t in texts}) != len(texts):
        raise ctx.fail("two items read the same; the right order would be ambiguous", "items")
    return tuple(ChoiceSpec(t, True) for t in texts)


def _matching_pairs(ctx: _Ctx, raw: Any, distractors: Any) -> tuple[tuple[str, ...], tuple[ChoiceSpec, ...],
                                                                     tuple[int, ...]]:
    """A matching question: prompts, the answers to choose from (matched ones, then distractors), and
    each prompt's answer index. Two prompts may share an answer; Moodle needs 2 prompts and 3 answers."""
    pairs = _as_list(ctx, raw, "pairs")
    prompts: list[str] = []
    answers: list[str] = []
    matches: list[int] = []
    for pair in pairs:
        line = getattr(pair, "line", None)
        if not isinstance(pair, dict) or set(pair) != {"prompt", "answer"}:
            raise ctx.fail("each pair is {prompt: text, answer: text}", "pairs", line)
        prompt, answer = (str(pair[k]).strip() for k in ("prompt", "answer"))
        if not prompt or not answer:
            raise ctx.fail("a pair needs a prompt and an answer", "pairs", line)
        _check_template(ctx, prompt, "pairs", line)
        _check_template(ctx, answer, "pairs", line)
        if prompt in prompts:
            raise ctx.fail(f"prompt {prompt[:40]!r} appears twice", "pairs", line)
        if answer not in answers:
            answers.append(answer)
        prompts.append(prompt)
        matches.append(answers.index(answer))
    extra = _item_texts(ctx, distractors, "distractors", 0, "a matching question") if distractors else []
    for text in extra:
        if text.strip() in answers:
            raise ctx.fail(f"distractor {text[:40]!r} is also an answer", "distractors")
    answers += [t.strip() for t in extra]
    if len(prompts) < 2 or len(answers) < 3:
        raise ctx.fail("a matching question needs at least 2 pairs and 3 answers (add pairs or distractors)",
                       "pairs")
    if len(answers) > len(LETTERS):
        raise ctx.fail(f"a matching question has at most {len(LETTERS)} answers", "pairs")
    choices = tuple(ChoiceSpec(a, i in matches, "" if i in matches else "This answer matches none of the prompts.")
                    for i, a in enumerate(answers))
    return tuple(prompts), choices, tuple(matches)
