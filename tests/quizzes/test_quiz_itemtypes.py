"""Ordering and matching questions: bank rules, shuffling, grading (Moodle's longest ordered
subset), every export, and the warning/--strict path for formats without ordering."""

from __future__ import annotations

import itertools
import json
import textwrap
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from quiz_helpers import write

from quizzes.assemble import assemble
from quizzes.bank import load_bank, load_bank_file
from quizzes.build import build_quiz
from quizzes.cli import quiz as quiz_cli
from quizzes.errors import QuizError
from quizzes.grading import grade, longest_ordered_subset, score_item
from quizzes.model import Item
from quizzes.variants import choice_order, render_variant

BANK = textwrap.dedent("""\
    topic: procedures
    title: Procedures
    questions:
      - id: proc-order
        type: ordering
        stem: Put the steps of batch norm in order.
        items:
          - Compute the batch mean
          - Compute the batch variance
          - Normalize
          - Scale and shift
        explanation: Mean, variance, normalize, then gamma and beta.
      - id: proc-match
        type: matching
        stem: Match each symptom to its remedy.
        pairs:
          - {prompt: "Loss becomes NaN", answer: "Gradient clipping"}
          - {prompt: "Gradients vanish in a sigmoid network", answer: "Switch to ReLU"}
          - {prompt: "Validation loss rises while training loss falls", answer: "Early stopping"}
        distractors: ["Train longer"]
        explanation: Clipping bounds updates; ReLU keeps gradients; early stopping stops memorizing.
      - id: proc-single
        type: single
        stem: Which activation is non-saturating for positive inputs?
        choices:
          - {text: ReLU, correct: true}
          - {text: Sigmoid, feedback: saturates}
          - {text: Tanh, feedback: saturates}
        explanation: ReLU.
    """)


def _spec(tmp_path: Path, ids: list[str], shuffle_choices: bool = True) -> Path:
    bank = write(tmp_path / "bank" / "procedures.yaml", BANK)
    return write(tmp_path / "spec.yaml", textwrap.dedent(f"""\
        title: Procedures quiz
        seed: 11
        shuffle_questions: false
        shuffle_choices: {str(shuffle_choices).lower()}
        bank: [{bank.parent.name}/{bank.name}]
        draw:
          - {{ids: [{", ".join(ids)}]}}
        """))


@pytest.fixture(scope="module")
def questions(tmp_path_factory):
    path = write(tmp_path_factory.mktemp("bank") / "procedures.yaml", BANK)
    return {q.id: q for q in load_bank_file(path)[2]}


# --------------------------------------------------------------------------- the bank

@pytest.mark.parametrize("snippet, message", [
    ("items: [a, b]", "needs 3 to 10 items"),
    ("items: [a, b, a]", "two items read the same"),
    ("items: [a, b, c]\n    shuffle: false", "always shuffled"),
    ("items: [a, b, c]\n    choices: [{text: x, correct: true}]", "has no 'choices'"),
])
def test_ordering_bank_errors_name_the_line(tmp_path, snippet, message):
    text = f"topic: tt\nquestions:\n  - id: q1\n    type: ordering\n    stem: s\n    explanation: e\n    {snippet}\n"
    path = write(tmp_path / "bad.yaml", text)
    with pytest.raises(QuizError) as exc:
        load_bank([path])
    assert message in str(exc.value) and f"{path}:" in str(exc.value)


@pytest.mark.parametrize("snippet, message", [
    ("pairs: [{prompt: a, answer: x}, {prompt: b, answer: y}]", "at least 2 pairs and 3 answers"),
    ("pairs: [{prompt: a, answer: x}, {prompt: a, answer: y}, {prompt: c, answer: z}]", "appears twice"),
    ("pairs: [{prompt: a}, {prompt: b, answer: y}]", "each pair is {prompt: text, answer: text}"),
    ("pairs: [{prompt: a, answer: x}, {prompt: b, answer: y}]\n    distractors: [x]", "is also an answer"),
    ("items: [a, b, c]\n    pairs: [{prompt: a, answer: x}]", "'items' belongs to ordering"),
])
def test_matching_bank_errors(tmp_path, snippet, message):
    text = f"topic: tt\nquestions:\n  - id: q1\n    type: matching\n    stem: s\n    explanation: e\n    {snippet}\n"
    with pytest.raises(QuizError, match=message.replace("{", r"\{").replace("}", r"\}")):
        load_bank([write(tmp_path / "bad.yaml", text)])


