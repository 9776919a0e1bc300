"""Hidden graders: clipping by value, by norm, by global norm, and the adaptive clipper."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pytest

from autograder.graders.stepwise import fast_or_step_by_step, run, tuple_of
from autograder.referee import (
    Answers,
    Mistake,
    answers_by_part,
    apart_on_death,
    expect_array,
    expect_close,
    expect_scalar,
    fmt,
    fresh,
    frozen,
    summarize,
)
from autograder.sandbox import StudentException
from solutions import clipping as ref

SHAPES = ((3, 4), (5,), (2, 3, 2))
# Scaled values may differ by 1e-6 / norm relative: torch's clip_grad_norm_ scales by max_norm / (norm + 1e-6),
# a valid choice; every norm the graders clip is at least 0.3, so rtol 1e-5 accepts it.
RTOL = 1e-5

PER_ELEMENT = ("clipped each entry on its own (like clip by value) instead of scaling the whole tensor by "
               "max_norm / ||grad||: clip by norm must keep the gradient's direction")
PER_TENSOR = ("scaled each tensor by its own norm (clip_by_norm on every tensor) instead of scaling all of them "
              "by ONE factor max_norm / global_norm: per-tensor clipping changes the direction of the update")
ZERO_HINT = ("an all-zero gradient has norm 0: only rescale when the norm exceeds max_norm, so you never compute "
             "max_norm / 0 (or 0 / 0 = NaN).")


def grad_list(rng: np.random.Generator, scales: tuple[float, ...], shapes=SHAPES) -> list[np.ndarray]:
    return [rng.normal(size=s) * k for s, k in zip(shapes, scales, strict=True)]


def norm(g: np.ndarray) -> float:
    return float(np.sqrt(np.sum(g * g)))


def fetch_list(remote, n: int, name: str) -> list:
    """A list (or tuple) of n items, or a teaching Mistake."""
    return as_list(remote.fetch() if not isinstance(remote, (list, tuple)) else remote, n, name)


def as_list(got, n: int, name: str) -> list:
    """A fetched value as a list of n items (see ``fetch_list``), or a teaching Mistake."""
    if type(got) not in (list, tuple) or len(got) != n:
        raise Mistake(f"{name} should return a list of {n} arrays, one per gradient, but returned {summarize(got)}.")
    return list(got)


def with_zero_hint(action):
    """Run `action`; a student's ZeroDivisionError gets the zero-norm explanation (it still scores 0)."""
    try:
        return action()
    except StudentException as exc:
        if exc.exc_type in ("ZeroDivisionError", "FloatingPointError"):
            raise Mistake(f"{exc.teaching_message()}\nHint: {ZERO_HINT}") from None
        raise


def fetch_pair(remote, name: str) -> tuple:
    """The (clipped, global_norm) or (clipped, was_clipped) pair, or a teaching Mistake."""
    return as_pair(remote.fetch(), name)


def as_pair(got, name: str) -> tuple:
    """A fetched value as a pair (see ``fetch_pair``), or a teaching Mistake."""
    if type(got) not in (list, tuple) or len(got) != 2:
        second = "was_clipped" if "Adaptive" in name else "global_norm"
        raise Mistake(f"{name} should return a pair (clipped, {second}), but returned {summarize(got)}.")
    return tuple(got)


# ------------------------------------------------------------------------------ clip by value


@pytest.mark.points(10)
@pytest.mark.visibility("visible")
def test_clip_by_value_values(submission):
    """clip_by_value caps every entry at ±clip_value"""
    rng = np.random.default_rng(101)
    cases = [(clip_value, grad_list(rng, (3.0, 1.0, 0.2))) for clip_value in (0.5, 1.0, 2.5)]
    pipe = submission.pipeline()  # the three calls in one round trip, judged in turn
    for clip_value, grads in cases:
        pipe.fetch(pipe.call(submission.clip_by_value, grads, clip_value))
    answers = Answers(pipe)
    for clip_value, grads in cases:
        got = as_list(answers.next(), len(grads), "clip_by_value")
        for i, g in enumerate(grads):
            expect_close(got[i], np.clip(g, -clip_value, clip_value),
                         name=f"clip_by_value(grads, {clip_value})[{i}]", inputs={"grad": g}, misconceptions={
                             "only capped from above: entries below -clip_value must become -clip_value":
                                 np.minimum(g, clip_value),
                             "capped the absolute value and lost the sign": np.minimum(np.abs(g), clip_value),
                             "clipped to [0, clip_value] instead of [-clip_value, clip_value]":
                                 np.clip(g, 0, clip_value),
                             "rescaled by the norm instead of clipping each entry": ref.clip_by_norm(g, clip_value),
                         })


