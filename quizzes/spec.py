"""Quiz specs and rosters: which questions a quiz draws, and who takes it.

A spec (quizzes/specs/*.yaml)::

    title: "Week 5: gradient problems"
    instructions: "Answer every question. ..."
    seed: 2025
    shuffle_questions: true      # each student sees the questions in their own order
    shuffle_choices: true        # and the options in their own order
    draw:
      - {topic: activations, count: 2}
      - {topic: initialization, count: 1, difficulty: [medium, hard], points: 2}
      - {ids: [health-diagnose-norms]}

The questions are chosen once from the seed (every student answers the same
questions, which item analysis needs); parameters, question order and option
order then vary per student, deterministic from (seed, student id).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from .bank import Bank, load_bank
from .errors import QuizError
from .model import DIFFICULTIES, Item, Question, StudentQuiz
from .params import rng_for, short_hash
from .variants import choice_order, render_variant
from .yamlio import LineDict, load_yaml

SPECS_DIR = Path(__file__).resolve().parent / "specs"
SPEC_KEYS = {"title", "instructions", "seed", "shuffle_questions", "shuffle_choices", "draw", "bank"}
DRAW_KEYS = {"topic", "count", "difficulty", "points", "ids"}


@dataclass(frozen=True)
class Draw:
    """One line of a spec's draw list: some questions of a topic, or explicit ids."""

    topic: str | None
    count: int
    ids: tuple[str, ...]
    difficulty: tuple[str, ...]
    points: float | None
    line: int


@dataclass(frozen=True)
class QuizSpec:
    """A parsed quiz spec."""

    title: str
    instructions: str
    seed: int | str
    shuffle_questions: bool
    shuffle_choices: bool
    draws: tuple[Draw, ...]
    bank_paths: tuple[str, ...]
    file: str = ""


@dataclass(frozen=True)
class Student:
    """A roster entry."""

    student_id: str
    name: str = ""


def load_spec(path: str | Path) -> QuizSpec:
    """Parse and validate a quiz spec file."""
    path = Path(path)
    data = load_yaml(path)
    if not isinstance(data, LineDict):
        raise QuizError("a quiz spec is a mapping with title, seed and draw", file=path, line=1)

    def fail(msg: str, key: str | None = None, line: int | None = None) -> QuizError:
        return QuizError(msg, file=path, line=line or (data.line_of(key) if key else data.line))

    unknown = set(data) - SPEC_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise fail(f"unknown key {key!r} (allowed: {', '.join(sorted(SPEC_KEYS))})", key)
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise fail("missing 'title'", "title")
    seed = data.get("seed")
    if not isinstance(seed, (int, str)) or isinstance(seed, bool):
        raise fail("'seed' must be an integer or a string", "seed")
    flags = {}
    for key in ("shuffle_questions", "shuffle_choices"):
        flags[key] = data.get(key, True)
        if not isinstance(flags[key], bool):
            raise fail(f"{key!r} must be true or false", key)
    raw_draws = data.get("draw")
    if not isinstance(raw_draws, list) or not raw_draws:
        raise fail("'draw' must list topics with counts or explicit ids", "draw")
    draws = []
    for entry in raw_draws:
        line = getattr(entry, "line", None) or data.line_of("draw")
        if not isinstance(entry, dict) or set(entry) - DRAW_KEYS or ("topic" in entry) == ("ids" in entry):
            raise fail("each draw is {topic: name, count: n} or {ids: [...]}", line=line)
        ids = entry.get("ids") or []
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise fail("'ids' must be a list of question ids", line=line)
        count = entry.get("count", len(ids) if ids else 1)
        if not isinstance(count, int) or count < 1:
            raise fail("'count' must be a positive integer", line=line)
        diff = entry.get("difficulty", list(DIFFICULTIES))
        diff = [diff] if isinstance(diff, str) else diff
        if not isinstance(diff, list) or not set(diff) <= set(DIFFICULTIES):
            raise fail(f"'difficulty' must be among {', '.join(DIFFICULTIES)}", line=line)
        points = entry.get("points")
        if points is not None and (isinstance(points, bool) or not isinstance(points, (int, float)) or points <= 0):
            raise fail("'points' must be a positive number", line=line)
        draws.append(Draw(entry.get("topic"), count, tuple(ids), tuple(diff),
                          None if points is None else float(points), line))
    bank_paths = data.get("bank") or []
    if not isinstance(bank_paths, list):
        raise fail("'bank' must be a list of bank files or folders", "bank")
    resolved = tuple(str((path.parent / p).resolve()) for p in bank_paths)
    return QuizSpec(title=title.strip(), instructions=str(data.get("instructions") or "").strip(), seed=seed,
                    shuffle_questions=flags["shuffle_questions"], shuffle_choices=flags["shuffle_choices"],
                    draws=tuple(draws), bank_paths=resolved, file=str(path))


