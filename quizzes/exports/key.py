"""Machine-readable answer key: answer_key.json (everything grading needs) and variants.csv.

The key is self-contained: grading reads it, never the bank, so a bank edited after the quiz
cannot change anyone's grade. Rendered variants are stored once and students point at them
with their option order.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from ..assemble import BuiltQuiz
from ..model import Variant
from .common import answer_text

KEY_FORMAT = "deepgrade-quiz-key/1"
KEY_FILE = "answer_key.json"


def variant_record(v: Variant) -> dict[str, Any]:
    """A variant as plain JSON data."""
    record: dict[str, Any] = {
        "qid": v.qid, "topic": v.topic, "type": v.type, "difficulty": v.difficulty,
        "stem": v.stem, "explanation": v.explanation,
        "params": {name: value for name, value in v.params},
    }
    if v.type == "numeric":
        assert v.tolerance is not None
        record.update(answer=v.answer, abs_tol=v.abs_tol,
                      tolerance={"kind": v.tolerance.kind, "value": v.tolerance.value},
                      misconceptions=[{"value": value, "feedback": fb} for value, fb in v.misconceptions])
    else:
        record["choices"] = [{"text": c.text, "correct": c.correct, "feedback": c.feedback} for c in v.choices]
    if v.type == "matching":  # prompt i's answer is choices[matches[i]]
        record.update(prompts=list(v.prompts), matches=list(v.matches))
    return record


def key_data(quiz: BuiltQuiz) -> dict[str, Any]:
    """The whole key as a JSON-ready dict."""
    variants: dict[str, Any] = {}
    students = []
    for s in quiz.students:
        items = []
        for item in s.items:
            variants.setdefault(item.variant.vid, variant_record(item.variant))
            items.append({"position": item.position, "qid": item.variant.qid, "vid": item.variant.vid,
                          "order": list(item.order), "points": item.points})
        students.append({"student_id": s.student_id, "name": s.name, "code": s.code, "items": items})
    return {
        "format": KEY_FORMAT,
        "title": quiz.spec.title,
        "seed": quiz.spec.seed,
        "spec": Path(quiz.spec.file).name,
        "multiple_answer_rule": "right-minus-wrong: +1/k per correct option chosen (k correct), "
                                "-1/w per wrong option chosen (w wrong), floored at 0",
        "ordering_rule": "longest ordered subset (as Moodle): items in the longest subsequence in the right "
                         "relative order / items, a one-item subsequence counting 0",
        "matching_rule": "prompts matched to their answer / prompts",
        "questions": [{"qid": q.id, "topic": q.topic, "type": q.type, "kind": q.kind, "difficulty": q.difficulty,
                       "points": points} for q, points in quiz.questions],
        "variants": variants,
        "students": students,
    }


def write_key(quiz: BuiltQuiz, dest: Path) -> list[Path]:
    """Write key/answer_key.json and key/variants.csv."""
    dest.mkdir(parents=True, exist_ok=True)
    key_path = dest / KEY_FILE
    key_path.write_text(json.dumps(key_data(quiz), ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    csv_path = dest / "variants.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student_id", "name", "paper_code", "position", "question_id", "variant_id", "answer"])
        for s in quiz.students:
            for item in s.items:
                writer.writerow([s.student_id, s.name, s.code, item.position, item.variant.qid, item.variant.vid,
                                 answer_text(item)])
    return [key_path, csv_path]