@pytest.mark.points(10)
@pytest.mark.visibility("visible")
@pytest.mark.requires("clip_by_value_values")
def test_clip_by_value_returns_new_arrays(submission):
    """clip_by_value does not modify its input and returns new arrays"""
    rng = np.random.default_rng(102)
    grads = grad_list(rng, (3.0, 0.1, 2.0))  # the second one needs no clipping at all
    pipe = submission.pipeline()  # one round trip, judged in the order it ran
    handles = [pipe.put(g) for g in grads]
    result = pipe.call(submission.clip_by_value, handles, 1.0)
    pipe.fetch(result)
    for h in handles:
        pipe.fetch(h)
    for i, g in enumerate(grads):
        pipe.assign(result[i], np.full(g.shape, 123.0))
        pipe.fetch(handles[i])
    answers = Answers(pipe)
    got = as_list(answers.next(), len(grads), "clip_by_value")
    for i, g in enumerate(grads):
        expect_close(got[i], np.clip(g, -1.0, 1.0), name=f"clip_by_value(grads, 1.0)[{i}]")
    for i, g in enumerate(grads):
        after = answers.next()
        if not (type(after) is np.ndarray and after.shape == g.shape and np.array_equal(after, g)):
            raise Mistake(f"clip_by_value modified its input: grads[{i}] changed from {fmt(g)} to {fmt(after)}. "
                          "In-place clipping (g[g > c] = c, np.clip(g, -c, c, out=g)) destroys the caller's "
                          "gradients; np.clip(g, -c, c) returns a new array.")
    for i, g in enumerate(grads):
        if not np.array_equal(answers.next(), g):
            raise Mistake(f"clip_by_value returned grads[{i}] itself, not a new array: writing into the result "
                          "changed the input. Return new arrays even when nothing needs clipping.")


# ------------------------------------------------------------------------------ clip by norm


@pytest.mark.points(15)
@pytest.mark.visibility("visible")
def test_clip_by_norm_values(submission):
    """clip_by_norm scales the whole tensor to norm max_norm, keeping its direction"""
    rng = np.random.default_rng(103)
    cases = [(shape, max_norm, rng.normal(size=shape) * 3)
             for shape, max_norm in (((7,), 1.0), ((4, 5), 2.0), ((2, 3, 4), 0.5), ((1,), 0.3), ((6, 2), 3.0))]
    pipe = submission.pipeline()  # the five calls in one round trip, judged in turn
    for _, max_norm, g in cases:
        pipe.fetch(pipe.call(submission.clip_by_norm, g, max_norm))
    answers = Answers(pipe)
    for shape, max_norm, g in cases:
        n = norm(g)
        rows = g.reshape(g.shape[0], -1)
        per_row = (rows * np.minimum(1.0, max_norm / np.linalg.norm(rows, axis=1, keepdims=True))).reshape(shape)
        expected = ref.clip_by_norm(g, max_norm)
        mis = {
            PER_ELEMENT: np.clip(g, -max_norm, max_norm),
            "used the squared norm ||g||² instead of ||g||": g * max_norm / n**2,
            "took the norm of each row (an axis) instead of over the whole tensor": per_row,
            "divided by the norm but forgot to multiply by max_norm": g / n,
            "used the L1 norm sum(|g|) instead of the L2 norm": g * max_norm / np.abs(g).sum(),
        }
        if g.ndim == 1 and g.size == 1:  # a single entry: per-element and per-tensor clipping coincide
            mis.pop(PER_ELEMENT)
        got = expect_array(answers.next(), name=f"clip_by_norm(grad of shape {shape}, {max_norm})", shape=shape)
        hint = None
        if np.all(np.isfinite(got)) and norm(got) > 0:
            cos = float(np.sum(got * g) / (norm(got) * n))
            if cos < 1 - 1e-9:
                hint = (f"your result points in a different direction from grad (cosine {cos:.4f}, should be 1): "
                        "multiply the whole tensor by one number.")
        expect_close(got, expected, name=f"clip_by_norm(grad of shape {shape}, {max_norm}) (||grad|| = {n:.4g})",
                     rtol=RTOL, misconceptions=mis, hint=hint)


