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
    assert set(per_topic) >= {"activations", "exploding", "initialization", "normalization", "residual",
                              "optimizers", "overfitting", "gradient-health"}
    assert len(qs) >= 80
    assert min(per_topic.values()) >= 5
    assert sum(q.parameterized for q in qs) >= 30
    assert {q.type for q in qs} >= {"single", "multiple", "truefalse", "numeric"}


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
        if q.type not in ("single", "multiple", "truefalse", "numeric"):
            continue  # ordering items and matching answers are not distractors
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


# --- Regression tests for the examiner's review of the bank (issue 14 §1) ----------------------------

SEEDS = 400


def _variants(bank, qid, n=SEEDS):
    q = bank.questions[qid]
    return q, [render_variant(q, "regression", s) for s in range(n)]


def test_res_block_forward_key_is_nonzero_for_nearly_everyone(bank):
    # The old where rule forced F(x) < 0: ReLU gave 0 for 64% of students, which leaving out the skip
    # connection also gives.
    _, vs = _variants(bank, "res-block-forward")
    nonzero = sum(v.answer != 0 for v in vs)
    assert nonzero >= 0.95 * len(vs)
    assert all(v.answer != max(0.0, dict(v.params)["f"] * dict(v.params)["x"]) for v in vs)


def test_adam_first_step_key_is_not_the_printed_learning_rate(bank):
    from quizzes.lint import _numbers

    _, vs = _variants(bank, "opt-adam-first-step")
    for v in vs:
        assert not any(v.tolerance.accepts(v.answer, x) for x, _ in _numbers(v.stem)), v.stem
    assert len({v.answer for v in vs}) > 5


def test_batchnorm_output_keys_stay_clear_of_zero(bank):
    q, vs = _variants(bank, "norm-batchnorm-output")
    assert q.tolerance.kind == "abs"
    assert min(abs(v.answer) for v in vs) >= 10 * q.tolerance.value


@pytest.mark.parametrize("qid", ["health-count-vanished", "health-count-weak"])
def test_health_counts_never_show_a_norm_on_a_threshold(bank, qid):
    q, vs = _variants(bank, qid)
    assert {t[2] for t in q.thresholds} >= {1e-6, 1e-4}
    for v in vs:
        assert not {1e-6, 1e-4} & set(dict(v.params)["norms"])


def test_every_precision_accepts_correctly_rounded_answers(bank):
    from quizzes.bank import round_to_precision

    numeric = [q for q in bank.questions.values() if q.type == "numeric" and q.precision and not q.code]
    assert len(numeric) >= 30
    for q in numeric:
        for s in range(50):
            v = render_variant(q, "rounding", s)
            assert v.tolerance.accepts(v.answer, round_to_precision(v.answer, q.precision)), (q.id, v.answer)


def test_l2_update_accepts_three_decimal_answers(bank):
    q, vs = _variants(bank, "over-l2-update")
    assert q.precision == ("decimals", 3) and "3 decimal places" in vs[0].stem
    assert all(v.tolerance.accepts(v.answer, round(v.answer, 3)) for v in vs)


def test_tanh_derivative_survives_a_rounded_tanh_and_its_explanation_adds_up(bank):
    import math
    import re

    q, vs = _variants(bank, "act-tanh-derivative")
    assert q.precision == ("sig", 3)
    for v in vs:
        z = dict(v.params)["z"]
        t3 = float(f"{math.tanh(z):.3g}")  # a student who rounds tanh(z) to 3 digits first
        assert v.tolerance.accepts(v.answer, 1 - t3 * t3), z
        shown_t = float(re.search(r"tanh\(\S+\) = (-?[\d.]+)", v.explanation).group(1))
        assert v.tolerance.accepts(v.answer, 1 - shown_t ** 2), v.explanation


def test_dropout_expected_active_states_its_precision(bank):
    q, vs = _variants(bank, "over-dropout-expected-active")
    assert "1 decimal place" in vs[0].stem
    assert all(v.tolerance.accepts(v.answer, round(v.answer, 1)) for v in vs)


def test_early_restore_epoch_matches_the_assignments_early_stopping(bank):
    import numpy as np

    from solutions.regularization import EarlyStopping

    _, vs = _variants(bank, "over-early-restore-epoch", 100)
    for v in vs:
        p = dict(v.params)
        losses = [float(x) for x in v.stem.split("\n\n")[1].split(", ")]
        stopper = EarlyStopping(patience=p["patience"], min_delta=p["min_delta"])
        for loss in losses:
            if stopper.step(loss, [np.zeros(1)]):
                break
        assert v.answer == stopper.best_epoch + 1  # the reference counts epochs from 0
        assert "saved only at an improving epoch" in v.stem
        lowest = losses.index(min(losses)) + 1
        assert lowest != v.answer and lowest in [m for m, _ in v.misconceptions]


