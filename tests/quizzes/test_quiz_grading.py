"""Grading responses: tolerance, partial credit, per-student variants, bad input, outputs."""

from __future__ import annotations

import csv
import json

import pytest
from quiz_helpers import responses_csv, tiny_spec, write

from quizzes.build import build_quiz
from quizzes.errors import QuizError
from quizzes.grading import grade, score_item
from quizzes.model import LETTERS
from quizzes.report import grade_to_dir
from quizzes.simulate import write_responses

NUMERIC = {"qid": "n", "type": "numeric", "answer": 2.0, "abs_tol": 0.02,
           "misconceptions": [{"value": 4.0, "feedback": "squared instead of doubled"}]}
MULTI = {"qid": "m", "type": "multiple", "choices": [
    {"text": "2", "correct": True, "feedback": ""}, {"text": "4", "correct": True, "feedback": ""},
    {"text": "3", "correct": False, "feedback": "3 is odd"}, {"text": "5", "correct": False, "feedback": "5 is odd"}]}
SINGLE = {"qid": "s", "type": "single", "choices": [
    {"text": "right", "correct": True, "feedback": ""}, {"text": "wrong", "correct": False, "feedback": "no: X"},
    {"text": "other", "correct": False, "feedback": "no: Y"}]}
TF = {"qid": "t", "type": "truefalse", "choices": [
    {"text": "True", "correct": False, "feedback": "it is false"}, {"text": "False", "correct": True,
                                                                    "feedback": "it is false"}]}


@pytest.mark.parametrize(("cell", "score"), [
    ("2", 1), ("2.02", 1), ("1.98", 1), ("2.0201", 0), ("1.9799", 0), ("2e0", 1), (" 2.01 ", 1), ("", 0),
])
def test_numeric_absolute_tolerance(cell, score):
    assert score_item(NUMERIC, [], 1.0, cell, "here").score == score


def test_relative_tolerance_is_stored_as_absolute_per_variant(tmp_path):
    # tiny-numeric has a 2% relative tolerance: the key holds 2% of that variant's answer.
    result = build_quiz(tiny_spec(tmp_path), tmp_path / "out", variants=4, formats="key")
    key = json.loads((result.out / "key" / "answer_key.json").read_text())
    for v in key["variants"].values():
        if v["type"] == "numeric":
            assert v["abs_tol"] == pytest.approx(0.02 * abs(v["answer"]))
            edge = v["answer"] * 1.0199
            assert score_item(v, [], 1.0, repr(edge), "x").score == 1
            assert score_item(v, [], 1.0, repr(v["answer"] * 1.0201), "x").score == 0


def test_numeric_misconception_gets_its_feedback():
    result = score_item(NUMERIC, [], 2.0, "4.01", "here")
    assert result.score == 0 and result.category == "misconception:0"
    assert result.feedback == "squared instead of doubled"
    assert score_item(NUMERIC, [], 2.0, "7", "here").category == "other"


@pytest.mark.parametrize(("cell", "fraction"), [
    ("A,B", 1.0),      # both right options
    ("B,A", 1.0),
    ("AB", 1.0),       # letters without separators
    ("A", 0.5),        # one of two right options: +1/2
    ("A,C", 0.0),      # +1/2 - 1/2
    ("A,B,C", 0.5),    # 1 - 1/2
    ("A,B,C,D", 0.0),  # marking everything earns nothing
    ("C", 0.0),        # floored at 0, not -1/2
    ("", 0.0),
])
def test_multiple_answer_right_minus_wrong(cell, fraction):
    order = [0, 1, 2, 3]
    assert score_item(MULTI, order, 2.0, cell, "here").score == pytest.approx(2.0 * fraction)


def test_multiple_answer_uses_the_students_own_option_order():
    # This student saw the options as C=2, A=4, B=3, D=5 (order[k] = canonical index shown at letter k).
    order = [1, 2, 0, 3]
    assert score_item(MULTI, order, 1.0, "A,C", "here").score == 1.0
    assert score_item(MULTI, order, 1.0, "A,B", "here").score == 0.0


def test_single_choice_and_true_false():
    order = [2, 0, 1]  # 'right' is shown as B
    assert score_item(SINGLE, order, 1.0, "B", "here").score == 1
    wrong = score_item(SINGLE, order, 1.0, "c", "here")  # lower case accepted
    assert wrong.score == 0 and wrong.feedback == "no: X"
    both = score_item(SINGLE, order, 1.0, "A,B", "here")
    assert both.score == 0 and "More than one" in both.feedback
    assert score_item(TF, [0, 1], 1.0, "B", "here").score == 1
    assert score_item(TF, [0, 1], 1.0, "false", "here").score == 1
    assert score_item(TF, [0, 1], 1.0, "T", "here").score == 0