def test_matching_prompts_may_share_an_answer(tmp_path):
    text = BANK.replace('answer: "Early stopping"', 'answer: "Switch to ReLU"')
    q = {q.id: q for q in load_bank_file(write(tmp_path / "b.yaml", text))[2]}["proc-match"]
    assert q.matches == (0, 1, 1)
    assert [c.text for c in q.choices] == ["Gradient clipping", "Switch to ReLU", "Train longer"]


def test_shipped_bank_has_ordering_and_matching_questions():
    kinds = {q.kind for q in load_bank().questions.values()}
    assert {"ordering", "matching", "code-output"} <= kinds


# --------------------------------------------------------------------------- shuffling

def test_presented_order_never_gives_the_key_away(questions):
    # With shuffling switched off in the spec, ordering and matching items are still shuffled,
    # and never in their right order, for any student.
    for qid in ("proc-order", "proc-match"):
        v = render_variant(questions[qid], 1, "s")
        seen = set()
        for k in range(300):
            order = choice_order(v, False, 1, f"s{k}")
            assert sorted(order) == list(range(len(v.choices)))
            letters = Item(1, v, order).correct_letters()
            if qid == "proc-order":
                assert order != tuple(range(len(order)))
            else:
                assert letters != "1A,2B,3C"
            seen.add(order)
        assert len(seen) > 5  # really shuffled, not one fixed derangement


# --------------------------------------------------------------------------- grading

def moodle_longest_ordered_subset(positions: list[int]) -> int:
    """A line-by-line port of Moodle's qtype_ordering get_ordered_subsets/get_ordered_subset
    (non-contiguous), including its rule that a one-item subset counts as none."""
    subsets: list[list[int]] = []
    for p, value in enumerate(positions):
        isnew, new = True, []
        for s, subset in enumerate(list(subsets)):  # PHP's foreach iterates over a copy
            end = positions[subset[-1]]
            if value == end + 1:
                isnew = False
                subsets[s] = subsets[s] + [p]
            elif value > end:
                isnew = False
                new.append(list(subset))
                subsets[s] = subsets[s] + [p]
        if isnew:
            new.append([p])
        subsets += new
    best = max((len(s) for s in subsets), default=0)
    return best if best > 1 else 0


@pytest.mark.parametrize("n", [3, 4, 5, 6])
def test_ordering_credit_agrees_with_moodle_on_every_permutation(n):
    for perm in itertools.permutations(range(n)):
        ours = longest_ordered_subset(list(perm))
        assert (ours if ours >= 2 else 0) == moodle_longest_ordered_subset(list(perm)), perm


def _variant_record(questions, qid):
    from quizzes.exports.key import variant_record

    return variant_record(render_variant(questions[qid], 1, "s"))


def test_ordering_scores(questions):
    v = _variant_record(questions, "proc-order")
    order = [2, 0, 3, 1]  # letter A shows item 2, B item 0, C item 3, D item 1; right order: B, D, A, C

    def score(cell: str) -> float:
        return score_item(v, order, 2.0, cell, "test").score

    assert score("B,D,A,C") == 2.0 and score("BDAC") == 2.0
    assert score("D,B,A,C") == pytest.approx(2.0 * 3 / 4)  # D,A,C (or B,A,C) in order: 3 of 4
    assert score("C,A,D,B") == 0.0  # no two items in order: a single item counts as none
    assert score("B,D") == pytest.approx(1.0)  # 2 of 4, the rest not placed
    with pytest.raises(QuizError, match="letter B appears twice"):
        score("B,B,A,C")
    with pytest.raises(QuizError, match="not an order of the letters A-D"):
        score("B,D,A,E")


