"""Per-call CPU-time limits from the reference's own cost (issue 12, target 2).

A function that never returns must cost little for the whole topic, however many checks and
other functions call it, and a correct solution written with Python loops must keep full marks.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from autograder.calibration import (
    CHARGE,
    FACTOR,
    FLOOR,
    MIN_FLOOR,
    SLOW_MARGIN,
    WALL_EXTRA,
    WALL_FACTOR,
    CallLimits,
    call_limits,
    reference_path,
    slow_path,
    slow_timings,
)
from autograder.grading import grade_file

CORPUS = slow_path("activations").parent  # solutions/slow: correct solutions written with Python loops
LIMIT = re.compile(r"did not finish within ([0-9.]+) s( of CPU time)?")


@pytest.fixture(autouse=True, scope="module")
def own_cache(tmp_path_factory):
    """Calibrate into a cache of this module's own (the first test measures the references)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("DEEPGRADE_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


def test_limits_follow_the_reference_with_a_floor_and_a_ceiling():
    limits = CallLimits(reference={"fast": 0.0001, "slow": 0.01, "slowest": 0.5}, ceiling=2.0)
    assert limits.cpu_limit("fast") == 0.25  # the floor: room for Python loops
    assert limits.cpu_limit("slow") == pytest.approx(0.5)  # 50 times the reference
    assert limits.cpu_limit("slowest") == 2.0  # never past the instructor's ceiling
    assert limits.cpu_limit("unknown") == 2.0  # never measured: the ceiling
    assert limits.cpu_limit("fast", after_timeout=True) == 0.05
    assert limits.cpu_limit("slow", after_timeout=True) == pytest.approx(0.1)
    # a pipeline of 50 calls: each the limit of a request of its own (the worker holds each to it;
    # the sum is the parent's backstop), so pipelining never fails a slow but correct solution
    assert limits.cpu_limit("fast", calls=50) == pytest.approx(50 * 0.25)
    assert limits.cpu_limit("slow", calls=50) == pytest.approx(50 * 0.5)
    assert limits.wall_limit(0.25) > 0.25  # a loaded machine gets room in wall time
    # asleep (not computing, not waiting for a CPU): 0.1 s whatever the CPU limit, at most the CPU limit
    assert limits.idle_limit("slowest") == limits.idle_limit("fast") == 0.1
    assert limits.idle_limit("slowest", after_timeout=True) == 0.1
    assert limits.idle_limit("fast", after_timeout=True) == 0.05


def test_limits_give_the_slow_solution_room_call_by_call():
    limits = CallLimits(reference={"tiny": 0.0001, "big": 0.001, "heavy": 0.01, "unslow": 0.0001},
                        slow={"tiny": 0.001, "big": 0.1, "heavy": 0.05}, ceiling=2.0)
    assert limits.cpu_limit("tiny") == MIN_FLOOR  # Python loops over a small batch: a few ms
    assert limits.cpu_limit("big") == pytest.approx(SLOW_MARGIN * 0.1 + CHARGE)  # over a large one
    assert limits.cpu_limit("heavy") == pytest.approx(0.5)  # the reference's factor when larger
    assert limits.cpu_limit("unslow") == 0.25  # no slow timing: the old floor
    assert limits.cpu_limit("big", after_timeout=True) == pytest.approx(0.05)  # tight ignores the slow one
    assert CallLimits(reference={"big": 0.001}, slow={"big": 10.0}, ceiling=2.0).cpu_limit("big") == 2.0
    assert limits.cpu_limit("big", calls=3) == pytest.approx(3 * (SLOW_MARGIN * 0.1 + CHARGE))


def test_calibration_times_the_slow_solution_and_limits_follow_it():
    slow = slow_timings("initialization")
    assert set(slow) >= {"xavier_uniform", "he_normal", "lecun_normal"}
    limits = call_limits("initialization", 2.0)
    assert limits.slow == slow
    for name in ("xavier_uniform", "he_normal"):  # element by element over a large matrix: tenths
        assert limits.cpu_limit(name) >= SLOW_MARGIN * slow[name] > 0.01
    # an activation on a small batch, even element by element, gets far less room than the old floor
    # (a loaded machine may time the reference slowly enough for the factor to set it)
    activations = call_limits("activations", 2.0)
    room = max(MIN_FLOOR, SLOW_MARGIN * activations.slow["sigmoid"] + CHARGE, FACTOR * activations.reference["sigmoid"])
    assert activations.cpu_limit("sigmoid") == pytest.approx(room)
    assert SLOW_MARGIN * activations.slow["sigmoid"] + CHARGE < FLOOR  # (a loaded machine times generously)
    assert slow_timings("no_such_topic") == {}


