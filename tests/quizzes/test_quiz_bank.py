"""The shipped bank, bank loading errors, lint, and the sandbox."""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path

import pytest
from quiz_helpers import write

from quizzes.bank import load_bank
from quizzes.errors import QuizError
from quizzes.lint import check_bank
from quizzes.variants import render_variant


@pytest.fixture(scope="module")
def bank():
    return load_bank()


def test_shipped_bank_size_and_topics(bank):
    qs = list(bank.questions.values())
    per_topic = Counter(q.topic for q in qs)
    assert set(per_topic) == {"activations", "exploding", "initialization", "normalization", "residual",
                              "optimizers", "overfitting", "gradient-health"}
    assert len(qs) >= 60
    assert min(per_topic.values()) >= 5
    assert sum(q.parameterized for q in qs) >= 20
    assert {q.type for q in qs} == {"single", "multiple", "truefalse", "numeric"}


def test_every_knowledge_check_fact_is_covered(bank):
    # The six questions of the course notebook's knowledge check (seed 003), by tag, with a word
    # each covering question must be about.
    facts = {"kc-1": "memoriz", "kc-2": "validation loss", "kc-3": "0.25", "kc-4": "relu",
             "kc-5": "early stopping", "kc-6": "nan"}
    for tag, word in facts.items():
        covering = [q for q in bank.questions.values() if tag in q.tags]
        assert covering, tag
        text = " ".join(render_variant(q, "kc", 0).stem + render_variant(q, "kc", 0).explanation +
                        " ".join(c.text for c in render_variant(q, "kc", 0).choices) for q in covering)
        assert word in text.lower(), (tag, word)


def test_distractors_carry_feedback(bank):
    for q in bank.questions.values():
        v = render_variant(q, "fb", 1)
        for c in v.choices:
            if not c.correct:
                assert c.feedback.strip(), (q.id, c.text)
        for _, feedback in v.misconceptions:
            assert feedback.strip(), q.id


def test_shipped_bank_passes_lint():
    report = check_bank()
    assert report.ok, report.summary()
    assert "OK" in report.summary()


def _bank(tmp_path: Path, body: str, name: str = "t.yaml") -> Path:
    return write(tmp_path / name, "topic: test\nquestions:\n" + textwrap.indent(textwrap.dedent(body), "  "))


GOOD_Q = """\
- id: good
  type: single
  stem: Pick A.
  explanation: A is right.
  choices:
    - {text: A, correct: true}
    - {text: B, feedback: not B}
    - {text: C, feedback: not C}
"""


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = _bank(tmp_path, GOOD_Q + "- id: broken\n  stem: [unclosed\n  type: single\n")
    with pytest.raises(QuizError) as err:
        check_bank([path])
    assert str(path) in str(err.value)
    assert err.value.line is not None and err.value.line >= 10
    assert "invalid YAML" in str(err.value)


def test_duplicate_id_across_files_names_both(tmp_path):
    first = _bank(tmp_path, GOOD_Q, "a.yaml")
    second = _bank(tmp_path, "\n" + GOOD_Q, "b.yaml")
    with pytest.raises(QuizError) as err:
        check_bank([first, second])
    msg = str(err.value)
    assert "duplicate id" in msg and "good" in msg
    assert f"{second}:4" in msg and f"{first}:3" in msg


def test_duplicate_yaml_key_is_an_error(tmp_path):
    path = _bank(tmp_path, GOOD_Q.replace("  stem: Pick A.\n", "  stem: Pick A.\n  stem: again\n"))
    with pytest.raises(QuizError, match="duplicate key 'stem'") as err:
        load_bank([path])
    assert err.value.line == 6


def test_unknown_key_names_its_line(tmp_path):
    path = _bank(tmp_path, GOOD_Q.replace("  explanation:", "  anwser: x\n  explanation:"))
    with pytest.raises(QuizError, match="unknown key 'anwser'") as err:
        load_bank([path])
    assert err.value.line == 6 and err.value.qid == "good"


def test_distractor_without_feedback_is_rejected(tmp_path):
    path = _bank(tmp_path, GOOD_Q.replace("{text: B, feedback: not B}", "{text: B}"))
    with pytest.raises(QuizError, match="needs feedback"):
        load_bank([path])


