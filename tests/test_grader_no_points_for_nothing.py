"""No points for nothing: a topic whose functions all return wrong values scores 0.

The garbage submissions are the references with every returned value replaced by one of
the right type and shape but wrong values (arrays filled with a constant, flipped bools,
other numbers), so every invariance check (input untouched, new arrays, right dtype and
shape, zero gradients kept zero) still passes on its own; the ``requires`` markers must
withhold those points.
"""

from __future__ import annotations

import ast

import pytest

from autograder.dependencies import apply_requirements
from autograder.grading import Job, available_topics, grade_jobs
from autograder.mutants.generate import solution_regions
from autograder.results import CheckResult
from tests.conftest import reference_source

GARBAGE = '''

def _garbage(value):
    import numpy as _np
    if isinstance(value, _np.ndarray):
        return _np.full(value.shape, FILL) if value.dtype.kind == "f" else value.copy()
    if isinstance(value, (list, tuple)):
        return type(value)(_garbage(v) for v in value)
    if isinstance(value, dict):
        return {k: _garbage(v) for k, v in value.items()}
    if isinstance(value, bool):
        return not value
    if isinstance(value, float):
        return FILL
    if isinstance(value, int):
        return value + 1
    return value
'''


def garbage(topic: str, fill: float) -> str:
    """The reference with every value it returns from a solution region made wrong (shape kept)."""
    source = reference_source(topic)
    if topic == "regularization":  # early stopping's state is its answer: never record anything
        start = source.index("        epoch = self.steps_taken")
        end = source.index("        return self.steps_without_improvement >= self.patience")
        source = source[:start] + "        self.best_loss = FILL\n" + source[end:]
    regions = solution_regions(source)
    returns = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Return) and n.value is not None
               and any(a <= n.lineno <= b for a, b in regions)]
    lines = source.splitlines(keepends=True)
    for node in sorted(returns, key=lambda n: n.lineno, reverse=True):
        value = node.value
        head = lines[value.lineno - 1].encode()[:value.col_offset].decode()
        tail = lines[value.end_lineno - 1].encode()[value.end_col_offset:].decode()
        lines[value.lineno - 1:value.end_lineno] = [f"{head}_garbage({ast.get_source_segment(source, value)}){tail}"]
    return "".join(lines).replace("FILL", repr(fill)) + GARBAGE.replace("FILL", repr(fill))


@pytest.fixture(scope="module")
def garbage_results():
    """Every topic's garbage, zeros and a constant, graded in one run."""
    jobs = [Job(f"{topic}-{name}", topic, {f"{topic}.py": garbage(topic, fill).encode()})
            for topic in available_topics() for name, fill in (("zeros", 0.0), ("constant", 0.37))]
    return {r.student_id: r for r in grade_jobs(jobs, workers=2)}


@pytest.mark.slow
@pytest.mark.parametrize("topic", available_topics())
def test_a_topic_of_wrong_values_scores_zero(garbage_results, topic):
    results = {k: r for k, r in garbage_results.items() if r.topic == topic}
    assert len(results) == 2
    for name, result in results.items():
        assert result.score == 0, f"{name}: {[(c.check_id, c.score) for c in result.checks if c.score]}"
    withheld = [c for r in results.values() for c in r.checks if "count only together with correct values" in c.output]
    if topic not in ("residual", "regularization"):  # there the garbage fails the invariance checks on its own
        assert withheld, "the garbage was meant to pass some invariance check on its own"


def _check(check_id: str, status: str) -> CheckResult:
    return CheckResult(check_id=check_id, name=check_id, topic="t", score=5.0 if status == "passed" else 0.0,
                       max_score=5.0, status=status, output="", visibility="visible")


def test_points_are_withheld_while_every_required_check_fails(monkeypatch):
    from autograder import dependencies

    monkeypatch.setattr(dependencies, "REQUIRES", {("t", "untouched"): ("values", "more_values")})
    out = {c.check_id: c for c in apply_requirements("t", [_check("values", "failed"), _check("more_values", "failed"),
                                                           _check("untouched", "passed")])}
    assert out["untouched"].score == 0 and out["untouched"].status == "failed"
    assert "'values' and 'more values' failed" in out["untouched"].output
    # one function right is enough: a submission with one bug loses only what the bug touches
    out = {c.check_id: c for c in apply_requirements("t", [_check("values", "passed"), _check("more_values", "failed"),
                                                           _check("untouched", "passed")])}
    assert out["untouched"].score == 5.0 and out["untouched"].status == "passed"