@pytest.mark.parametrize(("variant", "cell", "message"), [
    (SINGLE, "Z", r"'Z' is not a choice letter \(expected A-C\)"),
    (SINGLE, "D", "'D' is not a choice letter"),
    (SINGLE, "7", "not a choice letter"),
    (MULTI, "A,E", "comma-separated"),
    (NUMERIC, "two", "'two' is not a number"),
    (NUMERIC, "nan", "not a finite number"),
])
def test_bad_cells_are_clear_errors(variant, cell, message):
    order = list(range(len(variant.get("choices", []))))
    with pytest.raises(QuizError, match=message) as err:
        score_item(variant, order, 1.0, cell, "responses.csv:3: student s1, question 2")
    assert "responses.csv:3: student s1, question 2" in str(err.value)


@pytest.fixture()
def built(tmp_path):
    return build_quiz(tiny_spec(tmp_path), tmp_path / "build", variants=3, formats="key")


def _correct_row(student) -> list[str]:
    row = [student.student_id]
    for item in student.items:
        v = item.variant
        row.append(repr(v.answer) if v.type == "numeric" else item.correct_letters())
    return row


def test_each_student_is_graded_against_their_own_variant(tmp_path):
    built = build_quiz(tiny_spec(tmp_path, shuffle=False), tmp_path / "build", variants=8, formats="key")
    students = built.quiz.students
    rows = [_correct_row(s) for s in students]
    # A student who copies a neighbour with other parameters must not score full marks.
    copier = next(k for k in range(1, len(rows)) if rows[k][4] != rows[0][4])
    rows[copier] = [students[copier].student_id, *rows[0][1:]]
    path = responses_csv(tmp_path / "r.csv", 4, rows)
    grading = grade(built.out, path)
    scores = {r.student_id: r.score for r in grading.results}
    assert all(scores[s.student_id] == 4 for k, s in enumerate(students) if k != copier)
    assert scores[students[copier].student_id] == 3


@pytest.mark.parametrize(("content", "message", "line"), [
    ("student_id,q1,q2,q3,q4\nV999,A,A,A,1\n", "unknown student 'V999'", 2),
    ("student_id,q1,q2,q3\nV001,A,A,A\n", "header has 3 question columns but the quiz has 4", 1),
    ("student_id,q1,q2,q3,q4\nV001,A,A,A\n", "row has 4 columns, the header has 5", 2),
    ("id,q1,q2,q3,q4\nV001,A,A,A,1\n", "first column must be 'student_id'", 1),
    ("student_id,q1,q2,q3,q4\nV001,,,,\nV001,,,,1\n", "also answered on line 2", 3),
])
def test_bad_response_files_fail_with_file_and_line_and_write_nothing(built, tmp_path, content, message, line):
    path = write(tmp_path / "responses.csv", content)
    with pytest.raises(QuizError, match=message) as err:
        grade_to_dir(built.out, path, tmp_path / "grades")
    assert err.value.line == line and str(path) in str(err.value)
    assert not (tmp_path / "grades").exists()


def test_non_letter_answer_in_a_file_names_student_and_question(built, tmp_path):
    s = built.quiz.students[0]
    cells = ["?"] * 4
    numeric_pos = next(i.position for i in s.items if i.variant.type == "numeric")
    cells[numeric_pos - 1] = "1"
    path = responses_csv(tmp_path / "r.csv", 4, [[s.student_id, *cells]])
    with pytest.raises(QuizError, match=rf"r.csv:2: student {s.student_id}, question 1: '\?' is not a choice"):
        grade(built.out, path)


def test_missing_key_is_a_clear_error(tmp_path):
    path = responses_csv(tmp_path / "r.csv", 1, [["a", "B"]])
    with pytest.raises(QuizError, match="no answer_key.json"):
        grade(tmp_path, path)


def test_grade_outputs(tmp_path):
    result = build_quiz(tiny_spec(tmp_path), tmp_path / "build", variants=12, formats="key")
    responses = write_responses(result.quiz, tmp_path / "responses.csv", seed=3)
    outcome = grade_to_dir(result.out, responses, tmp_path / "grades")
    with (tmp_path / "grades" / "scores.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 12 and set(rows[0]) >= {"student_id", "score", "max_score", "percent", "tiny-numeric"}
    assert all(float(r["max_score"]) == 4 for r in rows)
    with (tmp_path / "grades" / "item_analysis.csv").open() as fh:
        items = list(csv.DictReader(fh))
    assert [i["question"] for i in items] == ["tiny-single", "tiny-multiple", "tiny-tf", "tiny-numeric"]
    assert all(0 <= float(i["difficulty"]) <= 1 for i in items)
    assert "right {1}" in items[0]["option_counts"]
    feedback = sorted(p.name for p in (tmp_path / "grades" / "feedback").iterdir())
    assert len(feedback) == 12
    page = (tmp_path / "grades" / "feedback" / feedback[0]).read_text()
    assert "Right answer" in page and "Your answer" in page
    report = (tmp_path / "grades" / "report.html").read_text()
    assert report.count("data:image/png;base64,") == 3  # histogram, scatter, distractor bars
    assert "Cronbach" in report and "KR-20" in report
    assert "alpha" in outcome.summary()


def test_letters_cover_the_largest_question():
    assert len(LETTERS) == 10