def test_calibration_measures_every_function_of_the_reference():
    limits = call_limits("activations", 2.0)
    assert reference_path("activations").is_file()
    assert set(limits.reference) >= {"sigmoid", "sigmoid_derivative", "layer_gradient_norms", "diagnose_gradients"}
    assert all(0 < t < 1.0 for t in limits.reference.values())


@pytest.mark.parametrize("topic", sorted(p.stem for p in CORPUS.glob("[a-z]*.py")))
def test_correct_python_loop_solutions_keep_full_marks(topic):
    result = grade_file(topic, CORPUS / f"{topic}.py")
    lost = {c.check_id: c.output for c in result.checks if c.score < c.max_score}
    assert result.score == result.max_score == 100, lost


def looping_sigmoid(tmp_path: Path, body: str) -> Path:
    """The reference activations with ``sigmoid`` replaced by ``body`` (which never returns)."""
    source = reference_path("activations").read_text()
    start = source.index("def sigmoid(")
    end = source.index("def sigmoid_derivative(")
    path = tmp_path / "activations.py"
    path.write_text(source[:start] + f"def sigmoid(z):\n    {body}\n\n\n" + source[end:])
    return path


def test_a_looping_function_costs_half_a_second_for_the_whole_topic(tmp_path, monkeypatch):
    # Reference timings as a quiet machine measures them (a loaded one only makes them
    # larger, and the limits more generous), so the limits chosen are known here.
    import autograder.calibration as calibration

    fast = dict.fromkeys(call_limits("activations", 2.0).reference, 0.002)
    monkeypatch.setattr(calibration, "reference_timings", lambda topic, sandbox=None: fast)
    monkeypatch.setattr(calibration, "slow_timings", lambda topic, sandbox=None: {})  # the 0.25 s floor
    # sigmoid loops; sigmoid_derivative and layer_gradient_norms call it (as eve's do).
    result = grade_file("activations", looping_sigmoid(tmp_path, "while True:\n        pass"))
    limits = [(c.check_id, LIMIT.search(c.output)) for c in result.checks]
    # Held to CPU time; on a machine so busy that the worker got under a quarter of a core,
    # the wall limit that goes with the CPU limit stops it first: count its CPU limit then.
    timed_out = {check: float(m.group(1)) if m.group(2) else (float(m.group(1)) - WALL_EXTRA) / WALL_FACTOR
                 for check, m in limits if m}
    assert "sigmoid_values" in timed_out and len(timed_out) >= 2
    assert sum(timed_out.values()) <= 0.5 + 1e-9, timed_out  # the CPU time all its time-outs may cost
    assert result.execution_time < 5.0  # was 3 x 2 s before; wall limits bound it even under load
    # everything that does not call sigmoid still scores
    passed = {c.check_id for c in result.checks if c.score == c.max_score}
    assert {"relu_derivative_values", "elu_derivative_values"} <= passed


def test_with_the_slow_solutions_timings_a_looping_activation_costs_a_few_hundredths(tmp_path, monkeypatch):
    # The slow solution's timings as calibration measured them here: an activation on the
    # graders' small batches needs a few milliseconds even element by element, so a call that
    # never returns is stopped early. (The reference's as a quiet machine measures them: on a
    # loaded one calibration reads them slow, and gives more room, as it should.)
    import autograder.calibration as calibration

    fast = dict.fromkeys(call_limits("activations", 2.0).reference, 0.0005)
    monkeypatch.setattr(calibration, "reference_timings", lambda topic, sandbox=None: fast)
    result = grade_file("activations", looping_sigmoid(tmp_path, "while True:\n        pass"))
    room = call_limits("activations", 2.0).cpu_limit("sigmoid")
    assert room < FLOOR
    timed_out = [float(m.group(1)) for c in result.checks if (m := LIMIT.search(c.output)) and m.group(2)]
    said = float(f"{room:.2g}")  # messages give 2 significant digits
    assert timed_out and max(timed_out) <= said, (timed_out, room)
    assert sum(timed_out) <= 3 * said + 1e-9, timed_out
    passed = {c.check_id for c in result.checks if c.score == c.max_score}
    assert {"relu_derivative_values", "elu_derivative_values"} <= passed


