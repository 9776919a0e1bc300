"""Determinism of variants: same seed and id give the same quiz, different ids differ."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from quiz_helpers import sample_quiz, tiny_spec

from quizzes.assemble import assemble
from quizzes.bank import load_bank
from quizzes.build import build_quiz
from quizzes.spec import Student, load_spec, select_questions, student_quiz
from quizzes.variants import render_variant

ROOT = Path(__file__).resolve().parents[2]


def _fingerprint(quiz) -> list:
    return [(s.student_id, s.code, [(i.variant.vid, i.variant.stem, i.order) for i in s.items])
            for s in quiz.students]


def test_same_seed_and_id_give_the_same_variant():
    bank = load_bank()
    q = bank.questions["expl-clip-global-norm"]
    a, b = render_variant(q, 2025, "s1"), render_variant(q, 2025, "s1")
    assert a == b
    spec = load_spec(ROOT / "quizzes/specs/week5_quiz.yaml")
    questions = select_questions(spec, bank)
    first = student_quiz(spec, questions, Student("s42"))
    again = student_quiz(spec, questions, Student("s42"))
    assert first == again


def test_different_ids_get_different_variants():
    spec = load_spec(ROOT / "quizzes/specs/week5_quiz.yaml")
    questions = select_questions(spec, load_bank())
    quizzes = [student_quiz(spec, questions, Student(f"s{i}")) for i in range(20)]
    orders = {tuple(i.variant.qid for i in s.items) for s in quizzes}
    assert len(orders) == 20  # question order differs per student
    stems = {i.variant.stem for s in quizzes for i in s.items if i.variant.qid == "expl-clip-global-norm"}
    assert len(stems) >= 10  # parameters differ per student
    assert len({s.code for s in quizzes}) == 20
    # ... but every student answers the same questions (item analysis needs that).
    assert len({frozenset(i.variant.qid for i in s.items) for s in quizzes}) == 1


def test_a_different_spec_seed_changes_variants(tmp_path):
    a = assemble(tiny_spec(tmp_path / "a", seed=1), variants=5)
    b = assemble(tiny_spec(tmp_path / "b", seed=2), variants=5)
    assert _fingerprint(a) != _fingerprint(b)


def test_variants_do_not_depend_on_python_hash_randomization():
    # Python's hash() changes between processes; our seeds must not. Two interpreters with
    # different PYTHONHASHSEED must produce the same quiz.
    code = ("from quizzes.assemble import assemble; import json;"
            "q = assemble('quizzes/specs/sample.yaml', roster='quizzes/samples/roster.csv');"
            "print(json.dumps([(s.code, [(i.variant.vid, list(i.order)) for i in s.items]) for s in q.students]))")
    outputs = []
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=str(ROOT))
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                              check=True)
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1]
    here = sample_quiz()
    assert outputs[0] == [[s.code, [[i.variant.vid, list(i.order)] for i in s.items]] for s in here.students]


def test_rebuild_gives_identical_key_and_lms_files(tmp_path):
    spec = tiny_spec(tmp_path)
    build_quiz(spec, tmp_path / "one", variants=6, formats="key,moodle,gift,qti")
    build_quiz(spec, tmp_path / "two", variants=6, formats="key,moodle,gift,qti")
    for rel in ("key/answer_key.json", "key/variants.csv", "moodle/quiz.xml", "gift/quiz.gift", "qti/quiz_qti.zip"):
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes(), rel


def test_choice_shuffling_follows_the_spec(tmp_path):
    shuffled = assemble(tiny_spec(tmp_path / "s", shuffle=True), variants=30)
    fixed = assemble(tiny_spec(tmp_path / "f", shuffle=False), variants=30)
    orders = {i.order for s in shuffled.students for i in s.items if i.variant.qid == "tiny-single"}
    assert len(orders) > 1
    assert {i.order for s in fixed.students for i in s.items} <= {(0, 1, 2), (0, 1, 2, 3), (0, 1), ()}
    assert all([i.variant.qid for i in s.items] == ["tiny-single", "tiny-multiple", "tiny-tf", "tiny-numeric"]
               for s in fixed.students)
    # True/false never shuffles: "True" is always A.
    assert all(i.order == (0, 1) for s in shuffled.students for i in s.items if i.variant.type == "truefalse")