def spec_bank(spec: QuizSpec) -> Bank:
    """The bank a spec draws from: its own 'bank' list, or the package bank."""
    return load_bank(spec.bank_paths or None)


def select_questions(spec: QuizSpec, bank: Bank) -> list[tuple[Question, float]]:
    """The spec's questions and their points, chosen once from the spec seed."""
    chosen: list[tuple[Question, float]] = []
    taken: set[str] = set()
    for index, draw in enumerate(spec.draws):
        if draw.ids:
            missing = [i for i in draw.ids if i not in bank.questions]
            if missing:
                raise QuizError(f"no question with id {missing[0]!r} in the bank", file=spec.file, line=draw.line)
            picked = [bank.questions[i] for i in draw.ids]
        else:
            pool = [q for q in bank.by_topic(draw.topic or "") if q.difficulty in draw.difficulty
                    and q.id not in taken]
            if len(pool) < draw.count:
                topics = ", ".join(sorted(bank.topics))
                raise QuizError(f"topic {draw.topic!r} has {len(pool)} eligible questions, the spec asks for "
                                f"{draw.count} (topics: {topics})", file=spec.file, line=draw.line)
            idx = rng_for(spec.seed, "select", index).choice(len(pool), size=draw.count, replace=False)
            picked = [pool[int(i)] for i in sorted(idx)]
        for q in picked:
            if q.id in taken:
                raise QuizError(f"question {q.id!r} is drawn twice", file=spec.file, line=draw.line)
            taken.add(q.id)
            chosen.append((q, draw.points if draw.points is not None else q.points))
    return chosen


def student_quiz(spec: QuizSpec, questions: list[tuple[Question, float]], student: Student) -> StudentQuiz:
    """One student's quiz: deterministic from (spec seed, student id)."""
    sid = student.student_id
    order = list(range(len(questions)))
    if spec.shuffle_questions:
        order = [int(i) for i in rng_for(spec.seed, sid, "order").permutation(len(questions))]
    items = []
    for position, qi in enumerate(order, start=1):
        q, points = questions[qi]
        variant = render_variant(q, spec.seed, sid)
        items.append(Item(position, variant, choice_order(variant, spec.shuffle_choices, spec.seed, sid), points))
    code = short_hash(spec.seed, sid, length=6).upper()
    return StudentQuiz(sid, student.name, code, tuple(items))


def load_roster(path: str | Path) -> list[Student]:
    """Read a roster CSV with a student_id column (and optionally name)."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = [f.strip() for f in (reader.fieldnames or [])]
            if "student_id" not in fields:
                raise QuizError("roster needs a 'student_id' column", file=path, line=1)
            students, seen = [], set()
            for row in reader:
                line = reader.line_num
                row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
                sid = row.get("student_id", "")
                if not sid:
                    raise QuizError("empty student_id", file=path, line=line)
                if sid in seen:
                    raise QuizError(f"student_id {sid!r} appears twice", file=path, line=line)
                seen.add(sid)
                students.append(Student(sid, row.get("name", "")))
    except OSError as exc:
        raise QuizError(f"cannot read roster: {exc.strerror}", file=path) from exc
    if not students:
        raise QuizError("roster has no students", file=path)
    return students


def anonymous_students(n: int) -> list[Student]:
    """N anonymous variants, V001..VNNN, for a build without a roster."""
    if n < 1:
        raise QuizError("--variants must be at least 1")
    width = max(3, len(str(n)))
    return [Student(f"V{i:0{width}d}") for i in range(1, n + 1)]