ASLEEP = re.compile(r"did not finish: it slept or waited ([0-9.]+) s without computing")


@pytest.mark.parametrize("body", ["import time; time.sleep(60)",
                                  "import os\n    r, w = os.pipe()\n    os.read(r, 1)"], ids=["sleep", "read-a-pipe"])
def test_a_sleeping_function_is_stopped_once_it_slept_its_limit(tmp_path, body):
    # Asleep, a worker uses no CPU time: only the wall limit (4 x its CPU limit + 0.25 s, room
    # for a loaded machine) would stop it. Sleeping is not waiting for a CPU, so it is counted.
    result = grade_file("activations", looping_sigmoid(tmp_path, body))
    first = result.check("sigmoid_values").output
    m = ASLEEP.search(first)
    assert m, first
    limits = call_limits("activations", 2.0)
    allowed = limits.idle_limit("sigmoid")
    assert allowed == min(0.1, limits.cpu_limit("sigmoid"))  # 0.1 s, at most the call's CPU limit
    # asleep its limit, not its wall limit (4 x CPU + 0.25 s)
    assert allowed <= float(m.group(1)) < allowed + 0.15
    slept = [float(m.group(1)) for c in result.checks if (m := ASLEEP.search(c.output))]
    assert len(slept) >= 2 and sum(slept) <= 0.3  # later calls: the tight limit
    assert result.execution_time < 5.0


def test_the_instructors_timeout_overrides_the_calibrated_limits(tmp_path):
    result = grade_file("activations", looping_sigmoid(tmp_path, "while True:\n        pass"), call_timeout=0.3)
    assert "did not finish within 0.3 s (an infinite loop" in result.check("sigmoid_values").output


def test_a_pipeline_calling_several_functions_holds_each_call_to_its_own_limit():
    import time

    from autograder.sandbox import Limits, Sandbox, StudentTimeout, Submission

    source = b"def fine(x):\n    return x + 1\n\n\ndef spin(x):\n    while True:\n        pass\n"
    limits = CallLimits(reference={"fine": 0.001, "spin": 0.001}, ceiling=2.0)
    with Sandbox(Limits()) as sandbox:
        sub = Submission(sandbox, "mod", {"mod.py": source}, call_limits=limits)
        try:
            pipe = sub.pipeline()
            pipe.fetch(pipe.call(sub.fine, 1))
            pipe.call(sub.spin, 2)
            pipe.fetch(pipe.call(sub.fine, 3))
            start = time.monotonic()
            with pytest.raises(StudentTimeout) as caught:
                pipe.run()
            took = time.monotonic() - start
        finally:
            sub.close()
    # Not the flat 2 s of wall time a call of unknown cost gets: spin's own CPU limit (the floor).
    assert "spin(...) did not finish within 0.25 s of CPU time" in str(caught.value)
    assert took < CallLimits.wall_limit(0.25) + 0.5
    assert caught.value.step == 2 and caught.value.fetched == [2]
    assert sub._timed_out == {"spin"}  # fine is not struck


KEYED = b"""
def fine(x):
    return x + 1


def spin(n):
    while True:
        pass


def busy(seconds):
    import time
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    return seconds
"""


