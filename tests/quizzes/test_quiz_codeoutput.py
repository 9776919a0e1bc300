"""Code-output questions: the confined snippet runner, numeric comparison of printed values, and
bank questions whose key is what the snippet printed."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from quiz_helpers import write

from quizzes.bank import load_bank, load_bank_file
from quizzes.codeoutput import MAX_ELEMENTS, SnippetError, format_output, run_snippet, same_output
from quizzes.errors import QuizError
from quizzes.exports.text import html_block, md_block
from quizzes.lint import lint_question
from quizzes.variants import render_variant


def test_prints_are_kept_as_plain_values():
    out = run_snippet(textwrap.dedent("""\
        z = np.array([-2.0, 0.0, 2.0])
        s = 1 / (1 + np.exp(-z))
        print(np.round(s * (1 - s), 3))
        print(s.shape, float(s.max()) > 0.8)
        total = 0
        for i in range(4):
            if i == 2:
                continue
            total += i ** 2
        print(total)
        """))
    assert out == [[0.105, 0.25, 0.105], ((3,), True), 10]


def test_shape_limits_look_at_shapes_only():
    assert run_snippet("print(np.full((3,), 5000.0))") == [[5000.0, 5000.0, 5000.0]]
    assert run_snippet("print(np.eye(2, 3).shape)") == [(2, 3)]


def test_numpy_methods_that_import_lazily_work():
    assert run_snippet("x = np.array([[2.0], [6.0]])\nprint(x.mean(axis=0), x.var(axis=0))") == [([4.0], [4.0])]


@pytest.mark.parametrize("source, message", [
    ("import os\nprint(1)", "Import is not allowed"),
    ("print(().__class__)", "no leading underscores"),
    ("print(open('/etc/passwd'))", "NameError"),
    ("x = np.ones(3)\nx.tofile('f')\nprint(1)", "attribute 'tofile' of ndarray is not available"),
    ("print(np.load)", "attribute 'load' of SimpleNamespace is not available"),
    ("print(np.zeros(10 ** 6))", f"limited to {MAX_ELEMENTS} elements"),
    ("print(np.eye(40))", "np.eye: arrays are limited"),
    ("print(np.full((100, 100), 1.0))", "np.full: arrays are limited"),
    ("x = np.ones(1000)\nprint(x[:, None] * x)", "broadcast to (1000, 1000)"),
    ("print(2 ** 10 ** 6)", "exponent 1000000 is larger than 1000"),
    ("print('a' * 10 ** 5)", "sequence repetition"),
    ("for i in range(5000):\n    for j in range(5000):\n        k = j\nprint(1)", "more than 20000 lines"),
    ("def f():\n    pass\nprint(1)", "FunctionDef is not allowed"),
    ("x = 1", "prints nothing"),
    ("x = [1]\nprint(x[3])", "code line 2: IndexError"),
])
def test_snippets_are_confined(source, message):
    with pytest.raises(SnippetError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        run_snippet(source)


def test_same_output_compares_numbers_not_text():
    assert same_output([0.105, 0.25], np.array([0.10499, 0.25]).tolist())
    assert not same_output([0.105, 0.25], [0.119, 0.25])
    assert not same_output([[1.0], [2.0]], [1.0, 2.0])  # shape matters
    assert same_output((4, 1), (4, 1)) and not same_output((4, 1), (1, 4))
    assert not same_output(True, 1) and same_output(False, False)


def test_format_output_is_ours_not_numpys():
    assert format_output([0.0, 1.0, 0.7310585786]) == "[0., 1., 0.7311]"
    assert format_output((4,)) == "(4,)" and format_output((4, 1)) == "(4, 1)"
    assert format_output([[1e-7, 2.5]]) == "[[1e-7, 2.5]]"
    # pinned: NumPy's own print options do not reach it
    with np.printoptions(precision=1, floatmode="fixed"):
        assert format_output(run_snippet("print(np.array([0.123456]))")[0]) == "[0.1235]"


BANK = textwrap.dedent("""\
    topic: code
    questions:
      - id: c-num
        type: numeric
        params:
          m: {choice: [1.0, 2.0]}
        stem: What does this print?
        tolerance: {rel: 0.01}
        code: |
          g = np.array([3.0, 4.0])
          norm = np.sqrt(np.sum(g * g))
          print(round(float(g[0] * {{ m }} / norm), 4))
        misconceptions:
          - {value: "min(3, m)", feedback: clipped by value}
        explanation: "The key is {{ answer | num }}."
      - id: c-choice
        type: single
        stem: Which shape is printed?
        code: |
          x = np.ones((4, 3))
          print(x.mean(axis=1, keepdims=True).shape)
        choices:
          - {output: "(4, 1)", feedback: right}
          - {output: "(1, 3)", feedback: batch norm's axis}
          - {output: "(4,)", feedback: keepdims keeps the axis}
        explanation: One mean per example.
    """)


def test_bank_question_key_is_what_the_code_printed(tmp_path):
    qs = {q.id: q for q in load_bank_file(write(tmp_path / "code.yaml", BANK))[2]}
    v = render_variant(qs["c-num"], 1, "s")
    m = dict(v.params)["m"]
    assert v.answer == pytest.approx(3.0 * m / 5.0)
    assert "```\ng = np.array([3.0, 4.0])" in v.stem and f"g[0] * {m} / norm" in v.stem
    assert "<pre class=\"code\"><code>g = np.array" in html_block(v.stem)
    assert "\n    norm = np.sqrt(np.sum(g * g))" in md_block(v.stem)  # indented code block
    c = render_variant(qs["c-choice"], 1, "s")
    assert [(ch.text, ch.correct) for ch in c.choices] == [("(4, 1)", True), ("(1, 3)", False), ("(4,)", False)]
    for q in qs.values():
        lint_question(q, 20)


def test_snippet_errors_name_file_line_and_question(tmp_path):
    fixed = BANK.replace("print(x.mean(axis=1, keepdims=True).shape)", "import os")
    with pytest.raises(QuizError) as exc:
        load_bank([write(tmp_path / "bad.yaml", fixed)])
    text = str(exc.value)
    assert "bad.yaml:21" in text and "c-choice" in text and "Import is not allowed" in text
    templated = BANK.replace("print(round(float(g[0] * {{ m }} / norm), 4))", "print(np.zeros(int({{ m }} * 10 ** 6)))")
    q = load_bank_file(write(tmp_path / "t.yaml", templated))[2][0]
    with pytest.raises(QuizError, match="cannot evaluate 'code'.*limited to 1000 elements"):
        render_variant(q, 1, "s")


def test_an_option_claiming_a_wrong_output_is_no_key(tmp_path):
    wrong = BANK.replace('{output: "(4, 1)", feedback: right}', '{output: "(3, 4)", feedback: right}')
    q = load_bank_file(write(tmp_path / "w.yaml", wrong))[2][1]
    with pytest.raises(QuizError, match="no option is correct"):
        lint_question(q, 5)


def test_shipped_code_output_questions():
    code = [q for q in load_bank().questions.values() if q.code]
    assert len(code) >= 8
    assert all(q.source for q in code)
    assert sum(q.parameterized for q in code) >= 4
    for q in code:
        v = render_variant(q, "check", 1)
        if q.type == "numeric":
            assert v.answer is not None
        else:
            assert sum(c.correct for c in v.choices) == 1
