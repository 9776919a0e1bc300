"""Pipelines: many call/put/assign/fetch operations in one round trip, judged as if sent one by one."""

from __future__ import annotations

import time

import numpy as np
import pytest

from autograder.grading import shared_sandbox
from autograder.sandbox import NotPlainData, StudentException, StudentTimeout, Submission, WorkerCrashed

CHAIN = """
import numpy as np

class Counter:
    def __init__(self, start=0.0):
        self.total = np.array([start])
    def add(self, x):
        self.total = self.total + x      # a new array each time
        return self.total
    def add_in_place(self, x):
        self.total += x                  # the same array, changed
        return self.total
    def explode(self, x):
        if x > 2:
            raise ValueError(f"x={x} is too big")
        return x
    def odd(self, x):
        class Sneaky:                    # not plain data: stays in the worker, may be chained
            def __getattr__(self, name):
                raise RuntimeError("boo")
            def __eq__(self, other):
                return True
        return Sneaky() if x == 1 else x
    def loop(self, x):
        while True:
            pass

def double(v):
    return 2 * v
"""


def make(source: str = CHAIN, timeout: float = 1.0) -> Submission:
    return Submission(shared_sandbox(), "chain", {"chain.py": source.encode()}, call_timeout=timeout)


def test_handles_chain_between_steps_and_fetches_are_snapshots():
    sub = make()
    try:
        before = sub._requests
        pipe = sub.pipeline()
        counter = pipe.call(sub.Counter, 1.0)
        added, seen = [], []
        for k in range(3):
            added.append(pipe.call(counter.add_in_place, float(k)))
            seen.append(pipe.fetch(added[-1]))
        doubled = pipe.call(sub.double, added[-1])
        last = pipe.fetch(doubled)
        values = pipe.run()
        assert sub._requests - before == 1  # one round trip for the whole chain
        # in-place updates: each fetch is the value at its point of the pipeline, not the final one
        assert [v.tolist() for v in (values[i] for i in seen)] == [[1.0], [2.0], [4.0]]
        assert values[last].tolist() == [8.0]
        # after the run, a pipeline's handles are ordinary handles
        assert doubled.fetch().tolist() == [8.0]
        assert counter.total.fetch().tolist() == [4.0]
    finally:
        sub.close()


def test_put_and_assign_in_a_pipeline():
    sub = make()
    try:
        pipe = sub.pipeline()
        arr = pipe.put(np.zeros(3))
        pipe.assign(arr, np.array([1.0, 2.0, 3.0]))
        out = pipe.fetch(pipe.call(sub.double, arr))
        assert pipe.run()[out].tolist() == [2.0, 4.0, 6.0]
    finally:
        sub.close()


def test_an_error_mid_batch_names_the_step_and_stops_there():
    sub = make()
    try:
        pipe = sub.pipeline()
        counter = pipe.call(sub.Counter)
        results = [pipe.call(counter.explode, x) for x in range(5)]
        for r in results:
            pipe.fetch(r)
        with pytest.raises(StudentException) as info:
            pipe.run()
        assert info.value.step == 4  # Counter(), explode(0..2) ran; explode(3) raised
        assert info.value.fetched == []  # the fetches come after every call
        assert info.value.exc_type == "ValueError" and "x=3 is too big" in info.value.message
        assert "explode(...) raised ValueError" in str(info.value)
        # the same message a call of its own would give
        with pytest.raises(StudentException) as alone:
            sub.Counter().explode(3)
        assert str(alone.value).splitlines()[0].replace("Counter.", "") == \
            str(info.value).splitlines()[0].replace("Counter.", "")
    finally:
        sub.close()


def test_an_odd_object_mid_chain_stays_in_the_worker_until_fetched():
    sub = make()
    try:
        pipe = sub.pipeline()
        counter = pipe.call(sub.Counter)
        sneaky = pipe.call(counter.odd, 1)  # returns a hostile object: fine while it stays there
        again = pipe.call(sub.double, 3)
        pipe.fetch(again)
        pipe.fetch(sneaky)
        with pytest.raises(NotPlainData) as info:
            pipe.run()
        assert info.value.step == 4 and info.value.fetched == [6]
        assert "cannot be graded" in str(info.value) and "Sneaky" in str(info.value)
    finally:
        sub.close()