@pytest.mark.points(5)
@pytest.mark.visibility("visible")
@pytest.mark.requires("clip_by_norm_values")
def test_clip_by_norm_within_limit_unchanged(submission):
    """clip_by_norm leaves a gradient whose norm is at most max_norm unchanged (as a new array)"""
    rng = np.random.default_rng(104)
    cases = []
    for shape, max_norm in (((6,), 10.0), ((3, 4), 5.0), ((2, 2, 2), 100.0)):
        g = rng.normal(size=shape)
        g *= 0.5 * max_norm / norm(g)
        cases.append((max_norm, g))
    at_limit = np.array([3.0, 4.0])  # exactly at the limit: unchanged too
    # One round trip, judged in the order it ran. Each value sent is an array of its own, as it
    # was when each went in a request of its own (one object sent twice arrives as one).
    pipe = submission.pipeline()
    for max_norm, g in cases:
        pipe.fetch(pipe.call(submission.clip_by_norm, g, max_norm))
    pipe.fetch(pipe.call(submission.clip_by_norm, at_limit.copy(), 5.0))
    handle = pipe.put(at_limit.copy())
    pipe.assign(pipe.call(submission.clip_by_norm, handle, 10.0), np.full(at_limit.shape, 123.0))
    pipe.fetch(handle)
    answers = Answers(pipe)
    for max_norm, g in cases:
        expect_close(answers.next(), g, name=f"clip_by_norm(grad with norm {norm(g):.4g}, {max_norm})", misconceptions={
            "rescaled to length max_norm even though the norm was already below it: only scale DOWN when "
            "||grad|| > max_norm": g * max_norm / norm(g),
        })
    g = at_limit
    expect_close(answers.next(), g, name="clip_by_norm([3, 4], 5.0)")
    if not np.array_equal(answers.next(), g):
        raise Mistake("clip_by_norm returned the caller's own array when no clipping was needed: writing into the "
                      "result changed the gradient that was passed in. Return grad.copy() in that case too, so "
                      "the caller's gradient and the clipped one never share memory.")


@pytest.mark.points(5)
@pytest.mark.visibility("visible")
@pytest.mark.requires("clip_by_norm_values")
def test_clip_by_norm_zero_gradient(submission):
    """clip_by_norm keeps a zero gradient zero (no division by zero, no NaN)"""
    pipe = submission.pipeline()  # both calls in one round trip, judged in turn
    for shape in ((4,), (2, 3)):
        pipe.fetch(pipe.call(submission.clip_by_norm, np.zeros(shape), 1.0))
    answers = Answers(pipe)
    for shape in ((4,), (2, 3)):
        g = np.zeros(shape)
        got = with_zero_hint(answers.next)
        expect_close(got, g, name=f"clip_by_norm(zeros{shape}, 1.0)", hint=ZERO_HINT)


# ------------------------------------------------------------------------------ clip by global norm


def global_norm_answers(submission, cases: list[tuple[list[np.ndarray], float]]) -> Answers:
    """clip_by_global_norm on every case, in one round trip; its answers, to judge in turn."""
    pipe = submission.pipeline()
    for grads, max_norm in cases:
        pipe.fetch(pipe.call(submission.clip_by_global_norm, grads, max_norm))
    return Answers(pipe)


def global_cases() -> list[tuple[list[np.ndarray], float]]:
    """Gradient lists whose global norm exceeds max_norm, with some tensors individually below it."""
    rng = np.random.default_rng(105)
    cases = [(grad_list(rng, (5.0, 0.3, 0.5)), 2.0), (grad_list(rng, (1.0, 1.0, 1.0)), 3.0),
             (grad_list(rng, (0.2, 0.2, 0.2)), 0.5), (grad_list(rng, (10.0,), shapes=((4, 4),)), 1.0)]
    cases.append(([np.array([3.0, 4.0]), np.array([[12.0]])], 6.5))  # global norm 13, the lecture-style example
    return cases


