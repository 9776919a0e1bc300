"""Output channels (issue 9 §3): what a submission prints, raises or returns reaches a student
only where the check behind it is shown; every string from the worker is valid, capped
text; Markdown feedback cannot be broken out of."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from autograder.grading import Job, grade_jobs
from autograder.results import (
    MAX_CHECK_TEXT,
    MAX_RESULT_TEXT,
    CheckResult,
    SubmissionResult,
    write_results_json,
)
from autograder.sandbox.wire import MAX_TEXT_BYTES, decode, encode
from cli import main
from tests.conftest import reference_source
from tests.course_helpers import make_course, submit

# The reference, wrapped by a student who remembers every input diagnose_gradients sees and
# replays it later: printed on every call, raised by sigmoid and returned by relu_derivative.
# Hidden checks call diagnose_gradients with 100.0001 (and 9.999e-07), an after_due_date
# check with [0.01, nan, 0.3]; no visible check uses those.
SNOOP = reference_source("activations") + '''

_SEEN = []
_real_diagnose, _real_sigmoid, _real_relu_derivative = diagnose_gradients, sigmoid, relu_derivative
_SECRETS = ("100.0001", "9.999e-07", "nan, 0.3")


def _leaked():
    return [s for s in _SEEN if any(k in s for k in _SECRETS)]


def diagnose_gradients(grad_norms, *args, **kwargs):
    _SEEN.append(repr(list(grad_norms)))
    print("SEEN", _SEEN)
    return _real_diagnose(grad_norms, *args, **kwargs)


def sigmoid(z):
    print("STASH", _SEEN)
    if _leaked():
        raise ValueError("leaked " + " ".join(_leaked()))
    return _real_sigmoid(z)


def relu_derivative(z):
    if _leaked():
        return "leaked " + " ".join(_leaked())
    return _real_relu_derivative(z)


print("IMPORTED-ONCE")
'''


@pytest.fixture(scope="module")
def snoop():
    return grade_jobs([Job("snoop", "activations", {"activations.py": SNOOP.encode()})], workers=1)[0]


def student_visible_text(result: SubmissionResult) -> str:
    """Everything a student is shown before the deadline: notes and visible checks."""
    return result.output + "\n".join(c.output for c in result.checks if c.visibility == "visible")


def test_hidden_and_after_due_inputs_never_reach_visible_output(snoop):
    # Correct, and nothing leaked where it is shown: every visible and after_due_date check
    # passes. (Hidden checks run last and may see the other classes' inputs: they show nothing.)
    shown_checks = [c for c in snoop.checks if c.visibility != "hidden"]
    assert all(c.passed for c in shown_checks), snoop.failures_text()
    shown = student_visible_text(snoop)
    for secret in ("100.0001", "9.999e-07", "nan, 0.3", "leaked"):
        assert secret not in shown
    assert "SEEN" in snoop.output and "STASH" in snoop.output  # visible checks' printing is shown
    # Printed text of other classes stays with its own check (the channel is real: it did print).
    hidden = snoop.check("diagnose_gradients_boundaries")
    later = snoop.check("diagnose_gradients_nonfinite_and_custom_thresholds")
    assert hidden.visibility == "hidden" and "100.0001" in hidden.output
    assert later.visibility == "after_due_date" and "nan, 0.3" in later.output and "100.0001" not in later.output


def test_import_output_is_shown_once_and_checks_keep_grader_order(snoop):
    assert snoop.output.count("IMPORTED-ONCE") == 1
    ids = [c.check_id for c in snoop.checks]
    assert ids.index("derivatives_do_not_modify_input") < ids.index("diagnose_gradients_boundaries")
    assert ids[-1] == "diagnose_gradients_nonfinite_and_custom_thresholds" or "diagnose" in ids[-1]


def test_gradescope_json_keeps_hidden_output_in_hidden_tests(snoop, tmp_path):
    write_results_json(snoop, tmp_path / "results.json")
    data = json.loads((tmp_path / "results.json").read_text())
    assert "100.0001" not in data["output"] and "nan, 0.3" not in data["output"]
    for test in data["tests"]:
        if "100.0001" in test["output"]:
            assert test["visibility"] == "hidden"
        if "nan, 0.3" in test["output"]:
            assert test["visibility"] in ("after_due_date", "hidden")


def test_course_feedback_notes_hold_no_hidden_input(tmp_path):
    root = make_course(tmp_path / "course", ["s1"], ["activations"], due={"activations": "2030-01-01T00:00"})
    submit(root, "activations", "s1", SNOOP)
    assert CliRunner().invoke(main, ["grade", "--course", str(root)]).exit_code == 0
    result = CliRunner().invoke(main, ["feedback", "--course", str(root)])
    assert result.exit_code == 0, result.output
    for page in (root / "feedback" / "activations").iterdir():
        text = page.read_text()
        assert "SEEN" in text  # the visible printing is there
        assert "100.0001" not in text and "nan, 0.3" not in text and "9.999e" not in text


# ---------------------------------------------------------------------------- wire: valid, capped text


def test_wire_makes_worker_strings_valid_utf8_and_caps_them():
    assert decode(encode(["bad \udcff end"])) == ["bad \ufffd\ufffd\ufffd end"]
    big = decode(encode("x" * (MAX_TEXT_BYTES * 8)))
    assert len(big) < MAX_TEXT_BYTES + 100 and big.endswith("(truncated)")
    assert decode(encode({"k\udcff": 1})) == {"k\ufffd\ufffd\ufffd": 1}
    assert decode(encode("exact \udcff"), trusted=True) == "exact \udcff"  # the parent's own paths


SURROGATE = 'def sigmoid(z):\n    raise ValueError("bad byte \\udcff here")\n'


def test_a_surrogate_in_an_exception_does_not_break_course_grading(tmp_path):
    root = make_course(tmp_path / "course", ["s1", "s2"], ["activations"])
    submit(root, "activations", "s1", SURROGATE)
    submit(root, "activations", "s2")
    for force in ([], ["--force"]):
        result = CliRunner().invoke(main, ["grade", "--course", str(root), *force])
        assert result.exit_code == 0, result.output
        assert "s2" in result.output and "100" in result.output
    feedback = CliRunner().invoke(main, ["feedback", "--course", str(root)])
    assert feedback.exit_code == 0, feedback.output
    assert "bad byte \ufffd" in (root / "feedback" / "activations" / "s1.md").read_text()


# ---------------------------------------------------------------------------- caps

# 432 bytes or so: a 40-million-character exception type name, and a worker patched (the
# student's code shares its process) to send it whole, with a 40 MB message and traceback.
HUGE = '''import sys
w = sys.modules["autograder.sandbox.worker"]
w.MAX_NAME = 10**9
w.safe_str = lambda e: "m" * 40_000_000
Huge = type("E" * 40_000_000, (Exception,), {})
def sigmoid(z):
    raise Huge()
def sigmoid_derivative(z):
    raise Huge()
def tanh_derivative(z):
    raise Huge()
def relu_derivative(z):
    raise Huge()
'''


def test_huge_exception_names_and_messages_give_small_results(tmp_path):
    assert len(HUGE) < 500
    # A flat, generous call limit: building 40 MB strings must not meet the calibrated 0.25 s floor
    # on a loaded machine; this test is about the caps on what comes back.
    result = grade_jobs([Job("huge", "activations", {"activations.py": HUGE.encode()})], workers=1,
                        call_timeout=10.0)[0]
    assert result.score == 0
    assert any("(truncated)" in c.output for c in result.checks), result.failures_text()[:2000]
    assert all(len(c.output) <= MAX_CHECK_TEXT for c in result.checks)
    assert len(result.output) + sum(len(c.output) for c in result.checks) <= MAX_RESULT_TEXT
    write_results_json(result, tmp_path / "results.json")
    assert (tmp_path / "results.json").stat().st_size < 2 * MAX_RESULT_TEXT


def test_result_model_caps_every_check_and_the_whole_result():
    checks = [CheckResult(f"c{i}", "c", "t", 0, 1, "failed", "y" * 100_000) for i in range(20)]
    result = SubmissionResult("s", "t", checks, output="z" * 100_000)
    assert all(len(c.output) <= MAX_CHECK_TEXT and c.output.endswith("(truncated)") for c in result.checks)
    assert len(result.output) + sum(len(c.output) for c in result.checks) <= MAX_RESULT_TEXT
    again = SubmissionResult.from_dict(result.to_dict())  # caps are stable on a round trip
    assert again.to_dict() == result.to_dict()


# ---------------------------------------------------------------------------- Markdown feedback

INJECT = reference_source("activations") + '''

_real_sigmoid = sigmoid


def sigmoid(z):
    print("```\\n</pre><script>alert(1)</script>\\n[click](https://evil.example/a)\\r<a href=\\"https://evil.example/b\\">x</a>")
    print("~~~~\\n````````\\n<img src=x onerror=alert(2)>")
    return _real_sigmoid(z)


def relu_derivative(z):
    raise ValueError("```\\n<script>alert(3)</script>\\r\\n[x](https://evil.example/c)")
'''


def test_markdown_feedback_cannot_be_broken_out_of(tmp_path):
    import markdown_it  # the test extra: a CommonMark renderer, raw HTML enabled
    root = make_course(tmp_path / "course", ["s1"], ["activations"], due={"activations": "2020-01-01T00:00"})
    submit(root, "activations", "s1", INJECT)
    assert CliRunner().invoke(main, ["grade", "--course", str(root)]).exit_code == 0
    assert CliRunner().invoke(main, ["feedback", "--course", str(root)]).exit_code == 0
    md = (root / "feedback" / "activations" / "s1.md").read_text()
    assert "alert(1)" in md and "alert(3)" in md  # the text is there, as text
    html = markdown_it.MarkdownIt("commonmark").render(md)
    for live in ("<script", "<a href", "<img", "</pre><script"):
        assert live not in html, html
    assert "&lt;script&gt;alert(1)" in html and "&lt;script&gt;alert(3)" in html
    # Every check is its own list item (no line glued onto the one before), names literal.
    assert html.count("<li>") == sum(1 for line in md.splitlines() if line.startswith("- ")) == 15
    assert "tanh(z)**2" in html  # not "tanh(z)<strong>2"


def test_md_code_fence_outgrows_any_backtick_run():
    from autograder.reports.feedback import md_code, md_text

    block = md_code("a ```` b\r<b>x</b>", "  ")
    assert block.splitlines()[0] == "  `````text" and block.splitlines()[-1] == "  `````"
    assert all(line.startswith("  ") for line in block.splitlines())
    assert md_text("[x](y) <b> a_b (c)") == "\\[x\\](y) \\<b\\> a\\_b (c)"


def _output_requests(monkeypatch, source: str) -> tuple[SubmissionResult, int]:
    """Grade ``source`` as activations; the result and how many output requests the worker got."""
    from autograder.sandbox import proxy

    asked = []
    request = proxy.Connection.request

    def counting(conn, message, *args, **kwargs):
        if message[0] == "output":
            asked.append(message)
        return request(conn, message, *args, **kwargs)

    monkeypatch.setattr(proxy.Connection, "request", counting)
    return grade_jobs([Job("quiet", "activations", {"activations.py": source.encode()})], workers=1)[0], len(asked)


def test_printed_output_is_asked_for_only_when_the_worker_may_have_printed(monkeypatch):
    # A pipeline's reply says how much the worker has printed: with nothing new, the parent
    # does not ask (one round trip per check saved), and what is printed is still shown.
    quiet, asked = _output_requests(monkeypatch, reference_source("activations"))
    assert quiet.score == 100 and asked == 0
    chatty, asked = _output_requests(monkeypatch, SNOOP)
    assert asked > 0 and "100.0001" in chatty.check("diagnose_gradients_boundaries").output
    # Streams the student replaced are never flushed by the worker on its own (that would run
    # student code outside any limit): the parent asks, under its time limit, and shows it.
    replaced = reference_source("activations") + '''
import sys as _sys
class _Stream:
    def __init__(self, inner):
        self.inner, self.kept = inner, []
    def write(self, text):
        self.kept.append(text)
        return len(text)
    def flush(self):
        self.inner.write("".join(self.kept))
        self.inner.flush()
        self.kept = []
_sys.stdout = _Stream(_sys.stdout)
_diagnose = diagnose_gradients
def diagnose_gradients(grad_norms, *args, **kwargs):
    print("BUFFERED", list(grad_norms))
    return _diagnose(grad_norms, *args, **kwargs)
'''
    result, asked = _output_requests(monkeypatch, replaced)
    shown = result.check("diagnose_gradients_boundaries").output
    assert asked > 0 and "BUFFERED" in shown and "100.0001" in shown


def test_a_flush_the_student_replaced_costs_nothing_but_its_own_output_time(monkeypatch):
    # sys.stdout stays the worker's own object but its flush is the student's (and slow): the
    # worker must not run it after each batch (outside every call's limit); asked for under the
    # output request's own limit, as before, it costs no point.
    slow_flush = reference_source("activations") + """
import sys as _sys, time as _time
def _flush():
    end = _time.process_time() + 0.3
    while _time.process_time() < end:
        pass
_sys.stdout.flush = _flush
"""
    result, asked = _output_requests(monkeypatch, slow_flush)
    assert result.score == 100, result.failures_text()
    assert asked > 0  # the worker said it could not tell; the parent asked
