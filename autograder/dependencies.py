"""No points for nothing: checks whose points depend on other checks passing.

An invariance check ("does not modify its input", "returns float64 of the right shape",
"keeps a zero gradient zero") is passed by a function that returns garbage. Such a check
declares the value checks of the same function(s)::

    @pytest.mark.points(4)
    @pytest.mark.requires("sigmoid_values", "tanh_derivative_values")
    def test_derivatives_do_not_modify_input(submission): ...

and earns its points only when at least one of them passed too: garbage passes none, while
a submission with one bug still keeps the points its other functions earn (a variant loses
only what its bug touches). The graders' conftest
records the markers at collection (``record_requirements``); the engine applies them when
it emits a submission's result (``apply_requirements``).
"""

from __future__ import annotations

import dataclasses

import pytest

from autograder.results import CheckResult

# (topic, check id) -> the check ids it requires; filled at collection, read when results are emitted.
REQUIRES: dict[tuple[str, str], tuple[str, ...]] = {}


def _check_id(item: pytest.Item) -> str:
    return getattr(item, "originalname", item.name).removeprefix("test_")


def record_requirements(items: list[pytest.Item]) -> None:
    """Read the ``requires`` markers of the collected checks; an unknown check id is an error."""
    known: dict[str, set[str]] = {}
    for item in items:
        known.setdefault(item.module.__name__, set()).add(_check_id(item))
    for item in items:
        marker = item.get_closest_marker("requires")
        if marker is None:
            continue
        topic = item.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
        needed = tuple(marker.args)
        unknown = [c for c in needed if c not in known[item.module.__name__]]
        if unknown or not needed:
            raise pytest.UsageError(f"{item.nodeid}: requires({', '.join(needed)}) names no check of its module: "
                                    f"{', '.join(unknown) or 'give at least one check id'}")
        REQUIRES[(topic, _check_id(item))] = needed


def apply_requirements(topic: str, checks: list[CheckResult]) -> list[CheckResult]:
    """The checks with the points of passed checks withheld when every check they require failed."""
    status = {c.check_id: c.status for c in checks}
    out = []
    for check in checks:
        needed = REQUIRES.get((topic, check.check_id), ())
        if check.status == "passed" and needed and not any(status.get(c) == "passed" for c in needed):
            check = dataclasses.replace(check, score=0.0, status="failed", output=(
                f"This check passed, but its points count only together with correct values, and "
                f"{_names(list(needed))} failed. Leaving inputs alone or returning the right shape earns "
                "points once the function also computes the right answer."))
        out.append(check)
    return out


def _names(ids: list[str]) -> str:
    quoted = [f"'{c.replace('_', ' ')}'" for c in ids]
    if len(quoted) == 1:
        return quoted[0]
    if len(quoted) == 2:
        return f"{quoted[0]} and {quoted[1]}"
    return "all of " + ", ".join(quoted)