@pytest.mark.points(15)
@pytest.mark.visibility("visible")
def test_clip_by_global_norm_values(submission):
    """clip_by_global_norm scales every tensor by the same factor max_norm / global_norm"""
    cases = global_cases()
    answers = global_norm_answers(submission, cases)
    for grads, max_norm in cases:
        norms = [norm(g) for g in grads]
        total = float(np.sqrt(sum(n * n for n in norms)))
        expected, _ = ref.clip_by_global_norm(grads, max_norm)
        pair = as_pair(answers.next(), "clip_by_global_norm")
        got = fetch_list(pair[0], len(grads), "clip_by_global_norm (its first value)")
        label = f"norms {', '.join(f'{n:.3g}' for n in norms)}; global norm {total:.4g}; max_norm {max_norm}"
        for i, g in enumerate(grads):
            mis = {
                "used the sum of the tensors' norms instead of sqrt(sum of squares)": g * max_norm / sum(norms),
                "forgot the square root: divided by the sum of squares": g * max_norm / total**2,
                "used the largest tensor norm instead of the global norm": g * min(1.0, max_norm / max(norms)),
            }
            if len(grads) > 1:
                mis = {PER_TENSOR: ref.clip_by_norm(g, max_norm), **mis}
            expect_close(got[i], expected[i], name=f"clipped[{i}] ({label})", rtol=RTOL, misconceptions=mis)


@pytest.mark.points(5)
@pytest.mark.visibility("visible")
def test_clip_by_global_norm_returns_norm_before_clipping(submission):
    """clip_by_global_norm returns the global norm before clipping"""
    cases = [*global_cases(), ([np.ones(4), np.ones((2, 2))], 100.0)]
    answers = global_norm_answers(submission, cases)
    for grads, max_norm in cases:
        norms = [norm(g) for g in grads]
        total = float(np.sqrt(sum(n * n for n in norms)))
        pair = as_pair(answers.next(), "clip_by_global_norm")
        expect_scalar(pair[1], total, name=f"global_norm (tensor norms {', '.join(f'{n:.3g}' for n in norms)})",
                      misconceptions={
                          "returned the norm AFTER clipping (it is max_norm whenever clipping happened)": min(total,
                                                                                                             max_norm),
                          "returned the sum of the tensors' norms, not sqrt(sum of squares)": sum(norms),
                          "returned the sum of squares (forgot the square root)": total**2,
                      })


@pytest.mark.points(5)
@pytest.mark.visibility("visible")
@pytest.mark.requires("clip_by_global_norm_values")
def test_clip_by_global_norm_zero_gradients(submission):
    """all-zero gradients stay zero and the global norm is 0 (no NaN)"""
    grads = [np.zeros(s) for s in SHAPES]
    # one zero tensor among non-zero ones must not trip a per-tensor division either
    mixed = [np.zeros((2, 2)), np.full(3, 2.0)]
    answers = global_norm_answers(submission, [(grads, 1.0), (mixed, 1.0)])  # judged in turn
    pair = with_zero_hint(lambda: as_pair(answers.next(), "clip_by_global_norm"))
    got = fetch_list(pair[0], len(grads), "clip_by_global_norm (its first value)")
    for i, g in enumerate(grads):
        expect_close(got[i], g, name=f"clipped[{i}] of all-zero gradients", hint=ZERO_HINT)
    expect_scalar(pair[1], 0.0, name="global_norm of all-zero gradients", hint=ZERO_HINT)
    grads = mixed
    expected, _ = ref.clip_by_global_norm(grads, 1.0)
    pair = with_zero_hint(lambda: as_pair(answers.next(), "clip_by_global_norm"))
    got = fetch_list(pair[0], 2, "clip_by_global_norm (its first value)")
    for i in range(2):
        expect_close(got[i], expected[i], name=f"clipped[{i}] of [zeros, 2s] with max_norm 1", rtol=RTOL,
                     hint=ZERO_HINT)


@pytest.mark.points(5)
@pytest.mark.visibility("after_due_date")
@pytest.mark.requires("clip_by_global_norm_values")
def test_clip_by_global_norm_leaves_input_alone(submission):
    """clip_by_global_norm returns new arrays and does not modify its input"""
    rng = np.random.default_rng(106)
    cases = [(scale, grad_list(rng, (scale, scale, scale))) for scale in (10.0, 0.01)]  # clipped, and within the limit
    fast_or_step_by_step(check_leaves_input_alone, submission, cases)