def test_health_diagnosis_agrees_with_the_lecture_code_the_prose_and_the_assignment(bank):
    from solutions.activations import diagnose_gradients

    _, vs = _variants(bank, "health-diagnose-norms")
    seen = set()
    for v in vs:
        norms = [float(x) for x in v.stem.split("\n\n")[1].split(", ")]
        status = diagnose_gradients(norms)["status"]
        [key] = [c.text for c in v.choices if c.correct]
        assert key.lower().startswith(status), (norms, key)
        weak = sum(1 for g in norms if g < 1e-4)
        if status == "warning":
            assert weak > 2  # the lecture's code warns above 2; its prose at 2-3
        if status == "healthy":
            assert max(norms) / min(norms) <= 1e4  # the lecture's spread rule agrees
        seen.add(status)
    assert seen == {"healthy", "warning", "critical"}


def test_ambiguous_questions_now_follow_the_course_code(bank):
    zero = render_variant(bank.questions["res-zero-branch-identity"], "r", 0)
    assert "ReLU(F(x) + x)" in zero.stem and [c.text for c in zero.choices if c.correct] == ["False"]
    inference = render_variant(bank.questions["over-dropout-inference"], "r", 0)
    assert "inverted dropout" in inference.stem
    assert [c.text for c in inference.choices if c.correct] == ["Dropout is switched off and nothing is rescaled."]
    factor = bank.questions["act-per-layer-factor"]
    assert factor.answer == "g0 * f ** (n - 1)" and "layers 1, 2" in factor.stem
    causes = render_variant(bank.questions["expl-causes"], "r", 0)
    assert not any("ReLU" in c.text for c in causes.choices)
    saturating = render_variant(bank.questions["act-saturating-functions"], "r", 0)
    assert sorted(c.text for c in saturating.choices if c.correct) == ["Sigmoid", "Tanh"]
    assert "both directions" in saturating.stem


def test_named_text_errors_are_gone(bank):
    v_first = bank.questions["opt-adam-v-first"]
    v = render_with(v_first, g=-0.2)
    assert "0.04" in v.explanation and "0000" not in v.explanation
    product = render_with(bank.questions["res-product-through-blocks"], d=-0.05, n=10)
    assert "(-0.05)^10" in product.explanation and " -0.05^" not in product.explanation
    defaults = render_variant(bank.questions["opt-adam-defaults"], "r", 0)
    assert "1e-7" in defaults.explanation
    nan = render_variant(bank.questions["health-nan-critical"], "r", 0)
    assert "diagnose_gradients" in nan.explanation
    critical = render_variant(bank.questions["health-critical-rules"], "r", 0)
    assert "lecture" not in critical.stem


def render_with(q, **params):
    from quizzes.variants import render_with_params

    return render_with_params(q, tuple((p.name, params[p.name]) for p in q.params))


def test_choice_keys_are_not_guessable(bank):
    from quizzes.lint import key_position_problem, longest_key_questions

    singles = [q for q in bank.questions.values() if q.type == "single"]
    mine = [q for q in singles if not q.code]
    assert len(longest_key_questions(mine)) <= 0.3 * len(mine)
    assert key_position_problem(singles) is None
    fixed_first = [q for q in mine if not q.parameterized and render_variant(q, "r", 0).correct_indices() == (0,)]
    assert len(fixed_first) <= 0.35 * len(mine)
    fans = render_variant(bank.questions["init-uses-both-fans"], "r", 0)
    assert not any("fan" in c.text for c in fans.choices)


NEW_QUESTIONS = {
    "act-elu-derivative", "act-swish-value", "act-elu-vs-relu", "expl-adaptive-scale", "expl-adaptive-warmup",
    "init-lsuv-scale", "norm-groupnorm-count", "norm-instance-value", "norm-bn-placement",
    "norm-groupnorm-extremes", "opt-momentum-two-steps", "opt-rmsprop-first-step", "over-l1-update",
    "over-param-count", "over-inverted-dropout-scale", "over-augmentation-labels", "over-model-size",
}


def test_new_coverage_is_there_and_traceable(bank):
    assert NEW_QUESTIONS <= set(bank.questions)
    assert len(NEW_QUESTIONS) >= 17
    assert sum(bank.questions[q].parameterized for q in NEW_QUESTIONS) >= 10
    text = " ".join(render_variant(bank.questions[q], "c", 0).stem for q in NEW_QUESTIONS).lower()
    for topic in ("group norm", "instance norm", "elu", "swish", "lsuv", "adaptive clipper", "momentum",
                  "rmsprop", "l1", "augment", "hidden neurons", "batch normalization"):
        assert topic in text, topic


def test_every_question_names_its_source(bank):
    for q in bank.questions.values():
        assert q.source, q.id
        assert any(s in q.source for s in ("seed 00", "solutions/")), (q.id, q.source)
