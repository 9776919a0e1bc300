"""`deepgrade quiz check`'s examiner rules, each on a test bank built to break it (tests/quizzes/data/)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from quizzes.bank import load_bank
from quizzes.lint import check_bank
from quizzes.variants import render_variant

DATA = Path(__file__).parent / "data"
RULES = DATA / "lint_rules.yaml"

# question id -> (words the error must contain, the field whose line it must name)
EXPECTED = {
    "constant-key": ("the key is 1 in every variant", "answer"),
    "degenerate-key": ("the key is 5 in", "answer"),
    "key-in-stem": ("equals a number printed in the stem", "answer"),
    "near-zero-key": ("at or near zero under the absolute tolerance", "tolerance"),
    "misconception-collides": ("misconception 4 is within tolerance of the answer 4", "misconceptions"),
    "tolerance-vs-precision": ("asks for 3 significant digits, but the tolerance", "tolerance"),
    "at-threshold": ("exactly the vanished threshold (< 1e-6)", "thresholds"),
    "key-at-threshold": ("the key 10000 is exactly the spread threshold (> 10000)", "thresholds"),
    "float-noise": ("floating-point noise", "explanation"),
    "double-sign": ("double sign", "explanation"),
    "negative-base": ("negative base without brackets", "explanation"),
    "count-of-one-plural": ("reads '1 of the 3 norms are'", "explanation"),
    "matching-self-cue": ("repeats a word of its own prompt 'Batch normalization' (batch", "pairs"),
}


@pytest.fixture(scope="module")
def report():
    return check_bank([RULES], seeds=60)


@pytest.mark.parametrize("qid", sorted(EXPECTED))
def test_each_rule_flags_its_question_with_file_and_line(report, qid):
    words, field = EXPECTED[qid]
    errors = {e.qid: e for e in report.errors}
    assert qid in errors, report.summary()
    error = errors[qid]
    question = load_bank([RULES]).questions[qid]
    assert words in error.message
    assert error.line == question.line_of(field)
    assert str(error).startswith(f"{RULES}:{error.line}: question '{qid}': ")


def test_every_question_of_the_rule_bank_is_flagged(report):
    assert {e.qid for e in report.errors} == set(EXPECTED)
    assert not report.ok


def test_a_numeric_question_without_precision_gets_a_warning(report):
    warned = [w for w in report.warnings if "states no precision" in w]
    assert len(warned) == 1 and "near-zero-key" in warned[0]


def test_longest_key_rate_is_a_bank_wide_warning():
    report = check_bank([DATA / "longest_key.yaml"], seeds=5)
    assert report.ok  # advice, not an error
    [warning] = [w for w in report.warnings if "strictly the longest option" in w]
    assert "6 of 6 single-choice questions" in warning
    assert "longest-1 (" in warning and "longest_key.yaml:4)" in warning


def test_keys_listed_first_everywhere_are_an_error():
    report = check_bank([DATA / "key_first.yaml"], seeds=5)
    [error] = report.errors
    assert "option A as written in 8 of 8" in error.message and error.qid == "first-1"
    assert error.line == load_bank([DATA / "key_first.yaml"]).questions["first-1"].line_of("choices")


def test_spread_keys_pass_the_position_rule(tmp_path):
    text = (DATA / "key_first.yaml").read_text()
    # Move the key of every other question to the end: keys at A and D alternate.
    lines = text.splitlines()
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        if line.startswith("  - id: first-") and int(line[-1]) % 2 == 0:
            block = lines[i + 1:i + 9]
            key = block[3]
            rest = block[:3] + block[4:8]
            out += rest[:3] + rest[3:6] + [key] + rest[6:]
            i += 9
            continue
        i += 1
    path = tmp_path / "spread.yaml"
    path.write_text("\n".join(out) + "\n")
    assert check_bank([path], seeds=5).ok


def test_check_command_prints_each_problem_with_its_location():
    from cli import main  # the deepgrade entry point

    result = CliRunner().invoke(main, ["quiz", "check", str(RULES), "--seeds", "30"])
    assert result.exit_code == 1
    assert f"{len(EXPECTED)} problem(s) in the bank" in result.output
    assert f"{RULES}:" in result.output and "Traceback" not in result.output


def test_precision_and_thresholds_write_the_stem(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "topic: prec\nquestions:\n"
        "  - id: p1\n    type: numeric\n    stem: What is 1 / 3?\n    answer: 1 / 3\n"
        "    precision: {sig: 3}\n    explanation: x\n"
        "  - id: p2\n    type: numeric\n    stem: 'Round {{ precision }}: what is 2 / 3?'\n    answer: 2 / 3\n"
        "    precision: {decimals: 2}\n    explanation: x\n"
        "  - id: p3\n    type: numeric\n    thresholds: {weak: '< 1e-4', exploding: '> 100'}\n"
        "    stem: 'Thresholds: {{ thresholds }}. How many?'\n    answer: 2\n    precision: {decimals: 0}\n"
        "    explanation: x\n")
    bank = load_bank([path])
    p1, p2, p3 = (render_variant(bank.questions[q], "s", 0) for q in ("p1", "p2", "p3"))
    assert p1.stem.endswith("Give your answer to 3 significant digits.")
    assert p1.tolerance.kind == "rel" and p1.tolerance.value == pytest.approx(0.01)
    assert p2.stem == "Round 2 decimal places: what is 2 / 3?"
    assert p2.tolerance.kind == "abs" and p2.tolerance.value == pytest.approx(0.01)
    assert p3.stem.startswith("Thresholds: weak < 1e-4, exploding > 100. How many?")
    assert p3.stem.endswith("Give your answer as a whole number.") and p3.tolerance.value == 0.5
    assert check_bank([path], seeds=3).ok


@pytest.mark.parametrize("field, value, message", [
    ("precision", "{digits: 3}", "must be {sig: n}"),
    ("precision", "{sig: 0}", "whole number from 1 to 8"),
    ("thresholds", "{weak: 'below 1e-4'}", "must read like '< 1e-6'"),
    ("source", "[a, b]", "'source' is text"),
])
def test_malformed_structured_fields_are_refused_with_their_line(tmp_path, field, value, message):
    from quizzes.errors import QuizError

    path = tmp_path / "bad.yaml"
    path.write_text(f"topic: bad\nquestions:\n  - id: b1\n    type: numeric\n    {field}: {value}\n"
                    "    stem: x\n    answer: 1\n    tolerance: {abs: 0.5}\n    explanation: x\n")
    with pytest.raises(QuizError, match=message.replace("{", r"\{").replace("(", r"\(")) as err:
        load_bank([path])
    assert err.value.line == 5


def test_values_labels_and_shared_subject_words_are_not_flagged(tmp_path):
    # "about 1 are" is a value, "layer 1 gradients" a label; a word every prompt has ("gradient") is no cue.
    path = tmp_path / "fine.yaml"
    path.write_text(
        "topic: fine\nquestions:\n"
        "  - id: f1\n    type: truefalse\n    stem: Norms up to about 1 are healthy.\n    answer: true\n"
        "    feedback: x\n    explanation: Layer 1 gradients shrink most; 21 layers, 0.1 layers.\n"
        "  - id: f2\n    type: matching\n    stem: Match each finding to its remedy.\n    pairs:\n"
        "      - {prompt: 'a gradient norm above 100', answer: Apply gradient clipping}\n"
        "      - {prompt: 'vanished gradients below 1e-6', answer: Switch to ReLU}\n"
        "    distractors: [Train for more epochs]\n    explanation: x\n")
    report = check_bank([path], seeds=3)
    assert report.ok, report.summary()
