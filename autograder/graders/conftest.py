"""Fixtures shared by every grader module."""

from __future__ import annotations

import sys

import pytest

from autograder.dependencies import record_requirements
from autograder.grading import PLUGIN_KEY


def pytest_collection_finish(session: pytest.Session) -> None:
    """Same submission, same score: Hypothesis draws the same examples every run.

    Set only when a grader imported Hypothesis (importing it costs ~0.25 s of every
    `deepgrade grade`); its settings are read when a test runs, after collection.
    """
    hypothesis = sys.modules.get("hypothesis")
    if hypothesis is None:
        return
    settings, health = hypothesis.settings, hypothesis.HealthCheck
    settings.register_profile(
        "graders", derandomize=True, database=None, deadline=None, max_examples=25,
        suppress_health_check=list(health), print_blob=False,
    )
    settings.load_profile("graders")


@pytest.fixture
def submission(request: pytest.FixtureRequest):
    """The student's module for this grader's topic, behind the sandbox proxy."""
    plugin = request.config.stash.get(PLUGIN_KEY, None)
    if plugin is None:
        pytest.skip("graders run only through deepgrade's grading engine")
    return plugin.submission_for(request.param)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Record which checks earn their points only when other checks pass (no points for nothing)."""
    record_requirements(items)
