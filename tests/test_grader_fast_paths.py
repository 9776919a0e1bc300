"""The stateful graders' shortcuts agree with the step-by-step judging they skip.

A pipelined check judges what it fetched in today's order (``referee.Answers``); a whole
trajectory or clipper run is first compared at once and only judged step by step, for the
message, when that fails. Each shortcut must say "right" only where the step-by-step judging
finds nothing, and cached answers must be read-only. No sandbox needed: in-process only.
"""

from __future__ import annotations

import numpy as np
import pytest

from autograder.graders import test_clipping as clipping
from autograder.graders import test_optimizers as optimizers
from autograder.referee import Answers, Mistake, answers_by_part, fresh
from autograder.sandbox import StudentException, WorkerCrashed
from solutions import clipping as ref_clipping

ADAM = (("lr", 0.01), ("beta1", 0.8), ("beta2", 0.99), ("eps", 1e-8))
KEY = (optimizers.SEED + 3,)


def step_by_step_passes(values: list, want: list, params: list) -> bool:
    """What check_trajectory's judge says of every step, without the shortcut."""
    try:
        for k, value in enumerate(values):
            got = optimizers.expect_param_list(value, params, "Adam.update")
            for g, w in zip(got, want[k], strict=True):
                optimizers.expect_close(g, w, name="p", rtol=optimizers.RTOL, atol=optimizers.ATOL)
    except Mistake:
        return False
    return True


def student_values(want: list) -> list:
    return [[np.array(p) for p in step] for step in want]


@pytest.mark.parametrize("change", ["none", "tiny", "off", "nan", "int", "float32", "shape", "tuple", "short"])
def test_trajectory_shortcut_agrees_with_step_by_step(change):
    params, _ = optimizers.problem(*KEY)
    want, stacked = optimizers.expected("Adam", ADAM, KEY)
    values = student_values(want)
    if change == "tiny":  # within rtol: both accept
        values[7][1] = values[7][1] * (1 + 1e-9)
    elif change == "off":
        values[30][2] = values[30][2] + 1e-3
    elif change == "nan":
        values[49][0] = np.full_like(values[49][0], np.nan)
    elif change == "int":
        values[3][0] = values[3][0].astype(int)
    elif change == "float32":  # any float dtype is accepted, judged by value (rounding here < rtol)
        values[0][0] = values[0][0].astype(np.float32)
    elif change == "shape":
        values[5][1] = values[5][1].T
    elif change == "tuple":  # a tuple of arrays is a valid answer
        values[9] = tuple(values[9])
    elif change == "short":
        values = values[:-1]
    fast = optimizers.all_close(values, stacked, params)
    if change == "short":
        assert not fast  # fewer steps than the reference: never "right" at once
    else:
        assert fast == step_by_step_passes(values, want, params)
    assert fast == (change in ("none", "tiny", "tuple", "float32"))


def run_of(model, seq: clipping.Sequence) -> list:
    return [model.clip(g) for g in seq.steps]


def test_clipper_shortcut_accepts_the_reference_and_nothing_else():
    seq = clipping.sequence("custom")
    right = run_of(ref_clipping.AdaptiveClipper(**seq.params), seq)
    assert clipping.whole_run_right(seq, right)
    for flags in clipping.WRONG_CLIPPERS.values():
        wrong = clipping.WrongClipper(seq.params["percentile"], seq.params["history"], seq.params["warmup"], **flags)
        assert not clipping.whole_run_right(seq, run_of(wrong, seq))
    k = next(i for i, (_, clipped) in enumerate(right) if clipped)
    for bad in ((right[k][0], False), ([g.astype(int) for g in right[k][0]], True), (right[k][0], 1),
                ([right[k][0][0]], True), ([right[k][0][0] * (1 + 1e-4), right[k][0][1]], True)):
        assert not clipping.whole_run_right(seq, right[:k] + [bad] + right[k + 1:])
    assert clipping.whole_run_right(seq, right[:k] + [(list(right[k][0]), np.True_)] + right[k + 1:])
    assert not clipping.whole_run_right(seq, right[:-1])


def test_cached_answers_are_read_only_and_sent_as_fresh_copies():
    params, grads = optimizers.problem(optimizers.SEED)
    want, _ = optimizers.expected("SGD", (("lr", 0.05),), (optimizers.SEED,))
    seq = clipping.sequence("default")
    for array in (params[0], grads[3][1], want[10][2], seq.steps[0][0], seq.matrix):
        with pytest.raises(ValueError):
            array[...] = 0.0
    sent = fresh([params, {"g": grads[0]}])
    assert sent[0][0].flags.writeable and sent[1]["g"][0].flags.writeable
    assert sent[0][0] is not params[0] and np.array_equal(sent[0][0], params[0])


class FakePipe:
    def __init__(self, values, failure=None):
        self.values, self.failure = values, failure

    def run(self):
        if self.failure is not None:
            self.failure.fetched = self.values
            raise self.failure
        return self.values


def test_answers_hand_out_values_in_order_then_the_failure():
    answers = Answers(FakePipe([1, 2]))
    assert answers.take(2) == [1, 2]
    with pytest.raises(IndexError):
        answers.next()
    failure = StudentException("SGD.update(...)", "ValueError", "boom")
    answers = Answers(FakePipe([1], failure))
    assert answers.next() == 1  # what came before the failure is judged first
    with pytest.raises(StudentException, match="SGD.update"):
        answers.next()



class Recorder:
    """A stand-in pipeline: what its fetches got, or ``failure`` at operation ``fail_at`` (None: the
    worker died, no step to blame)."""

    def __init__(self, failure=None, fail_at=None):
        self.ops, self.fetches, self.failure, self.fail_at = [], [], failure, fail_at
        self.ran = False

    def run(self):
        self.ran = True
        values = [f"value {i}" for i in range(len(self.fetches))]
        if self.failure is None:
            return values
        self.failure.step = self.fail_at
        self.failure.fetched = None if self.fail_at is None else values[:self.fail_at]
        raise self.failure


class Parts:
    """A stand-in submission handing out the given pipelines in turn."""

    def __init__(self, *pipelines):
        self.pipelines = iter(pipelines)

    def pipeline(self):
        return next(self.pipelines)


def record_part(pipe, part, apart):
    for _ in range(2):
        pipe.ops.append(("fetch", part, apart))
        pipe.fetches.append(len(pipe.ops) - 1)


def test_answers_by_part_splits_one_pipeline_where_it_failed():
    failure = StudentException("RMSProp.update(...)", "ValueError", "boom")
    parts = list(answers_by_part(Parts(Recorder(failure, fail_at=3)), ["SGD", "RMSProp"], record_part))
    assert parts[0].take(2) == ["value 0", "value 1"]  # the part before the failure is whole
    assert parts[1].next() == "value 2"
    with pytest.raises(StudentException):
        parts[1].next()


def test_answers_by_part_runs_each_part_apart_when_the_worker_died():
    merged, first, second = Recorder(WorkerCrashed("the worker process died")), Recorder(), Recorder()
    parts = answers_by_part(Parts(merged, first, second), ["SGD", "RMSProp"], record_part)
    assert next(parts).take(2) == ["value 0", "value 1"]
    assert merged.ran and first.ran and first.ops[0][2] is True  # recorded apart
    assert not second.ran  # run only once the part before it is judged
    assert next(parts).take(2) == ["value 0", "value 1"] and second.ran
