"""Checks run directly (without pytest's per-test protocol) record exactly what the protocol would."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autograder import grading
from autograder.demo import make_class
from autograder.grading import GradingPlugin, available_topics, jobs_for_folder, run_session


def records(jobs: list, direct: bool, monkeypatch: pytest.MonkeyPatch) -> list:
    """Every check's (student, topic, check, status, score, output) from one session."""
    seen: list[bool] = []
    with monkeypatch.context() as m:
        if not direct:
            m.setattr(GradingPlugin, "_plain", staticmethod(lambda item: False))
        collect = GradingPlugin.pytest_collection_modifyitems

        def spy(plugin, items):
            collect(plugin, items)
            seen.append(plugin.direct)

        m.setattr(GradingPlugin, "pytest_collection_modifyitems", spy)
        results: list = []
        run_session(jobs, results.append)
    assert seen == [direct]
    return sorted((r.student_id, r.topic, c.check_id, c.status, c.score, c.output)
                  for r in results for c in r.checks)


def test_the_graders_checks_run_directly_with_the_same_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # A correct, two buggy and a hostile student (mallory patches numpy, forges values, reads
    # files): every check's status, points and message are the same either way. Eve is left
    # out: where her output flood ends (output cap or CPU limit) depends on the machine's load.
    sample = make_class(tmp_path / "sample")
    keep = {"ada", "ben", "dev", "mallory"}
    for folder in sample.iterdir():
        if folder.name not in keep:
            shutil.rmtree(folder)
    jobs = jobs_for_folder(sample, available_topics())
    direct = records(jobs, True, monkeypatch)
    assert direct == records(jobs, False, monkeypatch)
    assert {s for s, *_ in direct} == keep and len(direct) > 4 * 60
    assert {r[3] for r in direct} == {"passed", "failed"}


def test_a_check_whose_fixture_fails_is_recorded_as_through_pytest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # The submission fixture's failure (setup) fails the check with the grader's message, the
    # other checks run; both paths record it the same way.
    reference = (Path(grading.__file__).parents[1] / "solutions" / "residual.py").read_bytes()
    jobs = [grading.Job("s1", "residual", {"residual.py": reference})]
    calls = {"n": 0}
    real = GradingPlugin.submission_for

    def flaky(plugin, key):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("no worker for you")
        return real(plugin, key)

    monkeypatch.setattr(GradingPlugin, "submission_for", flaky)
    direct = records(jobs, True, monkeypatch)
    calls["n"] = 0
    assert direct == records(jobs, False, monkeypatch)
    failed = [r for r in direct if "no worker for you" in r[5]]
    assert len(failed) == 1 and failed[0][3] == "failed" and failed[0][4] == 0
    assert "the grader could not judge this answer (RuntimeError: no worker for you)" in failed[0][5]
    assert sum(1 for r in direct if r[3] == "passed") >= 1