def test_matching_scores(questions):
    v = _variant_record(questions, "proc-match")
    order = [3, 2, 0, 1]  # A: Train longer, B: Early stopping, C: clipping, D: ReLU
    item = score_item(v, order, 3.0, "C,D,B", "test")
    assert item.score == 3.0 and item.feedback == "Correct."
    assert score_item(v, order, 3.0, "1C 2A 3B", "test").score == pytest.approx(2.0)
    assert score_item(v, order, 3.0, "1-C, 3-B", "test").score == pytest.approx(2.0)
    part = score_item(v, order, 3.0, "C,-,A", "test")
    assert part.score == pytest.approx(1.0) and "1 of 3 prompts" in part.feedback
    with pytest.raises(QuizError, match="no prompt 4"):
        score_item(v, order, 3.0, "4A", "test")
    with pytest.raises(QuizError, match="not an answer letter"):
        score_item(v, order, 3.0, "1F", "test")


def test_grade_end_to_end(tmp_path):
    spec = _spec(tmp_path, ["proc-order", "proc-match"])
    roster = write(tmp_path / "roster.csv", "student_id\na1\na2\n")
    build_quiz(spec, tmp_path / "out", roster=roster, formats="key")
    key = json.loads((tmp_path / "out" / "key" / "answer_key.json").read_text(encoding="utf-8"))
    assert "longest ordered subset" in key["ordering_rule"]
    right = {s["student_id"]: s for s in key["students"]}
    quiz = assemble(spec, roster=roster)
    rows = ["student_id,q1,q2"]
    for s in quiz.students:
        rows.append(f"{s.student_id},\"{s.items[0].correct_letters()}\",\"{s.items[1].correct_letters()}\"")
    write(tmp_path / "responses.csv", "\n".join(rows) + "\n")
    result = grade(tmp_path / "out", tmp_path / "responses.csv")
    assert [r.score for r in result.results] == [2.0, 2.0]
    assert set(right) == {"a1", "a2"}


# --------------------------------------------------------------------------- exports

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("types")
    spec = _spec(tmp, ["proc-order", "proc-match", "proc-single"])
    result = build_quiz(spec, tmp / "out", variants=3)
    return result


def test_build_warns_for_formats_without_ordering(built):
    assert sorted(built.warnings) == [
        "Canvas QTI 1.2 has no ordering questions: qti/ is written without question 'proc-order'",
        "GIFT has no ordering questions: gift/ is written without question 'proc-order'",
    ]


def test_strict_makes_it_an_error_and_writes_nothing(tmp_path):
    spec = _spec(tmp_path, ["proc-order", "proc-single"])
    with pytest.raises(QuizError, match="--strict: GIFT has no ordering questions"):
        build_quiz(spec, tmp_path / "out", variants=2, formats="html,gift", strict=True)
    assert not (tmp_path / "out").exists()
    result = CliRunner().invoke(quiz_cli, ["build", str(spec), "--variants", "2", "--out", str(tmp_path / "o2"),
                                           "--format", "qti", "--strict"])
    assert result.exit_code == 1 and "Canvas QTI 1.2 has no ordering questions" in result.output
    assert "Traceback" not in result.output
    ok = CliRunner().invoke(quiz_cli, ["build", str(spec), "--variants", "2", "--out", str(tmp_path / "o3"),
                                       "--format", "html,moodle", "--strict"])
    assert ok.exit_code == 0, ok.output


