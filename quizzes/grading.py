"""`deepgrade quiz grade`: score a responses CSV against the answer key, student by student.

responses.csv has a header row, `student_id` first, then one column per question position
(q1, q2, …, as printed on each student's paper):

    student_id,q1,q2,q3
    s1001,B,"A,C",0.0156
    s1002,,A,1.5e-2

Cells hold a choice letter (single answer, true/false; T/F also work), letters separated
by commas for select-all questions, a number, the letters of an ordering question in the
order the student put them ("C,A,D,B"), or a matching question's letter per prompt
("B,A,C" or "1B,2A,3C"; "-" leaves a prompt unanswered). A blank cell scores 0.

Scoring rules:
- single answer and true/false: full points for the correct letter, else 0 (more than one
  letter marked scores 0);
- select all (right-minus-wrong): each correct option marked earns 1/k of the points (k
  correct options), each wrong option marked costs 1/w (w wrong options), floored at 0;
- numeric: full points within the variant's tolerance (absolute, or relative to the answer);
- ordering (Moodle's "longest ordered subset"): the share of the n items in the longest
  subsequence the student put in the right relative order (not necessarily adjacent); a
  subsequence of one item counts as none, as in Moodle;
- matching: the share of prompts matched to their answer (no penalty for wrong matches).
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import QuizError
from .exports.key import KEY_FILE, KEY_FORMAT
from .model import LETTERS

_SPLIT = re.compile(r"[\s,;/]+")
TRUE_WORDS = {"T", "TRUE"}
FALSE_WORDS = {"F", "FALSE"}


@dataclass(frozen=True)
class ItemResult:
    """One student's answer to one question, scored."""

    position: int
    qid: str
    vid: str
    response: str
    score: float  # points earned
    points: float
    chosen: tuple[int, ...] = ()  # canonical option indices marked
    category: str = "blank"  # choice questions: 'marked'; numeric: 'correct', 'misconception:i', 'other'
    feedback: str = ""

    @property
    def fraction(self) -> float:
        """Score as a fraction of the question's points."""
        return self.score / self.points if self.points else 0.0


@dataclass
class StudentResult:
    """A graded student."""

    student_id: str
    name: str
    code: str
    items: list[ItemResult] = field(default_factory=list)

    @property
    def score(self) -> float:
        """Points earned."""
        return sum(i.score for i in self.items)

    @property
    def max_score(self) -> float:
        """Points available."""
        return sum(i.points for i in self.items)


@dataclass
class Grading:
    """Everything a grading run produced, before anything is written."""

    key: dict[str, Any]
    results: list[StudentResult]

    def key_students(self) -> dict[str, dict[str, Any]]:
        """The key's student records by id."""
        if not hasattr(self, "_students"):
            self._students = {s["student_id"]: s for s in self.key["students"]}
        return self._students

    @property
    def question_ids(self) -> list[str]:
        """Question ids in spec order (the columns of item analysis)."""
        return [q["qid"] for q in self.key["questions"]]


def load_key(key_dir: str | Path) -> dict[str, Any]:
    """Read answer_key.json from a build folder, its key/ subfolder, or the file itself."""
    path = Path(key_dir)
    for candidate in (path, path / KEY_FILE, path / "key" / KEY_FILE):
        if candidate.is_file():
            try:
                data = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise QuizError(f"cannot read the answer key: {exc}", file=candidate) from exc
            if not isinstance(data, dict) or data.get("format") != KEY_FORMAT:
                raise QuizError(f"not a deepgrade answer key (expected format {KEY_FORMAT})", file=candidate)
            return data
    raise QuizError(f"no {KEY_FILE} in {path} or {path / 'key'}; build with --format key first")


def _letters(raw: str, n: int, qtype: str, where: str) -> tuple[int, ...]:
    """Presented option indices named by a cell: 'B' → (1,), 'A, C' or 'AC' → (0, 2)."""
    text = raw.strip().upper()
    tokens = [t for t in _SPLIT.split(text) if t]
    if len(tokens) == 1 and len(tokens[0]) > 1 and tokens[0].isalpha():
        tokens = list(tokens[0])  # "AC" written without separators
    allowed = LETTERS[:n]
    for t in tokens:
        if len(t) != 1 or t not in allowed:
            raise QuizError(f"{where}: {raw.strip()!r} is not a choice letter (expected {allowed[0]}-{allowed[-1]}"
                            f"{', comma-separated' if qtype == 'multiple' else ''})")
    return tuple(sorted({allowed.index(t) for t in tokens}))