def test_a_call_that_loops_in_a_pipeline_times_out_at_its_own_limit_and_is_named():
    sub = make(timeout=0.3)
    try:
        pipe = sub.pipeline()
        counter = pipe.call(sub.Counter)
        pipe.fetch(pipe.call(sub.double, 2))
        pipe.call(counter.loop, 1)
        pipe.call(sub.double, 3)
        with pytest.raises(StudentTimeout, match=r"^Counter\.loop\(\.\.\.\) did not finish within 0.3 s") as info:
            pipe.run()
        assert info.value.step == 3 and info.value.fetched == [4]
        # a failed pipeline's values are never bound to anything
        with pytest.raises(ValueError, match="before the pipeline has run to its end"):
            counter.fetch()
        with pytest.raises(StudentTimeout, match="timed out earlier"):  # the strike holds for Counter
            sub.Counter().loop(1)
        assert sub.double(2).fetch() == 4  # a fresh worker
    finally:
        sub.close()


def test_a_call_that_defeats_the_step_timers_meets_the_limit_of_the_whole_batch():
    source = CHAIN + """
import signal

def stubborn(x):
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGPROF})
    while True:
        pass
"""
    sub = make(source, timeout=0.3)
    try:
        pipe = sub.pipeline()
        pipe.call(sub.stubborn, 1)
        pipe.call(sub.stubborn, 2)
        start = time.monotonic()
        with pytest.raises(StudentTimeout, match=r"^stubborn\(\.\.\.\) did not finish within 0.6 s"):
            pipe.run()
        assert time.monotonic() - start < 5
    finally:
        sub.close()


def test_a_forged_batch_reply_is_a_crash_not_a_value(tmp_path):
    # The submission replaces the worker's batch op with one that lies about its outcomes.
    source = CHAIN + """
import gc
from autograder.sandbox import worker as _w
for obj in gc.get_objects():
    if type(obj) is _w.Worker:
        obj.batch = lambda ops, *limits: ("step", 99, ("step", 0, ("ok",)), ())
"""
    sub = make(source)
    try:
        pipe = sub.pipeline()
        pipe.fetch(pipe.call(sub.double, 1))
        with pytest.raises(WorkerCrashed, match="unexpected reply"):
            pipe.run()
    finally:
        sub.close()


def test_a_pending_value_cannot_be_used_before_its_pipeline_ran():
    sub = make()
    try:
        pipe = sub.pipeline()
        counter = pipe.call(sub.Counter)
        with pytest.raises(ValueError, match="before the pipeline has run"):
            counter.total.fetch()
        other = sub.pipeline()
        with pytest.raises(ValueError, match="another pipeline"):
            other.call(counter.add, 1.0)
    finally:
        sub.close()


def test_a_generator_made_in_a_pipeline_draws_what_one_made_on_its_own_draws():
    source = CHAIN + "\n\ndef draw(rng, n):\n    return rng.normal(size=n)\n"
    sub = make(source)
    try:
        alone = sub.draw(sub.rng(7), 4).fetch()
        pipe = sub.pipeline()
        rng = pipe.rng(7)
        first, second = pipe.fetch(pipe.call(sub.draw, rng, 4)), pipe.fetch(pipe.call(sub.draw, rng, 2))
        values = pipe.run()
        assert np.array_equal(values[first], alone)
        assert np.array_equal(values[second], np.random.default_rng(7).normal(size=6)[4:])  # the same generator
        assert np.array_equal(sub.draw(rng, 1).fetch(), np.random.default_rng(7).normal(size=7)[6:])  # usable after
    finally:
        sub.close()


def test_a_call_that_replaces_the_timers_handlers_does_not_free_the_next_call():
    source = CHAIN + '''

import signal

def disarm(x):
    signal.signal(signal.SIGPROF, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    return x

def spin(x):
    while True:
        pass
'''
    from autograder.calibration import CallLimits

    sub = make(source, timeout=5.0)
    sub.call_limits = CallLimits(reference={"disarm": 0.001, "spin": 0.001}, ceiling=5.0)
    try:
        pipe = sub.pipeline()
        pipe.fetch(pipe.call(sub.disarm, 1))
        pipe.call(sub.spin, 2)
        start = time.monotonic()
        with pytest.raises(StudentTimeout) as caught:
            pipe.run()
        # the worker's own per-call limit (0.25 s of CPU) named the step, not the parent's backstop
        assert caught.value.step == 2 and caught.value.fetched == [1]
        assert "0.25 s of CPU time" in str(caught.value)
        assert time.monotonic() - start < 2.0
    finally:
        sub.close()