def test_a_call_gets_the_room_the_slow_solution_needed_for_the_same_input():
    import numpy as np

    from autograder.sandbox.proxy import call_key
    from autograder.sandbox.wire import Ref

    def call(*args, **kwargs):
        return ("call", Ref(3, (("attr", "spin"),)), args, kwargs, False)

    small, big = call(np.zeros((3, 4)), 7), call(np.zeros((512, 64)), 7)
    # a key names shapes, not values; numbers by value; a worker value by its path, not its handle
    assert call_key("spin", small) == call_key("spin", call(np.ones((3, 4)), 7))
    assert call_key("spin", small) != call_key("spin", big) != call_key("spin", call(np.zeros((512, 64)), 8))
    assert call_key("spin", call(Ref(5), lr=0.1)) == call_key("spin", call(Ref(9), lr=0.1))
    assert call_key("spin", small) != call_key("fine", small)
    limits = CallLimits(reference={"spin": 0.0001, "tiny": 0.0001},
                        slow={"spin": 0.1, call_key("spin", small): 0.001, call_key("spin", big): 0.1,
                              "tiny": 0.001}, ceiling=2.0)
    assert limits.cpu_limit("spin", key=call_key("spin", small)) == MIN_FLOOR  # a 3 x 4 input: a few ms
    assert limits.cpu_limit("spin", key=call_key("spin", big)) == pytest.approx(SLOW_MARGIN * 0.1 + CHARGE)
    unseen = call_key("spin", call(np.zeros((9, 9)), 7))  # an input the slow solution never got
    assert limits.cpu_limit("spin", key=unseen) == limits.cpu_limit("spin") == pytest.approx(SLOW_MARGIN * 0.1 + CHARGE)
    assert limits.keyed("spin") and not limits.keyed("tiny")  # tiny's slowest call needs no more than the least
    # the reference's factor follows the same call too: 50 x its 3 x 4 call, not 50 x its slowest
    both = CallLimits(reference={"spin": 0.004, call_key("spin", small): 0.0001}, slow=limits.slow, ceiling=2.0)
    assert both.cpu_limit("spin", key=call_key("spin", small)) == MIN_FLOOR
    assert both.cpu_limit("spin", key=unseen) == pytest.approx(SLOW_MARGIN * 0.1 + CHARGE)
    assert both.cpu_limit("spin") == pytest.approx(SLOW_MARGIN * 0.1 + CHARGE)


def test_each_call_of_a_pipeline_is_held_to_its_own_inputs_limit():
    import time

    import numpy as np

    from autograder.sandbox import Limits, Sandbox, StudentTimeout, Submission
    from autograder.sandbox.proxy import call_key
    from autograder.sandbox.wire import Ref

    small = call_key("spin", ("call", Ref(0, (("attr", "spin"),)), (np.zeros((3, 3)),), {}, False))
    limits = CallLimits(reference={"fine": 0.001, "spin": 0.001, "busy": 0.001},
                        slow={"fine": 0.001, "spin": 0.2, small: 0.001, "busy": 0.2}, ceiling=2.0)
    most = SLOW_MARGIN * 0.2 + CHARGE
    with Sandbox(Limits()) as sandbox:
        sub = Submission(sandbox, "mod", {"mod.py": KEYED}, call_limits=limits)
        try:
            pipe = sub.pipeline()
            pipe.call(sub.spin, np.zeros((2, 2)))  # inputs the slow solution never got: its slowest call's room
            pipe.call(sub.spin, np.zeros((4, 4)))
            assert pipe._step_limits()[0] == pytest.approx(most)  # the same for every call: one figure
            pipe = sub.pipeline()
            pipe.fetch(pipe.call(sub.busy, 0.001))
            pipe.call(sub.spin, np.zeros((3, 3)))  # the slow solution's call on this input took 1 ms
            pipe.call(sub.fine, 1)
            assert pipe._step_limits()[0] == [pytest.approx(most), None, MIN_FLOOR, MIN_FLOOR]  # one per operation
            start = time.monotonic()
            with pytest.raises(StudentTimeout) as caught:
                pipe.run()
            took = time.monotonic() - start
        finally:
            sub.close()
    # spin's own limit on its input, not the most any call of the batch may take
    assert f"spin(...) did not finish within {MIN_FLOOR:.2g} s of CPU time" in str(caught.value)
    assert caught.value.step == 2 and caught.value.fetched == [0.001]
    assert took < CallLimits.wall_limit(MIN_FLOOR) + 0.5


def test_calibration_times_each_call_of_a_pipeline_on_its_own():
    from autograder.sandbox import Limits, Sandbox, Submission
    from autograder.sandbox.proxy import call_key

    timings: dict[str, float] = {}
    with Sandbox(Limits()) as sandbox:
        sub = Submission(sandbox, "mod", {"mod.py": KEYED}, timings=timings)
        try:
            pipe = sub.pipeline()
            first = pipe.call(sub.busy, 0.06)
            pipe.fetch(first)
            ops = list(pipe.ops)
            for n in range(5):
                pipe.call(sub.fine, n)
            pipe.run()
        finally:
            sub.close()
    # the slow call counts as slow, the fast ones as fast: not six calls of a sixth of the batch each
    assert timings["busy"] >= 0.06 and timings[call_key("busy", ops[0])] >= 0.06
    assert timings["fine"] < 0.02
    assert sum(1 for k in timings if k.startswith("fine\n")) == 5  # one key per input