def test_lint_catches_distractor_equal_to_answer(tmp_path):
    path = _bank(tmp_path, """\
        - id: same-value
          type: single
          stem: What is 2 / 4?
          explanation: Half.
          choices:
            - {value: 2 / 4, correct: true}
            - {value: 1 / 2, text: "one half", feedback: same thing}
            - {value: 0.25, feedback: squared}
        - id: numeric-same
          type: numeric
          stem: What is 1 + 1?
          answer: 2
          tolerance: {abs: 0.1}
          misconceptions:
            - {value: 4 / 2, feedback: also two}
          explanation: Two.
        """)
    report = check_bank([path])
    assert not report.ok
    by_id = {e.qid: str(e) for e in report.errors}
    assert "distractor equals the answer" in by_id["same-value"]
    assert "within tolerance of the answer" in by_id["numeric-same"]
    assert f"{path}:" in by_id["same-value"]


def test_lint_catches_identical_option_texts_and_unspread_answers(tmp_path):
    path = _bank(tmp_path, """\
        - id: twins
          type: single
          stem: Pick.
          explanation: x
          choices:
            - {text: Same, correct: true}
            - {text: "  same ", feedback: dup}
        - id: always-a
          type: single
          shuffle: false
          stem: Pick.
          explanation: x
          choices:
            - {text: A, correct: true}
            - {text: B, feedback: b}
            - {text: C, feedback: c}
        """)
    report = check_bank([path])
    by_id = {e.qid: str(e) for e in report.errors}
    assert "read the same" in by_id["twins"]
    assert "not spread evenly" in by_id["always-a"] and "shuffle: true" in by_id["always-a"]


def test_lint_rejects_tolerance_that_accepts_zero_or_rejects_the_key(tmp_path):
    path = _bank(tmp_path, """\
        - id: loose
          type: numeric
          stem: Small?
          answer: 0.001
          tolerance: {abs: 0.01}
          explanation: x
        - id: tight
          type: numeric
          stem: Third?
          answer: 1 / 3
          tolerance: {abs: 0.0000001}
          explanation: x
        """)
    by_id = {e.qid: str(e) for e in check_bank([path]).errors}
    assert "0 would pass" in by_id["loose"]
    assert "rejects it" in by_id["tight"]


def test_relative_tolerance_above_20_percent_is_refused(tmp_path):
    path = _bank(tmp_path, """\
        - id: wide
          type: numeric
          stem: x?
          answer: 3
          tolerance: {rel: 0.5}
          explanation: x
        """)
    with pytest.raises(QuizError, match="more than 20%"):
        load_bank([path])


@pytest.mark.parametrize("expression", [
    "{{ ''.__class__.__mro__ }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ he_var.__globals__ }}",
    "{{ n.__class__ }}",
])
def test_sandbox_refuses_dunder_access(tmp_path, expression):
    path = _bank(tmp_path, f"""\
        - id: evil
          type: numeric
          params:
            n: {{choice: [1, 2]}}
          stem: "{expression}"
          answer: n
          tolerance: {{abs: 0.1}}
          explanation: x
        """)
    bank = load_bank([path])
    with pytest.raises(QuizError) as err:
        render_variant(bank.questions["evil"], "s", 0)
    assert "sandbox refused" in str(err.value) and "unsafe" in str(err.value)
    assert err.value.qid == "evil" and err.value.line == 7


def test_sandbox_has_no_builtins_and_caps_powers(tmp_path):
    path = _bank(tmp_path, """\
        - id: open-file
          type: numeric
          stem: "{{ open('/etc/passwd') }}"
          answer: 1
          tolerance: {abs: 0.1}
          explanation: x
        - id: huge
          type: numeric
          stem: x
          answer: 10 ** 100000
          tolerance: {abs: 0.1}
          explanation: x
        - id: mutate
          type: numeric
          stem: "{{ {'a': 1}.update(b=2) }}"
          answer: 1
          tolerance: {abs: 0.1}
          explanation: x
        """)
    bank = load_bank([path])
    with pytest.raises(QuizError, match="'open' is undefined"):
        render_variant(bank.questions["open-file"], "s", 0)
    with pytest.raises(QuizError, match="exponent 100000 is larger"):
        render_variant(bank.questions["huge"], "s", 0)
    with pytest.raises(QuizError, match="sandbox refused"):
        render_variant(bank.questions["mutate"], "s", 0)


def test_where_that_never_holds_is_reported(tmp_path):
    path = _bank(tmp_path, """\
        - id: impossible
          type: numeric
          params:
            n: {int: [1, 3]}
          where: n > 10
          stem: "n = {{ n }}"
          answer: n
          tolerance: {abs: 0.1}
          explanation: x
        """)
    report = check_bank([path])
    assert "no usable parameter draw" in str(report.errors[0])
    assert report.errors[0].line == 7