def check_leaves_input_alone(submission, cases: list[tuple[float, list[np.ndarray]]], fast: bool) -> None:
    """Both cases in one pipeline (``fast``): per case the inputs, the call and its whole answer,
    then each input fetched around a write into the matching returned array; judged afterwards
    in the order the step-by-step check fetched them. Step by step: three round trips per case
    (the inputs and the call, the unpacking with its own message, the fetches and writes)."""
    if fast:
        pipe = submission.pipeline()
        for _, grads in cases:
            handles = [pipe.put(g) for g in grads]
            answer = pipe.call(submission.clip_by_global_norm, handles, 1.0)
            pipe.fetch(answer)
            for i, g in enumerate(grads):
                pipe.fetch(handles[i])
                pipe.assign(answer[0][i], np.full(g.shape, 123.0))
                pipe.fetch(handles[i])
        values = run(pipe, whole={k * (1 + 2 * len(grads)) for k, (_, grads) in enumerate(cases)})
        for scale, grads in cases:
            judge_left_alone(scale, grads, tuple_of(next(values), 2)[0], lambda: next(values))
        return
    for scale, grads in cases:
        pipe = submission.pipeline()
        handles = [pipe.put(g) for g in grads]
        answer = pipe.call(submission.clip_by_global_norm, handles, 1.0)
        pipe.run()
        result, _ = answer.unpack(2)
        pipe = submission.pipeline()
        pipe.fetch(result)
        for i, g in enumerate(grads):
            pipe.fetch(handles[i])
            pipe.assign(result[i], np.full(g.shape, 123.0))
            pipe.fetch(handles[i])
        answers = Answers(pipe)
        judge_left_alone(scale, grads, answers.next(), answers.next)


def judge_left_alone(scale: float, grads: list[np.ndarray], clipped, next_value) -> None:
    """The clipped values first, then each input as fetched before and after the write into its result."""
    expected, _ = ref.clip_by_global_norm(grads, 1.0)
    got = as_list(clipped, len(grads), "clip_by_global_norm (its first value)")
    for i in range(len(grads)):
        expect_close(got[i], expected[i], name=f"clipped[{i}]", rtol=RTOL,
                     hint="this check needs correct clipped values first (see the other clip_by_global_norm checks).")
    for i, g in enumerate(grads):
        if not np.array_equal(next_value(), g):
            raise Mistake(f"clip_by_global_norm modified grads[{i}] in place (g *= scale?). The caller still "
                          "holds those arrays; return new ones (g * scale).")
        if not np.array_equal(next_value(), g):
            raise Mistake(f"clip_by_global_norm returned grads[{i}] itself when the norm was "
                          f"{'above' if scale > 1 else 'within'} the limit: "
                          "return new arrays (g.copy()).")


# ------------------------------------------------------------------------------ adaptive clipper


class WrongClipper:
    """The lecture's adaptive clipper with one classic mistake switched on (to name it in messages)."""

    def __init__(self, percentile: float, history: int, warmup: int, *, append_after: bool = False,
                 bounded: bool = True, warmup_ge: bool = False, fraction: bool = False) -> None:
        self.percentile, self.history, self.warmup = percentile, history, warmup
        self.append_after, self.bounded, self.warmup_ge, self.fraction = append_after, bounded, warmup_ge, fraction
        self.norms: list[float] = []

    def clip(self, grads: list[np.ndarray]) -> tuple[list[np.ndarray], bool]:
        n = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
        if not self.append_after:
            self.norms.append(n)
            if self.bounded:
                self.norms = self.norms[-self.history:]
        ready = len(self.norms) >= self.warmup if self.warmup_ge else len(self.norms) > self.warmup
        out, clipped = [g.copy() for g in grads], False
        if ready and self.norms:
            threshold = float(np.percentile(self.norms, self.percentile / 100 if self.fraction else self.percentile))
            if n > threshold:
                out, clipped = [g * (threshold / n) for g in grads], True
        if self.append_after:
            self.norms.append(n)
            if self.bounded:
                self.norms = self.norms[-self.history:]
        return out, clipped


