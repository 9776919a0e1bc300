"""Judging helpers for graders: strict type/shape checks, closeness, gradients, statistics.

Every helper raises ``Mistake`` with a message written for the student: what was
expected, what came back (type, shape, one sample value), and, when the answer matches a
known wrong formula, the misconception by name. Values are compared only after their
exact type, dtype kind and shape are checked, because ``np.allclose`` broadcasts and is
asymmetric: ``np.allclose(np.zeros(1), big_array)`` must never pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from autograder.sandbox import StudentException, SubmissionError, WorkerCrashed

# Two-sided normal quantile for statistical checks: P(|Z| > 5.5) = 3.8e-8, so even with a
# Bonferroni factor of 25 tests in one check, a correct submission fails with p < 1e-6.
Z_STRICT = 5.5


class Mistake(AssertionError):
    """A wrong answer, with the message the student will read."""


def fmt(x: Any) -> str:
    """Compact number formatting for messages."""
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        return f"{float(x):.6g}"
    if isinstance(x, np.ndarray):
        with np.printoptions(precision=4, suppress=False, threshold=8, edgeitems=2):
            return np.array2string(x, separator=", ")
    return repr(x)[:80]


def summarize(value: Any) -> str:
    """What came back, in a few words (type, dtype, shape, a sample)."""
    if value is None:
        return "None"
    if type(value) is np.ndarray:
        sample = f", e.g. {fmt(value.flat[0])}" if value.size else ""
        return f"an array of dtype {value.dtype} and shape {value.shape}{sample}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of length {len(value)}"
    if isinstance(value, dict):
        return f"a dict with keys {sorted(map(str, value))[:6]}"
    return f"{type(value).__name__} {fmt(value)}"


def _with_hints(message: str, hint: str | None, mis: str | None) -> str:
    if mis:
        message += f"\nLooks like you {mis}."
    if hint:
        message += f"\nHint: {hint}"
    return message


def _match_misconception(got: Any, misconceptions: Mapping[str, Any] | None, rtol: float, atol: float) -> str | None:
    """The label of the first wrong formula that reproduces ``got``, if any."""
    if not misconceptions:
        return None
    for label, wrong in misconceptions.items():
        try:
            wrong_arr = np.asarray(wrong, dtype=float)
            got_arr = np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            continue
        if wrong_arr.shape == got_arr.shape and np.allclose(got_arr, wrong_arr, rtol=max(rtol, 1e-6),
                                                            atol=max(atol, 1e-9), equal_nan=True):
            return label
    return None


def expect_array(got: Any, *, name: str, shape: tuple | None = None, dtype_kind: str = "f",
                 hint: str | None = None) -> np.ndarray:
    """``got`` must be exactly an ``np.ndarray`` of the given dtype kind and shape."""
    if type(got) is not np.ndarray:
        extra = " Convert with np.asarray(...)." if isinstance(got, (list, tuple, float, int)) else ""
        want = f" of shape {shape}" if shape is not None else ""
        raise Mistake(_with_hints(f"{name} should be a NumPy array{want}, but it is {summarize(got)}.{extra}",
                                  hint, None))
    if dtype_kind and got.dtype.kind not in dtype_kind:
        kinds = {"f": "float", "i": "integer", "b": "bool", "u": "unsigned integer", "c": "complex"}
        want = " or ".join(kinds.get(k, k) for k in dtype_kind)
        raise Mistake(_with_hints(
            f"{name} should have a {want} dtype (float64), but it has dtype {got.dtype}."
            + (" Comparisons like (z > 0) give bools: convert with .astype(float)." if got.dtype.kind == "b" else ""),
            hint, None))
    if shape is not None and got.shape != tuple(shape):
        note = ""
        if got.ndim == 2 and tuple(shape) == got.shape[::-1] and got.shape[0] != got.shape[1]:
            note = " It looks transposed."
        elif got.size == int(np.prod(shape)):
            note = " Same number of elements: check reshapes and keepdims."
        raise Mistake(_with_hints(f"{name} should have shape {tuple(shape)}, but it has shape {got.shape}.{note}",
                                  hint, None))
    return got


def _as_float(got: Any, name: str) -> float:
    if type(got) is np.ndarray and got.shape == () and got.dtype.kind in "fiu":
        return float(got)
    if type(got) in (int, float) or (isinstance(got, np.generic) and np.dtype(type(got)).kind in "fiu"):
        return float(got)
    raise Mistake(f"{name} should be a number, but it is {summarize(got)}.")


def expect_scalar(got: Any, expected: float, *, name: str, rtol: float = 1e-6, atol: float = 1e-9,
                  misconceptions: Mapping[str, Any] | None = None, hint: str | None = None) -> float:
    """A single number close to ``expected``."""
    value = _as_float(got, name)
    if math.isclose(value, expected, rel_tol=rtol, abs_tol=atol) or (math.isnan(value) and math.isnan(expected)):
        return value
    mis = _match_misconception(value, misconceptions, rtol, atol)
    raise Mistake(_with_hints(f"{name} should be {fmt(expected)}, but it is {fmt(value)}.", hint, mis))


def expect_equal(got: Any, expected: Any, *, name: str, hint: str | None = None,
                 misconceptions: Mapping[str, Any] | None = None) -> Any:
    """Exact equality for plain values (bools, ints, strings, lists of them)."""
    same_type = type(got) is type(expected) or (
        isinstance(expected, bool) and isinstance(got, (bool, np.bool_))) or (
        isinstance(expected, int) and not isinstance(expected, bool) and type(got) in (int, np.int64, np.int32))
    if same_type and got == expected:
        return got
    mis = None
    if misconceptions:
        mis = next((label for label, wrong in misconceptions.items() if type(got) is type(wrong) and got == wrong), None)
    raise Mistake(_with_hints(f"{name} should be {expected!r}, but it is {summarize(got)}.", hint, mis))


def expect_close(got: Any, expected: Any, *, name: str, rtol: float = 1e-6, atol: float = 1e-9,
                 inputs: Mapping[str, np.ndarray] | None = None, misconceptions: Mapping[str, Any] | None = None,
                 hint: str | None = None) -> Any:
    """``got`` equals ``expected`` (array or number) within tolerance, after type/shape checks.

    ``inputs`` (same shape as the output) let the message name the input where it fails;
    ``misconceptions`` maps a description ("used fan_out instead of fan_in") to the value
    that mistake would produce.
    """
    if not isinstance(expected, np.ndarray):
        return expect_scalar(got, float(expected), name=name, rtol=rtol, atol=atol,
                             misconceptions=misconceptions, hint=hint)
    got = expect_array(got, name=name, shape=expected.shape, dtype_kind="f" if expected.dtype.kind == "f" else "fiub")
    if expected.size == 0:
        return got
    with np.errstate(invalid="ignore", over="ignore"):
        ok = np.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    if ok.all():
        return got
    bad_finite = ~np.isfinite(got) & np.isfinite(expected)
    if bad_finite.any():
        idx = np.unravel_index(np.argmax(bad_finite), got.shape)
    else:
        err = np.where(ok, 0.0, np.abs(got - expected) / (atol + rtol * np.abs(expected)))
        idx = np.unravel_index(np.nanargmax(err), got.shape)
    where = f" at index {tuple(int(i) for i in idx)}" if got.ndim else ""
    at = ""
    for key, arr in (inputs or {}).items():
        arr = np.asarray(arr)
        if arr.shape == got.shape:
            at += f" ({key} = {fmt(arr[idx])})"
    n_bad = int((~ok).sum())
    message = (f"{name} is wrong{where}{at}: expected {fmt(expected[idx])}, got {fmt(got[idx])}"
               f" ({n_bad} of {ok.size} values differ).")
    if bad_finite.any():
        message += " Your result has NaN or inf where the answer is finite: check for overflow or division by zero."
    mis = _match_misconception(got, misconceptions, rtol, atol)
    raise Mistake(_with_hints(message, hint, mis))


def expect_raises(exc_names: str | type | tuple, action: Callable[[], Any], *, name: str,
                  hint: str | None = None) -> StudentException:
    """The student's code must raise one of ``exc_names`` (matched by class name)."""
    if isinstance(exc_names, (str, type)):
        exc_names = (exc_names,)
    wanted = tuple(e if isinstance(e, str) else e.__name__ for e in exc_names)
    try:
        action()
    except StudentException as exc:
        if exc.exc_type in wanted:
            return exc
        raise Mistake(_with_hints(f"{name} should raise {' or '.join(wanted)}, but it raised "
                                  f"{exc.exc_type}: {exc.message}", hint, None)) from None
    raise Mistake(_with_hints(f"{name} should raise {' or '.join(wanted)}, but it returned normally.", hint, None))


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """CS231n relative error: max |a-b| / max(1e-8, |a|+|b|)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))) if a.size else 0.0


def numerical_gradient(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, df: np.ndarray,
                       h: float = 1e-5) -> np.ndarray:
    """Centred-difference gradient of sum(f(x) * df) with respect to x (x is restored)."""
    x = np.array(x, dtype=float)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = np.sum(f(x) * df)
        x[i] = old - h
        minus = np.sum(f(x) * df)
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def expect_gradient(got: Any, numeric: np.ndarray, *, name: str, tol: float = 1e-6,
                    misconceptions: Mapping[str, Any] | None = None, hint: str | None = None) -> np.ndarray:
    """A backward-pass result agrees with the numerical gradient (relative error < tol)."""
    got = expect_array(got, name=name, shape=numeric.shape)
    if not np.all(np.isfinite(got)):
        raise Mistake(_with_hints(f"{name} contains NaN or inf.", hint, None))
    err = rel_error(got, numeric)
    if err < tol:
        return got
    idx = np.unravel_index(np.argmax(np.abs(got - numeric)), got.shape)
    mis = _match_misconception(got, misconceptions, 1e-5, 1e-7)
    raise Mistake(_with_hints(
        f"{name} does not match the numerical gradient (relative error {err:.1e}, should be < {tol:.0e}); "
        f"at index {tuple(int(i) for i in idx)} expected {fmt(numeric[idx])}, got {fmt(got[idx])}.", hint, mis))


def expect_moments(samples: np.ndarray, *, name: str, mean: float, var: float, family: str,
                   misconceptions: Mapping[str, float] | None = None, z: float = Z_STRICT) -> None:
    """Sample mean and variance agree with (mean, var) within a z-sigma confidence bound.

    The variance bound uses the sampling variance of s²: 2σ⁴/(n-1) for a normal and
    (μ4 - σ⁴)/n with μ4 = 9σ⁴/5 for a uniform. ``misconceptions`` maps a description to
    the variance that mistake would give; the nearest one is named when the check fails.
    """
    x = np.asarray(samples, dtype=float).ravel()
    n = x.size
    m, s2 = float(x.mean()), float(x.var(ddof=1))
    if abs(m - mean) > z * math.sqrt(var / n):
        raise Mistake(f"{name}: the sample mean is {fmt(m)} over {n} values, but weights should be centred on "
                      f"{fmt(mean)} (bound ±{fmt(z * math.sqrt(var / n))}).")
    se = math.sqrt(2 * var**2 / (n - 1)) if family == "normal" else math.sqrt((1.8 - 1.0) * var**2 / n)
    if abs(s2 - var) > z * se:
        mis = None
        if misconceptions:
            label, wrong = min(misconceptions.items(), key=lambda kv: abs(math.log(max(kv[1], 1e-300) / max(s2, 1e-300))))
            if abs(s2 - wrong) <= z * se * max(1.0, wrong / var):
                mis = label
        raise Mistake(_with_hints(f"{name}: the sample variance is {fmt(s2)} over {n} values, expected "
                                  f"{fmt(var)} (bound ±{fmt(z * se)}).", None, mis))


class WorkerDied(Exception):
    """A pipeline's worker died with no operation to blame (see ``Answers`` and ``apart_on_death``)."""