def _sequence(raw: str, n: int, where: str) -> list[int]:
    """Presented indices in the order written: 'C,A,B' or 'CAB' → [2, 0, 1]; each letter at most once."""
    text = raw.strip().upper()
    tokens = [t for t in _SPLIT.split(text) if t]
    if len(tokens) == 1 and len(tokens[0]) > 1 and tokens[0].isalpha():
        tokens = list(tokens[0])
    allowed = LETTERS[:n]
    for t in tokens:
        if len(t) != 1 or t not in allowed:
            raise QuizError(f"{where}: {raw.strip()!r} is not an order of the letters {allowed[0]}-{allowed[-1]} "
                            f"(write them in your order, e.g. {','.join(reversed(allowed))})")
    repeated = sorted({t for t in tokens if tokens.count(t) > 1})
    if repeated:
        raise QuizError(f"{where}: letter {repeated[0]} appears twice in {raw.strip()!r}")
    return [allowed.index(t) for t in tokens]


_MATCH_PAIR = re.compile(r"^(\d+)\s*[-:=>.]*\s*([A-Z?_-])$")


def _matching(raw: str, n_prompts: int, n_answers: int, where: str) -> list[int | None]:
    """Per prompt, the presented answer index written for it (None: left blank).

    'B,A,C' gives prompt 1 → B, 2 → A, 3 → C; '1B, 3C' or '1-B 3-C' names prompts explicitly.
    """
    text = raw.strip().upper()
    tokens = [t for t in re.split(r"[\s,;/]+", text) if t]
    if len(tokens) == 1 and len(tokens[0]) > 1 and all(c in LETTERS + "?_-" for c in tokens[0]):
        tokens = list(tokens[0])
    allowed = LETTERS[:n_answers]
    out: list[int | None] = [None] * n_prompts
    explicit = [_MATCH_PAIR.match(t) for t in tokens]
    if tokens and all(explicit):
        pairs = [(int(m.group(1)), m.group(2)) for m in explicit if m]
    elif not any(explicit) and len(tokens) <= n_prompts:
        pairs = list(enumerate(tokens, start=1))
    else:
        raise QuizError(f"{where}: {raw.strip()!r} is not a matching answer (write one letter per prompt, "
                        f"e.g. {','.join(allowed[:n_prompts])}, or pairs like 1{allowed[0]},2{allowed[-1]})")
    for number, letter in pairs:
        if not 1 <= number <= n_prompts:
            raise QuizError(f"{where}: there is no prompt {number} (the question has {n_prompts})")
        if letter in "?_-":
            continue
        if len(letter) != 1 or letter not in allowed:
            raise QuizError(f"{where}: {letter!r} is not an answer letter (expected {allowed[0]}-{allowed[-1]})")
        out[number - 1] = allowed.index(letter)
    return out


def longest_ordered_subset(positions: list[int]) -> int:
    """Length of the longest strictly increasing subsequence of positions (patience sorting).

    positions[k] is the right position of the item the student put k-th; the items of that
    subsequence are in the right relative order, which is what Moodle's ordering question
    credits under "longest ordered subset".
    """
    tails: list[int] = []
    for p in positions:
        lo, hi = 0, len(tails)
        while lo < hi:
            mid = (lo + hi) // 2
            if tails[mid] < p:
                lo = mid + 1
            else:
                hi = mid
        tails[lo:lo + 1] = [p]
    return len(tails)


def _score_arranged(variant: dict[str, Any], order: list[int], raw: str, where: str,
                    base: dict[str, Any]) -> ItemResult:
    """Score an ordering or matching answer (partial credit; see the module doc)."""
    points = base["points"]
    choices = variant["choices"]
    if variant["type"] == "ordering":
        n = len(choices)
        written = [order[k] for k in _sequence(raw, n, where)]  # canonical index = right position
        best = longest_ordered_subset(written)
        right = best if best >= 2 else 0  # Moodle ignores single-item "subsets"
        fraction = right / n
        note = "Correct." if fraction == 1 else (
            f"{right} of {n} items in the right relative order" +
            (f"; {n - len(written)} item(s) not placed" if len(written) < n else "") + ".")
        return ItemResult(score=points * fraction, chosen=tuple(written),
                          category="correct" if fraction == 1 else ("partial" if right else "wrong"),
                          feedback=note, **base)
    matches = variant["matches"]
    written_m = _matching(raw, len(matches), len(choices), where)
    chosen = tuple(-1 if k is None else order[k] for k in written_m)
    right = sum(1 for c, m in zip(chosen, matches, strict=True) if c == m)
    fraction = right / len(matches)
    note = "Correct." if fraction == 1 else f"{right} of {len(matches)} prompts matched to their answer."
    return ItemResult(score=points * fraction, chosen=chosen,
                      category="correct" if fraction == 1 else ("partial" if right else "wrong"),
                      feedback=note, **base)