WRONG_CLIPPERS = {
    "appended the current norm to the history AFTER computing the threshold: it must join the history first":
        {"append_after": True},
    "kept every norm ever seen: the history must keep only the last `history` norms": {"bounded": False},
    "started clipping when the history holds `warmup` norms (>=): clipping starts once it holds MORE than "
    "`warmup`": {"warmup_ge": True},
    "passed the percentile as a fraction (np.percentile takes 95 for the 95th percentile, not 0.95)":
        {"fraction": True},
    "appended the current norm AFTER computing the threshold (it must join the history first) and kept every "
    "norm ever seen (the history keeps only the last `history`)": {"append_after": True, "bounded": False},
}


def norm_sequence(seed: int, steps: int, spikes: dict[int, float], phases: list[tuple[int, float]]
                  ) -> list[float]:
    """Norms that drift between phases (level from a step on) with spikes at given (0-based) steps."""
    rng = np.random.default_rng(seed)
    norms = []
    level = 1.0
    for k in range(steps):
        level = dict(phases).get(k, level)
        norms.append(spikes.get(k, level * float(np.exp(rng.normal(0.0, 0.25)))))
    return norms


def grads_with_norm(rng: np.random.Generator, target: float) -> list[np.ndarray]:
    grads = [rng.normal(size=(3, 4)), rng.normal(size=5)]
    n = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
    return [g * (target / n) for g in grads]


SEQUENCES = {
    # 150 steps: a spike at call 10 (still warm-up) and at call 11 (the first that may clip), then rare
    # spikes, and a loud first phase that a bounded history forgets 100 steps later.
    "default": ({}, norm_sequence(107, 150, phases=[(0, 4.0), (40, 1.0)], spikes={
        9: 40.0, 10: 60.0, 30: 25.0, 64: 12.0, 95: 30.0, 118: 9.0, 131: 7.0, 142: 15.0, 149: 6.0})),
    "warmup3": ({"percentile": 50, "history": 100, "warmup": 3}, [1.0, 2.0, 10.0, 20.0, 0.5, 30.0]),
    "warmup0": ({"percentile": 50, "history": 100, "warmup": 0}, [3.0, 1.0, 5.0]),
    "custom": ({"percentile": 80, "history": 20, "warmup": 5}, norm_sequence(111, 60, phases=[
        (0, 5.0), (15, 0.5), (35, 2.0)], spikes={5: 50.0, 20: 20.0, 30: 8.0, 45: 3.0, 52: 4.0})),
}


@dataclass
class Sequence:
    """One scripted run: the inputs, the reference's answers, and what each classic mistake answers."""

    params: dict
    norms: list[float]
    steps: list[list[np.ndarray]]
    expected: list[tuple[list[np.ndarray], bool]]
    flat: list[tuple[np.ndarray, bool]]  # each step's clipped gradients, flattened, and was_clipped
    thresholds: list[float | None]  # the reference's threshold when it may clip
    wrong: dict[str, list[tuple[np.ndarray, bool]]]
    matrix: np.ndarray  # every step's clipped gradients, flattened: one row per step
    flags: np.ndarray  # every step's was_clipped