class Answers:
    """A pipeline's fetched values, handed to the judging code one at a time, in fetch order.

    A check records all its operations in one pipeline (one round trip), then judges what it
    fetched in the order it would have fetched each value on its own. When an operation
    failed, the values fetched before it are still handed out (and judged, so a wrong answer
    before the failure is reported first); asking for the first value the failure prevented
    raises the failure itself, with the message a request of its own would have given.

    ``on_death``: raise ``WorkerDied`` when the worker died mid-pipeline. Its message names
    every function the pipeline called ("SGD(...) or SGD.update(...)"); a check that builds
    objects in the pipeline then runs again with each built on its own (``apart_on_death``).
    """

    def __init__(self, pipe: Any, *, on_death: bool = False) -> None:
        try:
            self.values, self.failed = pipe.run(), None
        except SubmissionError as exc:
            if on_death and died(exc):
                raise WorkerDied from exc
            self.values, self.failed = list(exc.fetched or []), exc
        self._next = 0

    @classmethod
    def given(cls, values: list, failed: SubmissionError | None) -> Answers:
        """Answers made of ``values`` and ``failed`` (part of another pipeline's, see ``answers_by_part``)."""
        answers = cls.__new__(cls)
        answers.values, answers.failed, answers._next = values, failed, 0
        return answers

    def next(self) -> Any:
        """The next fetched value; raises the pipeline's failure when it stopped before it."""
        if self._next < len(self.values):
            self._next += 1
            return self.values[self._next - 1]
        if self.failed is not None:
            raise self.failed
        raise IndexError("more values asked for than the pipeline fetched")

    def take(self, n: int) -> list:
        """The next ``n`` fetched values."""
        return [self.next() for _ in range(n)]


