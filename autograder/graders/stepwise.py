"""One round trip per check, with the step-by-step check as the fallback.

A check that makes several independent calls records them in one ``submission.pipeline()``
and judges what comes back afterwards, value by value, in the order it would have fetched
each on its own; a failure (the student's code raised, timed out, returned something that is
not plain data) is raised at the point where the step-by-step check would have met it, after
the values fetched before it were judged. So the messages are those of the step-by-step check.

Where the pipeline cannot say what the step-by-step check would have said (a worker that
died mid-batch, a fetched tuple that is not what the contract says, a whole tuple refused
where the step-by-step check fetched one item), ``StepByStep`` is raised and the check runs
again the old way: rare, and only for code that is wrong already.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import MappingProxyType
from typing import Any

from autograder.referee import Answers, died, frozen
from autograder.sandbox import NotPlainData

# Tests set this to grade the step-by-step way only, and compare (tests/test_graders_stepwise.py).
ALWAYS_STEP_BY_STEP = False


class StepByStep(Exception):
    """The one-round-trip path met something only the step-by-step check words right."""


def fast_or_step_by_step(check: Callable[..., None], *args: Any) -> None:
    """``check(*args, fast=True)``; on ``StepByStep``, ``check(*args, fast=False)``."""
    if ALWAYS_STEP_BY_STEP:
        check(*args, fast=False)
        return
    try:
        check(*args, fast=True)
    except StepByStep:
        check(*args, fast=False)


def run(pipe: Any, whole: set[int] | frozenset[int] = frozenset()) -> Iterator[Any]:
    """Run ``pipe`` (one round trip) and yield its fetched values in order, then raise its failure.

    ``whole``: indices (in fetch order) of fetches that bring a whole returned tuple where the
    step-by-step check unpacks it and fetches an item; their refusal is worded differently,
    so it raises ``StepByStep``. So does a worker that died with no step to blame.
    """
    answers = Answers(pipe)
    failed = answers.failed
    if failed is not None:
        if died(failed):
            raise StepByStep
        if failed.step is None:
            raise failed  # timed out earlier, budget spent, import failed: what the first request would say
        if isinstance(failed, NotPlainData) and pipe.ops[failed.step][0] == "fetch" \
                and len(answers.values) in whole:
            raise StepByStep
    yield from answers.values
    if failed is not None:
        raise failed


def tuple_of(value: Any, n: int) -> tuple:
    """``value`` as a tuple of ``n`` items, as ``Remote.unpack(n)`` accepts it; else ``StepByStep``."""
    if type(value) not in (tuple, list) or len(value) != n:
        raise StepByStep
    return tuple(value)


def frozen_map(mapping: dict) -> MappingProxyType:
    """A read-only view of a dict whose arrays are made read-only (a misconception table cached
    between students; send ``referee.fresh`` copies of cached arrays to the worker)."""
    return MappingProxyType(frozen(mapping))