def flatten(arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([a.ravel() for a in arrays])


@cache
def sequence(name: str) -> Sequence:
    """Inputs and all parent-side answers of a scripted run, computed once per grading process."""
    params, norms = SEQUENCES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    steps = [grads_with_norm(rng, n) for n in norms]
    reference = ref.AdaptiveClipper(**params)
    expected, thresholds = [], []
    for grads in steps:
        expected.append(reference.clip(grads))
        ready = len(reference.norms) > reference.warmup
        thresholds.append(float(np.percentile(reference.norms, reference.percentile)) if ready else None)
    wrong = {}
    for label, flags in WRONG_CLIPPERS.items():
        model = WrongClipper(reference.percentile, reference.history, reference.warmup, **flags)
        wrong[label] = [(flatten(c), f) for c, f in (model.clip(grads) for grads in steps)]
    flat = [(flatten(c), f) for c, f in expected]
    matrix, flags = np.stack([f for f, _ in flat]), np.array([c for _, c in flat])
    frozen((steps, expected, flat, wrong, matrix, flags))  # shared by every student: no check may change them
    return Sequence(params, norms, steps, expected, flat, thresholds, wrong, matrix, flags)


def whole_run_right(seq: Sequence, answers: list) -> bool:
    """Every call answered, well-formed and equal to the reference's answer (``same_step``), all
    steps compared at once. True only when the call-by-call judging would find nothing to say;
    anything else (False) is left to it, for its message."""
    if len(answers) != len(seq.steps):
        return False
    shapes = [g.shape for g in seq.steps[0]]
    if any(type(a) not in (list, tuple) or len(a) != 2 or type(a[0]) not in (list, tuple)
           or len(a[0]) != len(shapes) or type(a[1]) not in (bool, np.bool_) for a in answers):
        return False
    if any([g.shape for g in step] != shapes for step in seq.steps):
        return False
    columns = []
    for i, shape in enumerate(shapes):
        column = [a[0][i] for a in answers]
        if any(type(g) is not np.ndarray or g.dtype.kind != "f" or g.shape != shape for g in column):
            return False
        columns.append(np.stack(column).reshape(len(answers), -1))
    if not np.array_equal(np.array([bool(a[1]) for a in answers]), seq.flags):
        return False
    with np.errstate(invalid="ignore", over="ignore"):  # NaN or inf fails the test: the slow path decides
        return bool(np.all(np.abs(np.concatenate(columns, axis=1) - seq.matrix) <= 1e-9 + RTOL * np.abs(seq.matrix)))


def same_step(answer: tuple[np.ndarray, bool], got_flat: np.ndarray, got_flag: object) -> bool:
    flat, flag = answer
    return bool(got_flag) == flag and bool(np.all(np.abs(got_flat - flat) <= 1e-9 + RTOL * np.abs(flat)))


def clipper(submission, pipe, params: dict, apart: bool):
    """``AdaptiveClipper(**params)``: recorded in ``pipe``, or with ``apart`` built now by a request of
    its own. Built inside the pipeline saves a round trip, but a worker that dies in the pipeline is
    then named "AdaptiveClipper(...) or AdaptiveClipper.clip(...)"; checks run again with ``apart``
    to name clip alone, as one request per call did (``apart_on_death``)."""
    return submission.AdaptiveClipper(**params) if apart else pipe.call(submission.AdaptiveClipper, **params)


def clipper_run(submission, seq: Sequence, apart: bool, pipe=None):
    """The clipper (see ``clipper``), then clip on every step of ``seq``, each answer fetched: recorded
    in ``pipe`` (default: a new pipeline, one round trip)."""
    pipe = pipe if pipe is not None else submission.pipeline()
    clip = clipper(submission, pipe, seq.params, apart).clip
    steps_in_worker = pipe.put(fresh(seq.steps))  # one transfer instead of one per call
    for k in range(len(seq.steps)):
        pipe.fetch(pipe.call(clip, steps_in_worker[k]))
    return pipe


def run_sequence(submission, name: str) -> None:
    """Drive the student's clipper through a scripted run; explain the first call that differs.

    After a difference the run goes on (while the student's answers stay well-formed), so that the
    misconception named is one that reproduces the student's whole run, not just one step.
    """
    seq = sequence(name)
    # The whole run, the clipper's construction included, is one pipeline (one round trip), every
    # answer fetched; it is judged afterwards, call by call, as if each had been fetched on its own.
    judge_run(seq, apart_on_death(lambda apart: Answers(clipper_run(submission, seq, apart), on_death=not apart)))


def judge_run(seq: Sequence, answers: Answers) -> None:
    """The answers of a scripted run (``clipper_run``), judged call by call (see ``run_sequence``)."""
    answers, failed = answers.values, answers.failed
    if failed is None and whole_run_right(seq, answers):
        return
    consistent = list(seq.wrong)
    first_failure = None
    for k, answer in enumerate(answers):
        shapes = [g.shape for g in seq.steps[k]]
        try:
            got_clipped, got_flag = as_pair(answer, "AdaptiveClipper.clip")
            got_clipped = fetch_list(got_clipped, len(shapes), "AdaptiveClipper.clip (its first value)")
            got_clipped = [expect_array(g, name=f"clipped[{i}] at call {k + 1}", shape=shapes[i])
                           for i, g in enumerate(got_clipped)]
            if type(got_flag) not in (bool, np.bool_):
                raise Mistake(f"was_clipped should be a bool, but at call {k + 1} it is {summarize(got_flag)}.")
        except Mistake:
            if first_failure is None:
                raise
            break  # the explanation of the first difference stands
        got_flat = flatten(got_clipped)
        consistent = [label for label in consistent if same_step(seq.wrong[label][k], got_flat, got_flag)]
        if first_failure is None and not same_step(seq.flat[k], got_flat, got_flag):
            first_failure = describe_step(seq, k, got_clipped, got_flag)
    else:
        if failed is not None:  # the call after the last answer judged failed
            raise failed
    if first_failure is not None:
        if consistent:
            first_failure += f"\nLooks like you {consistent[0]}."
        raise Mistake(first_failure)


def describe_step(seq: Sequence, k: int, got_clipped: list[np.ndarray], got_flag: object) -> str:
    """Expected vs got at the first call (0-based k) where the student's clipper differs."""
    setup = ", ".join(f"{key}={v}" for key, v in seq.params.items()) or "defaults"
    warmup = seq.params.get("warmup", 10)
    held = min(k + 1, seq.params.get("history", 100))
    context = (f"AdaptiveClipper({setup}), call {k + 1} of {len(seq.steps)}: the global norm is {seq.norms[k]:.4g} "
               f"and the history should hold {held} norm(s), this one included")
    if seq.thresholds[k] is not None:
        context += f"; the threshold np.percentile(history, percentile) is {seq.thresholds[k]:.4g}"
    else:
        context += f", not more than warmup={warmup}, so no clipping yet"
    expected, expected_flag = seq.expected[k]
    if bool(got_flag) != expected_flag:
        detail = f"was_clipped should be {expected_flag}, got {bool(got_flag)}"
    else:
        i = next(i for i, (a, b) in enumerate(zip(got_clipped, expected, strict=True))
                 if not np.allclose(a, b, rtol=RTOL, atol=1e-9))
        detail = (f"clipped[{i}] is wrong: its first entry should be {fmt(expected[i].flat[0])}, "
                  f"got {fmt(got_clipped[i].flat[0])} (the global norm after clipping should be "
                  f"{norm(flatten(expected)):.4g}, got {norm(flatten(got_clipped)):.4g})")
    return f"{context}: {detail}."


@pytest.mark.points(10)
@pytest.mark.visibility("visible")
def test_adaptive_clipper_default_sequence(submission):
    """AdaptiveClipper() matches the lecture's algorithm over 150 steps with spikes"""
    run_sequence(submission, "default")


@pytest.mark.points(5)
@pytest.mark.visibility("visible")
def test_adaptive_clipper_warmup_boundary(submission):
    """AdaptiveClipper starts clipping once the history holds more than warmup norms; warm-up returns copies"""
    # during warm-up nothing is clipped, and the gradients returned must still be new arrays
    grads = grad_list(np.random.default_rng(105), (1.0, 2.0, 0.5))

    def record(pipe, part: str, apart: bool) -> None:
        if part != "copies":
            clipper_run(submission, sequence(part), apart, pipe)
            return
        handles = [pipe.put(g) for g in grads]
        clipped = pipe.call(clipper(submission, pipe, {"warmup": 3}, apart).clip, handles)[0]
        for i, g in enumerate(grads):
            pipe.assign(clipped[i], np.full(g.shape, 123.0))
            pipe.fetch(handles[i])

    # two scripted runs and the copies, one round trip, judged in the order they ran
    parts = answers_by_part(submission, ["warmup3", "warmup0", "copies"], record)
    judge_run(sequence("warmup3"), next(parts))
    judge_run(sequence("warmup0"), next(parts))
    answers = next(parts)
    for i, g in enumerate(grads):
        if not np.array_equal(answers.next(), g):
            raise Mistake(f"AdaptiveClipper.clip returned grads[{i}] itself during warm-up (no clipping): writing "
                          "into the result changed the caller's gradient. Return copies ([g.copy() for g in "
                          "grads]) when nothing is clipped, as clip_by_global_norm does.")


@pytest.mark.points(10)
@pytest.mark.visibility("hidden")
def test_adaptive_clipper_custom_parameters(submission):
    """AdaptiveClipper(percentile=80, history=20, warmup=5) over 60 steps with shifts in scale"""
    run_sequence(submission, "custom")