def died(exc: BaseException) -> bool:
    """The worker died during a pipeline, with no operation of it to blame."""
    return isinstance(exc, WorkerCrashed) and exc.step is None


def answers_by_part(submission: Any, parts: list, record: Callable[[Any, Any, bool], None]) -> Iterator[Answers]:
    """The answers of a check's parts (one per optimizer class, say), all in one pipeline.

    ``record(pipe, part, apart)`` records a part's operations. The parts' answers are handed out
    in turn, each with the pipeline's failure when it happened in that part (a part before it
    is whole). When the worker died in the pipeline, each part gets a pipeline of its own, run
    when its answers are asked for (after the part before it is judged) with ``apart=True``:
    a crash then names that part's function alone, as when the parts ran one after the other.
    """
    pipe = submission.pipeline()
    bounds = []
    for part in parts:
        first_fetch = len(pipe.fetches)
        record(pipe, part, False)
        bounds.append((len(pipe.ops), first_fetch, len(pipe.fetches)))
    try:
        answers = Answers(pipe, on_death=True)
    except WorkerDied:
        for part in parts:
            alone = submission.pipeline()
            record(alone, part, True)
            yield Answers(alone)
        return
    failed_at = None if answers.failed is None else (answers.failed.step or 0)  # no step: nothing ran
    for end_op, first_fetch, end_fetch in bounds:
        here = answers.failed if failed_at is not None and failed_at < end_op else None
        yield Answers.given(answers.values[first_fetch:end_fetch], here)


