"""Fixtures shared by every grader module."""

from __future__ import annotations

import pytest

from autograder.dependencies import record_requirements
from autograder.grading import PLUGIN_KEY

try:
    from hypothesis import HealthCheck, settings

    # Same submission, same score: Hypothesis draws the same examples every run.
    settings.register_profile(
        "graders", derandomize=True, database=None, deadline=None, max_examples=25,
        suppress_health_check=list(HealthCheck), print_blob=False,
    )
    settings.load_profile("graders")
except ImportError:  # Hypothesis is optional; graders that use it import it themselves
    pass


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
