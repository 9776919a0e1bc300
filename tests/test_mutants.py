"""`deepgrade mutants`: mutant generation, declarations, and the graders' strength on every topic."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from autograder.grading import available_topics
from autograder.mutants import run as mrun
from autograder.mutants.generate import OPERATORS, generate_mutants, solution_regions
from tests.conftest import SOLUTIONS

SOURCE = '''import numpy as np


def f(x, w, eps=1e-8):
    """Docstring."""
    y = x + 1  # outside the solution region: never mutated
    # BEGIN SOLUTION
    s = np.sqrt(np.mean(x * x, axis=0, keepdims=True) + eps)
    out = x.copy() / s
    if np.max(out) > 0:
        out = out @ w.T
    for i in range(1, 3):
        out[i:] = -out[i:]
    return out
    # END SOLUTION
'''


def _pairs(mutants):
    return {(m.operator, m.original, m.mutated) for m in mutants}


def test_mutants_stay_inside_the_solution_region_and_compile():
    mutants = generate_mutants(SOURCE)
    assert solution_regions(SOURCE) == [(8, 14)]
    assert all(8 <= m.line <= 14 for m in mutants)
    assert not any("y = x" in m.before for m in mutants)
    for m in mutants:
        compile(m.source, "mutant", "exec")
        assert m.source != SOURCE
        assert "# outside the solution region: never mutated" in m.source  # comments are kept


def test_every_operator_family_of_the_issue_is_generated():
    mutants = generate_mutants(SOURCE)
    pairs = _pairs(mutants)
    assert ("arithmetic", "x * x", "x / x") in pairs
    assert ("comparison", "np.max(out) > 0", "np.max(out) >= 0") in pairs
    assert ("drop-eps", "np.mean(x * x, axis=0, keepdims=True) + eps", "np.mean(x * x, axis=0, keepdims=True)") in pairs
    assert ("axis", "np.mean(x * x, axis=0, keepdims=True)", "np.mean(x * x, axis=1, keepdims=True)") in pairs
    assert ("keepdims", "np.mean(x * x, axis=0, keepdims=True)", "np.mean(x * x, axis=0)") in pairs
    assert ("reduction", "np.mean", "np.sum") in pairs and ("reduction", "np.max", "np.min") in pairs
    assert ("sqrt", "np.sqrt(np.mean(x * x, axis=0, keepdims=True) + eps)",
            "np.mean(x * x, axis=0, keepdims=True) + eps") in pairs
    assert ("transpose", "w.T", "w") in pairs
    assert ("copy", "x.copy()", "x") in pairs
    assert ("return-local", "return out", "return s") in pairs
    assert ("statement", "out = x.copy() / s", "pass") in pairs
    assert ("negate-condition", "np.max(out) > 0", "not np.max(out) > 0") in pairs
    assert ("off-by-one", "range(1, 3)", "range(2, 3)") in pairs and ("off-by-one", "i:", "i + 1:") in pairs
    assert ("unary-sign", "-out[i:]", "out[i:]") in pairs
    assert {m.operator for m in mutants} >= set(OPERATORS) - {"constant", "ddof"}
    ddof = generate_mutants("def g(x):\n    # BEGIN SOLUTION\n    return x.var(axis=0)\n    # END SOLUTION\n")
    assert ("ddof", "x.var(axis=0)", "x.var(axis=0, ddof=1)") in _pairs(ddof)


def test_spliced_text_keeps_its_meaning_in_context():
    mutants = generate_mutants(SOURCE)
    no_sqrt = next(m for m in mutants if m.operator == "sqrt")
    assert "s = (np.mean(x * x, axis=0, keepdims=True) + eps)" in no_sqrt.source
    src = "def g(a, b, c):\n    # BEGIN SOLUTION\n    return a / np.sqrt(b + c)\n    # END SOLUTION\n"
    m = next(m for m in generate_mutants(src) if m.operator == "sqrt")
    assert "return a / (b + c)" in m.source


def test_keys_are_stable_when_the_file_changes_elsewhere():
    shifted = SOURCE.replace('"""Docstring."""', '"""Docstring.\n\n    Longer now.\n    """\n    z = 3')
    before = {m.key for m in generate_mutants(SOURCE)}
    after = {m.key for m in generate_mutants(shifted)}
    assert before == after
    assert len({m.ident for m in generate_mutants(SOURCE)}) == len(before)  # ids are unique


def test_samples_are_deterministic_for_a_seed():
    source = (SOLUTIONS / "normalization.py").read_text()
    a = [m.key for m in generate_mutants(source, seed=7, limit=12)]
    assert a == [m.key for m in generate_mutants(source, seed=7, limit=12)]
    assert a != [m.key for m in generate_mutants(source, seed=8, limit=12)]
    assert [m.key for m in generate_mutants(source)] == [m.key for m in generate_mutants(source, seed=99)]


def test_declarations_are_validated(tmp_path, monkeypatch):
    monkeypatch.setattr(mrun, "GRADERS_DIR", tmp_path)
    (tmp_path / "t.equivalent.yaml").write_text("- function: f\n  original: a\n  mutated: b\n  kind: same\n  reason: x\n")
    with pytest.raises(mrun.DeclarationError, match="kind 'same'"):
        mrun.load_declarations("t")
    (tmp_path / "t.equivalent.yaml").write_text("- function: f\n  original: a\n  mutated: b\n  kind: tolerated\n")
    with pytest.raises(mrun.DeclarationError, match="lacks reason"):
        mrun.load_declarations("t")


def test_command_reports_killed_mutants_with_their_message():
    from cli import main

    result = CliRunner().invoke(main, ["mutants", "initialization", "--limit", "4", "--seed", "1", "--json",
                                       "--workers", "1"])
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.output)
    assert report["mutants"] == 4 and report["killed"] == 4 and report["score"] == 1.0
    for outcome in report["outcomes"]:
        assert outcome["killed_by"] and not mrun.is_generic(outcome["message"]), outcome


def test_command_refuses_an_unknown_topic_in_one_line():
    from cli import main

    result = CliRunner().invoke(main, ["mutants", "activation"])
    assert result.exit_code != 0
    assert "unknown topic 'activation'" in result.output and "Traceback" not in result.output


@pytest.mark.slow
@pytest.mark.parametrize("topic", available_topics())
def test_no_undeclared_mutant_survives_and_every_kill_teaches(topic):
    """The graders' strength, enforced: a grader edit that lets a plausible bug through fails here."""
    report = mrun.run_mutants(topic, workers=2)
    survivors = [f"{o.function}: {o.original!r} -> {o.mutated!r} (occurrence {o.occurrence}), line {o.line}: {o.after}"
                 for o in report.undeclared_survivors]
    assert not survivors, (f"{len(survivors)} mutant(s) of solutions/{topic}.py get full marks: add a check that "
                           f"names the mistake, or declare it in {topic}.equivalent.yaml with a reason:\n"
                           + "\n".join(survivors))
    unused = [f"{d.function}: {d.original!r} -> {d.mutated!r} (occurrence {d.occurrence})"
              for d in report.unused_declarations]
    assert not unused, f"declarations in {topic}.equivalent.yaml that match no surviving mutant:\n" + "\n".join(unused)
    generic = [f"{o.killed_by[0]}: {o.message!r}" for o in report.outcomes if o.status == "killed"
               and mrun.is_generic(o.message)]
    assert not generic, "checks that fail with a message naming no mistake:\n" + "\n".join(generic)
    assert report.score == 1.0