def _number(raw: str, where: str) -> float:
    try:
        value = float(raw.strip().replace("−", "-"))
    except ValueError:
        raise QuizError(f"{where}: {raw.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise QuizError(f"{where}: {raw.strip()!r} is not a finite number")
    return value


def score_item(variant: dict[str, Any], order: list[int], points: float, raw: str, where: str,
               position: int = 0) -> ItemResult:
    """Score one cell against one variant (order: canonical index shown at each letter)."""
    qid, vid = variant["qid"], variant.get("vid", variant["qid"])
    base = dict(position=position, qid=qid, vid=vid, response=raw.strip(), points=points)
    if not raw.strip():
        return ItemResult(score=0.0, feedback="No answer given.", **base)
    if variant["type"] in ("ordering", "matching"):
        return _score_arranged(variant, order, raw, where, base)
    if variant["type"] == "numeric":
        value = _number(raw, where)
        answer, tol = variant["answer"], variant["abs_tol"]
        if abs(value - answer) <= tol * (1 + 1e-9) + 1e-15:
            return ItemResult(score=points, category="correct", feedback="Correct.", **base)
        for i, m in enumerate(variant.get("misconceptions", [])):
            if abs(value - m["value"]) <= tol * (1 + 1e-9) + 1e-15:
                return ItemResult(score=0.0, category=f"misconception:{i}", feedback=m["feedback"], **base)
        return ItemResult(score=0.0, category="other", feedback="Not within tolerance of the answer.", **base)
    choices = variant["choices"]
    word = raw.strip().upper()
    if variant["type"] == "truefalse" and word in TRUE_WORDS | FALSE_WORDS:
        chosen: tuple[int, ...] = (0,) if word in TRUE_WORDS else (1,)  # canonical: "True" is option 0
    else:
        presented = _letters(raw, len(choices), variant["type"], where)
        chosen = tuple(sorted(order[k] for k in presented))
    wrong_feedback = [choices[i]["feedback"] for i in chosen if not choices[i]["correct"] and choices[i]["feedback"]]
    if variant["type"] == "multiple":
        k = sum(c["correct"] for c in choices)
        w = len(choices) - k
        right = sum(1 for i in chosen if choices[i]["correct"])
        wrong = len(chosen) - right
        fraction = max(0.0, right / k - (wrong / w if w else 0.0))
        missed = k - right
        note = "Correct." if fraction == 1 else (
            f"{right} of {k} correct options marked" + (f", {wrong} wrong" if wrong else "") +
            (f"; missed {missed}" if missed else "") + ".")
        return ItemResult(score=points * fraction, chosen=chosen, category="marked",
                          feedback=" ".join([note, *wrong_feedback]), **base)
    if len(chosen) != 1:
        return ItemResult(score=0.0, chosen=chosen, category="marked",
                          feedback="More than one option marked on a single-answer question.", **base)
    ok = choices[chosen[0]]["correct"]
    return ItemResult(score=points if ok else 0.0, chosen=chosen, category="marked",
                      feedback="Correct." if ok else " ".join(wrong_feedback), **base)


def read_responses(path: str | Path, n_questions: int) -> list[tuple[int, str, list[str]]]:
    """(line, student_id, cells) per row; header and column counts are checked."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise QuizError(f"cannot read responses: {exc.strerror}", file=path) from exc
    except UnicodeDecodeError as exc:
        raise QuizError("responses file is not UTF-8 text", file=path) from exc
    if not rows:
        raise QuizError("responses file is empty", file=path)
    header = [h.strip() for h in rows[0]]
    if not header or header[0] != "student_id":
        raise QuizError("the first column must be 'student_id'", file=path, line=1)
    if len(header) != n_questions + 1:
        raise QuizError(f"the header has {len(header) - 1} question columns but the quiz has {n_questions} "
                        f"(expected student_id,q1..q{n_questions})", file=path, line=1)
    out = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise QuizError(f"row has {len(row)} columns, the header has {len(header)}", file=path, line=line)
        out.append((line, row[0].strip(), row[1:]))
    return out


def grade(key_dir: str | Path, responses: str | Path) -> Grading:
    """Grade every response row against the student's own variant; raise QuizError on bad input."""
    key = load_key(key_dir)
    students = {s["student_id"]: s for s in key["students"]}
    n_questions = len(key["questions"])
    rows = read_responses(responses, n_questions)
    results, seen = [], {}
    for line, sid, cells in rows:
        if sid not in students:
            raise QuizError(f"unknown student {sid!r} (not in the answer key)", file=responses, line=line)
        if sid in seen:
            raise QuizError(f"student {sid!r} also answered on line {seen[sid]}", file=responses, line=line)
        seen[sid] = line
        s = students[sid]
        result = StudentResult(sid, s.get("name", ""), s.get("code", ""))
        for item, cell in zip(s["items"], cells, strict=True):
            variant = dict(key["variants"][item["vid"]], vid=item["vid"])
            where = f"{Path(responses).name}:{line}: student {sid}, question {item['position']}"
            result.items.append(score_item(variant, item["order"], float(item["points"]), cell, where,
                                           item["position"]))
        results.append(result)
    if not results:
        raise QuizError("no response rows to grade", file=responses)
    return Grading(key, results)