def with_looping(topic: str, name: str, tmp_path: Path) -> Path:
    """The slow corpus's ``topic`` (full marks) with the function ``name`` replaced by an endless loop."""
    source = (CORPUS / f"{topic}.py").read_text()
    start = source.index(f"def {name}(")
    end = source.index("\ndef ", start + 1)
    signature = source[start:source.index(":\n", start) + 2]
    path = tmp_path / f"{topic}.py"
    path.write_text(source[:start] + signature + "    while True:\n        pass\n\n" + source[end:])
    return path


def test_a_looping_function_does_not_cost_correct_slow_functions_their_marks(tmp_path):
    # After xavier_uniform's time-out, only what may call it gets the tighter limit: the other
    # initializers, correct but written with Python loops, keep their full limits and marks.
    result = grade_file("initialization", with_looping("initialization", "xavier_uniform", tmp_path))
    looping = {c.check_id for c in result.checks if "xavier_uniform" in c.output}
    lost = {c.check_id: c.output for c in result.checks if c.score < c.max_score and c.check_id not in looping}
    assert looping, [c.output for c in result.checks]
    assert not lost
    # its first call is on a small matrix: stopped after that call's room, not after the room a
    # 512 x 64 matrix filled element by element needs (a few tenths of a second)
    limits = [float(m.group(1)) for c in result.checks if (m := LIMIT.search(c.output)) and m.group(2)]
    assert limits and limits[0] <= 0.1, limits


CALLERS = b"""
import numpy as np

def a(x):
    return b(x) + 1

def b(x):
    return helper(x)

def helper(x):
    return x

def c(x):
    return np.sum(x)

class K:
    def m(self):
        return (lambda: a(1))()

    @staticmethod
    def s():
        return c(2)
"""


def test_after_a_time_out_only_what_may_call_it_gets_the_tighter_limit():
    from autograder.sandbox import Limits, Sandbox, Submission

    with Sandbox(Limits()) as sandbox:
        sub = Submission(sandbox, "mod", {"mod.py": CALLERS})
        try:
            assert not sub.tight("a")  # nothing timed out yet: nothing asked of the worker
            assert sub._calls is None
            sub._timed_out.add("helper")
            # through b, in a lambda inside a method, by name: who may call helper
            assert {u: set(sub.reach(u)) for u in ("a", "b", "helper", "c", "K")} == {
                "a": {"b", "helper"}, "b": {"helper"}, "helper": set(), "c": set(), "K": {"a", "b", "c", "helper"}}
            assert sub.reach("np") is None
            assert [u for u in ("a", "b", "c", "K") if sub.tight(u)] == ["a", "b", "K"]
            assert sub.tight("not_in_the_module")  # what the code does not show is held tight
            sub._timed_out.add("c")
            assert sub.tight("c") and sub.tight("a")  # a second time-out: everything tight
        finally:
            sub.close()


def test_an_answer_about_who_calls_whom_of_the_wrong_shape_or_size_means_tight_limits():
    from autograder.sandbox import Limits, Sandbox, Submission

    liar = CALLERS + b"""
import sys
sys.modules["autograder.sandbox.worker"].unit_references = lambda module: {LIE}
"""
    lies = ['{"a": 5}', '{"a": ["b"] * 30_000}', '{f"u{i}": [] for i in range(3000)}', '"not a dict"']
    with Sandbox(Limits()) as sandbox:
        for lie in lies:  # the wrong shape, too many names, too many functions
            sub = Submission(sandbox, "mod", {"mod.py": liar.replace(b"{LIE}", lie.encode())})
            try:
                sub._timed_out.add("helper")
                assert sub.reach("a") is None and sub.reach("c") is None, lie
                assert sub.tight("a") and sub.tight("c")
            finally:
                sub.close()
        # the control: a lie of the right shape is believed (it only loosens the liar's own limits)
        sub = Submission(sandbox, "mod", {"mod.py": liar.replace(b"{LIE}", b'{"a": []}')})
        try:
            sub._timed_out.add("helper")
            assert sub.reach("a") == frozenset() and not sub.tight("a") and sub.tight("c")
        finally:
            sub.close()