def test_moodle_xml_has_ordering_and_matching(built):
    root = ET.parse(built.out / "moodle" / "quiz.xml").getroot()
    ordering = root.find("question[@type='ordering']")
    assert ordering.findtext("gradingtype") == "LONGEST_ORDERED_SUBSET"
    assert ordering.findtext("selecttype") == "ALL"
    answers = ordering.findall("answer")
    assert [a.get("fraction") for a in answers] == ["1.0000000", "2.0000000", "3.0000000", "4.0000000"]
    assert [a.findtext("text") for a in answers] == ["Compute the batch mean", "Compute the batch variance",
                                                     "Normalize", "Scale and shift"]
    matching = root.find("question[@type='matching']")
    subs = matching.findall("subquestion")
    pairs = [(s.findtext("text"), s.findtext("answer/text")) for s in subs]
    assert pairs[0] == ("<p>Loss becomes NaN</p>", "Gradient clipping")
    assert pairs[-1] == ("", "Train longer")  # the distractor: an answer without a prompt
    assert matching.findtext("shuffleanswers") == "true"


def test_gift_has_matching_without_ordering(built):
    text = (built.out / "gift" / "quiz.gift").read_text(encoding="utf-8")
    assert "proc-order" not in text
    assert "  =Loss becomes NaN -> Gradient clipping" in text
    assert "  = -> Train longer" in text


def test_qti_matching_item_and_no_ordering(built):
    with zipfile.ZipFile(built.out / "qti" / "quiz_qti.zip") as zf:
        name = next(n for n in zf.namelist() if n.endswith(".xml") and "/" in n and "meta" not in n
                    and not n.startswith("non_cc"))
        root = ET.fromstring(zf.read(name))
        meta = ET.fromstring(zf.read(next(n for n in zf.namelist() if n.endswith("assessment_meta.xml"))))
    ns = {"q": "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"}
    titles = {i.get("title") for i in root.iterfind(".//q:item", ns)}
    assert titles == {"proc-match", "proc-single"}
    item = next(i for i in root.iterfind(".//q:item", ns) if i.get("title") == "proc-match")
    kinds = [f.findtext("q:fieldentry", namespaces=ns) for f in item.iterfind(".//q:qtimetadatafield", ns)
             if f.findtext("q:fieldlabel", namespaces=ns) == "question_type"]
    assert kinds == ["matching_question"]
    lids = item.findall(".//q:response_lid", ns)
    assert len(lids) == 3 and all(len(lid.findall(".//q:response_label", ns)) == 4 for lid in lids)
    adds = [float(s.text) for s in item.iterfind(".//q:setvar", ns)]
    assert adds == [pytest.approx(33.33)] * 3
    points = meta.find("{http://canvas.instructure.com/xsd/cccv1p0}points_possible").text
    assert float(points) == 2.0  # the ordering question left out of Canvas is not counted


def test_html_and_markdown_show_the_new_types(built):
    page = (built.out / "html" / "students" / "V001.html").read_text(encoding="utf-8")
    assert "Your order (letters, first to last)" in page and page.count('class="slot"') >= 4 + 3
    assert "Loss becomes NaN" in page and "Train longer" in page
    md = (built.out / "md" / "students" / "V001.md").read_text(encoding="utf-8")
    assert "Your order (letters, first to last): ___ → ___ → ___ → ___" in md
    assert "1. [ ___ ] Loss becomes NaN" in md
    key = (built.out / "key" / "variants.csv").read_text(encoding="utf-8")
    assert key.count(",proc-order,") == 3 and key.count(",proc-match,") == 3


def test_simulated_class_answers_ordering_and_matching(tmp_path):
    from quizzes.simulate import write_responses

    spec = _spec(tmp_path, ["proc-order", "proc-match", "proc-single"])
    build_quiz(spec, tmp_path / "out", variants=40, formats="key")
    write_responses(assemble(spec, variants=40), tmp_path / "responses.csv", seed=3)
    result = grade(tmp_path / "out", tmp_path / "responses.csv")
    for position in (0, 1):
        fractions = [r.items[position].fraction for r in result.results if r.items[position].response]
        assert 1.0 in fractions and any(0 < f < 1 for f in fractions)  # right answers and typical slips