def apart_on_death(run: Callable[[bool], Any]) -> Any:
    """``run(False)``: build objects inside the pipeline; on ``WorkerDied``, ``run(True)``: build each
    with a request of its own, so that a crash names the one function a request of its own named."""
    try:
        return run(False)
    except WorkerDied:
        return run(True)


def frozen(value: Any) -> Any:
    """``value`` with every array in it (in lists, tuples and dicts) made read-only, and returned.

    For answers cached between students: no check can then change them for the next student
    (an accidental in-place write raises). Send ``fresh`` copies of them to the worker.
    """
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif type(value) in (list, tuple):
        for item in value:
            frozen(item)
    elif type(value) is dict:
        for item in value.values():
            frozen(item)
    return value


def fresh(value: Any) -> Any:
    """A copy of ``value``'s arrays (in lists, tuples and dicts) to send to the worker.

    Everything one pipeline sends travels in one message, so an object sent twice arrives as
    one object (a student's in-place change to the first shows in the second), and a read-only
    (cached) array arrives read-only. Sent one request at a time, each arrived as a writable
    object of its own: ``fresh`` keeps it so.
    """
    if isinstance(value, np.ndarray):
        return value.copy()
    if type(value) in (list, tuple):
        return type(value)(fresh(item) for item in value)
    if type(value) is dict:
        return {key: fresh(item) for key, item in value.items()}
    return value
