"""Hidden graders: residual block forward and backward (the "+1" of the skip connection)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

import numpy as np
import pytest

from autograder.graders.stepwise import fast_or_step_by_step, frozen_map, run, tuple_of
from autograder.referee import (
    Mistake,
    expect_array,
    expect_close,
    expect_gradient,
    fmt,
    fresh,
    frozen,
    numerical_gradient,
    summarize,
)
from autograder.sandbox import StudentException
from solutions import residual as ref

PARAMS = ("x", "W1", "b1", "W2", "b2")
GRADS = ("dx", "dW1", "db1", "dW2", "db2")
# (seed, N, D, H): a batch of one and a hidden layer of width one are in there on purpose.
CASES = ((11, 4, 5, 6), (18, 1, 3, 2), (13, 8, 6, 10), (14, 5, 2, 7), (15, 3, 4, 1))
KINK_MARGIN = 1e-3  # pre-activations stay this far from 0, so numerical gradients never straddle a kink

SKIP_HINT = ("x reaches the output twice, through the layers and through the skip connection; "
             "the gradients of both paths add: dx = (residual path) + dz, the +1 of ∂y/∂x = ∂F/∂x + 1.")


def relu(v: np.ndarray) -> np.ndarray:
    return np.maximum(v, 0.0)


@cache
def case(index: int) -> dict[str, np.ndarray]:
    """Inputs for one block, drawn until no pre-activation is within KINK_MARGIN of a ReLU kink (read-only)."""
    seed, N, D, H = CASES[index]
    rng = np.random.default_rng(seed)
    while True:
        x = rng.normal(size=(N, D))
        W1, b1 = rng.normal(size=(D, H)) / np.sqrt(D), rng.normal(scale=0.5, size=H)
        W2, b2 = rng.normal(size=(H, D)) / np.sqrt(H), rng.normal(scale=0.5, size=D)
        a1 = x @ W1 + b1
        z = x + relu(a1) @ W2 + b2
        if np.abs(a1).min() > KINK_MARGIN and np.abs(z).min() > KINK_MARGIN:
            break
    c = {"x": x, "W1": W1, "b1": b1, "W2": W2, "b2": b2, "dout": rng.normal(size=(N, D)), "a1": a1, "z": z}
    frozen(c)
    return c


def inputs(c: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """x, W1, b1, W2, b2 as fresh writable copies (what a call of the student's forward is given)."""
    return fresh(tuple(c[p] for p in PARAMS))


@cache
def numeric_grads(index: int) -> dict[str, np.ndarray]:
    """Centred-difference gradients of sum(forward * dout) for every input, from the reference forward (read-only)."""
    c = case(index)
    grads = {}
    for k, p in enumerate(PARAMS):
        def f(v: np.ndarray, k: int = k) -> np.ndarray:
            args = list(inputs(c))
            args[k] = v
            return ref.residual_forward(*args)[0]

        grads["d" + p] = numerical_gradient(f, c[p], c["dout"])
    return frozen_map(grads)


def wrong_grads(c: dict[str, np.ndarray], *, skip: bool = True, outer_mask: bool = True, inner_mask: bool = True,
                skip_masked: bool = True) -> dict[str, np.ndarray]:
    """What a backward pass with one of the classic mistakes returns."""
    x, W1, W2, a1, z, dout = c["x"], c["W1"], c["W2"], c["a1"], c["z"], c["dout"]
    dz = dout * (z > 0) if outer_mask else dout
    da1 = (dz @ W2.T) * ((a1 > 0) if inner_mask else 1.0)
    dx = da1 @ W1.T + ((dz if skip_masked else dout) if skip else 0.0)
    return {"dx": dx, "dW1": x.T @ da1, "db1": da1.sum(axis=0), "dW2": relu(a1).T @ dz, "db2": dz.sum(axis=0)}


NO_SKIP = "forgot the skip path's gradient (the +1 of ∂y/∂x = ∂F/∂x + 1): dx only has the path through the layers"
NO_OUTER = ("forgot the outer ReLU's mask: the gradient reaching x + F(x) is dout * (x + F(x) > 0), not dout "
            "(an output clipped to 0 by the ReLU passes no gradient back)")
SKIP_UNMASKED = ("sent dout itself down the skip path: the skip connection joins BEFORE the outer ReLU, so it "
                 "carries dout * (x + F(x) > 0) as well")
NO_INNER = "forgot the inner ReLU's mask: dL/d(x @ W1 + b1) = (dz @ W2.T) * (x @ W1 + b1 > 0)"


@cache
def misconceptions(index: int, grad: str) -> dict[str, np.ndarray]:
    """What each classic mistake gives for ``grad`` on case ``index`` (read-only)."""
    c = case(index)
    variants = {
        NO_SKIP: wrong_grads(c, skip=False),
        NO_OUTER: wrong_grads(c, outer_mask=False),
        SKIP_UNMASKED: wrong_grads(c, skip_masked=False),
        NO_INNER: wrong_grads(c, inner_mask=False),
        "forgot both ReLU masks": wrong_grads(c, outer_mask=False, inner_mask=False),
        NO_SKIP + ", and " + NO_OUTER: wrong_grads(c, skip=False, outer_mask=False),
    }
    return frozen_map({label: g[grad] for label, g in variants.items()})


def forward_remote(submission, c: dict[str, np.ndarray]):
    """(out, cache) handles of the student's forward pass; the cache never leaves the worker."""
    return submission.residual_forward(*inputs(c)).unpack(2)


def forward_outs(submission, cases: list[dict[str, np.ndarray]], fast: bool):
    """The student's out for each case, in order, judged by the caller in between (``fast``: all in
    one round trip, the whole (out, cache) fetched and unpacked here; else three round trips each)."""
    if not fast:
        for c in cases:
            yield forward_remote(submission, c)[0].fetch()
        return
    pipe = submission.pipeline()
    for c in cases:
        pipe.fetch(pipe.call(submission.residual_forward, *inputs(c)))
    for value in run(pipe, whole=set(range(len(cases)))):
        yield tuple_of(value, 2)[0]


def fetch_grads(remote, shapes: dict[str, tuple], wanted: tuple[str, ...] = GRADS, got=None) -> dict[str, np.ndarray]:
    """The gradients named in `wanted`, each checked to be a float array of the right shape
    (``got``: what ``remote`` returned, already fetched)."""
    if remote is not None:
        got = remote.fetch()
    if type(got) not in (tuple, list) or len(got) != 5:
        raise Mistake(f"residual_backward should return a tuple (dx, dW1, db1, dW2, db2), but it returned "
                      f"{summarize(got)}.")
    return {g: expect_array(v, name=g, shape=shapes[g]) for g, v in zip(GRADS, got, strict=True) if g in wanted}


def shapes_of(c: dict[str, np.ndarray]) -> dict[str, tuple]:
    return {"d" + p: c[p].shape for p in PARAMS}


def student_grads_for(submission, c: dict[str, np.ndarray], wanted: tuple[str, ...] = GRADS,
                      fast: bool = False) -> dict[str, np.ndarray]:
    """The student's backward pass on case ``c``, fed the cache of its own forward pass."""
    return next(grads_of(submission, [(c, wanted)], fast))


def grads_of(submission, cases: list[tuple[dict[str, np.ndarray], tuple[str, ...]]],
             fast: bool) -> Iterator[dict[str, np.ndarray]]:
    """For each (case, wanted gradients) in turn, the student's backward pass fed the cache of its own
    forward pass, judged by the caller in between. ``fast``: every call in one round trip (each
    (out, cache) fetched whole and unpacked here), else three round trips a case."""
    if not fast:
        for c, wanted in cases:
            _, cache_handle = forward_remote(submission, c)
            yield fetch_grads(submission.residual_backward(np.array(c["dout"]), cache_handle), shapes_of(c), wanted)
        return
    pipe = submission.pipeline()
    for c, _ in cases:
        result = pipe.call(submission.residual_forward, *inputs(c))
        pipe.fetch(result)
        pipe.fetch(pipe.call(submission.residual_backward, np.array(c["dout"]), result[1]))
    answers = run(pipe, whole=set(range(0, 2 * len(cases), 2)))  # the forward passes' (out, cache)
    for c, wanted in cases:
        tuple_of(next(answers), 2)
        yield fetch_grads(None, shapes_of(c), wanted, got=next(answers))


def student_grads(submission, wanted: tuple[str, ...] = GRADS, fast: bool = False) -> Iterator[dict[str, np.ndarray]]:
    """``grads_of`` every case of CASES, in order, each with the gradients ``wanted``."""
    return grads_of(submission, [(case(index), wanted) for index in range(len(CASES))], fast)


def describe_case(index: int) -> str:
    _, N, D, H = CASES[index]
    return f"N={N}, D={D}, H={H}"


@cache
def kink_case() -> dict[str, np.ndarray]:
    """Small integers, so every pre-activation is exact: several are exactly 0 at both ReLUs (read-only).

    The course convention is relu'(0) = 0; with integer inputs the zeros do not depend on the
    order a student sums in, and a mask written `>= 0` changes dx through either kink.
    """
    rng = np.random.default_rng(2024)
    N, D, H = 4, 3, 4
    while True:
        c = {"x": rng.integers(-2, 3, size=(N, D)), "W1": rng.integers(-2, 3, size=(D, H)),
             "b1": rng.integers(-2, 3, size=H), "W2": rng.integers(-2, 3, size=(H, D)),
             "b2": rng.integers(-2, 3, size=D)}
        c = {k: v.astype(float) for k, v in c.items()}
        c["dout"] = rng.integers(1, 4, size=(N, D)) * rng.choice([-1.0, 1.0], size=(N, D))
        c["a1"] = c["x"] @ c["W1"] + c["b1"]
        c["z"] = c["x"] + relu(c["a1"]) @ c["W2"] + c["b2"]
        if (c["a1"] == 0).sum() >= 2 and (c["z"] == 0).sum() >= 2 and all(
                not np.allclose(kink_grads(c, outer, inner)["dx"], kink_grads(c, False, False)["dx"])
                for outer, inner in ((True, False), (False, True))):
            frozen(c)
            return c


def kink_grads(c: dict[str, np.ndarray], outer_ge: bool, inner_ge: bool) -> dict[str, np.ndarray]:
    """Gradients with each ReLU mask written `> 0` (the convention) or `>= 0`."""
    x, W1, W2, a1, z, dout = c["x"], c["W1"], c["W2"], c["a1"], c["z"], c["dout"]
    dz = dout * ((z >= 0) if outer_ge else (z > 0))
    da1 = (dz @ W2.T) * ((a1 >= 0) if inner_ge else (a1 > 0))
    return {"dx": da1 @ W1.T + dz, "dW1": x.T @ da1, "db1": da1.sum(axis=0), "dW2": relu(a1).T @ dz,
            "db2": dz.sum(axis=0)}


@cache
def kink_expected() -> tuple:
    """Per gradient: (name, the convention's value, the misconceptions), read-only."""
    c = kink_case()
    wrong = {"used z >= 0 in the outer ReLU's mask; the course convention is relu'(0) = 0, so a sum x + F(x) "
             "of exactly 0 passes no gradient": kink_grads(c, True, False),
             "used a1 >= 0 in the inner ReLU's mask; the course convention is relu'(0) = 0, so a hidden "
             "pre-activation of exactly 0 passes no gradient": kink_grads(c, False, True),
             "used >= 0 in both ReLU masks; the course convention is relu'(0) = 0": kink_grads(c, True, True)}
    right = kink_grads(c, False, False)
    return tuple((g, frozen(right[g]), frozen_map({k: v[g] for k, v in wrong.items()})) for g in GRADS)


# ------------------------------------------------------------------------------ forward


def check_forward_shapes(submission, fast: bool) -> None:
    cases = [case(index) for index in range(len(CASES))]
    for index, (c, out) in enumerate(zip(cases, forward_outs(submission, cases, fast))):
        expect_array(out, name=f"out ({describe_case(index)})", shape=c["x"].shape,
                     hint="out = relu(x + relu(x @ W1 + b1) @ W2 + b2) has the shape of x: (N, D).")


@pytest.mark.points(5)
@pytest.mark.visibility("visible")
@pytest.mark.requires("forward_values")
def test_forward_returns_out_and_cache(submission):
    """residual_forward returns (out, cache) with out of shape (N, D)"""
    fast_or_step_by_step(check_forward_shapes, submission)


@cache
def forward_expected(index: int) -> tuple:
    """relu(z) and the misconceptions for case ``index`` (read-only)."""
    c = case(index)
    x, z, a1 = c["x"], c["z"], c["a1"]
    F = z - x
    return frozen(relu(z)), frozen_map({
        "forgot the outer ReLU: returned x + F(x) instead of relu(x + F(x))": z,
        "left out the skip connection: returned relu(F(x)) without adding x": relu(F),
        "applied the outer ReLU before adding x: relu(F(x)) + x instead of relu(x + F(x))": relu(F) + x,
        "forgot the ReLU between the two layers: used (x @ W1 + b1) @ W2 instead of relu(x @ W1 + b1) @ W2":
            relu(x + a1 @ c["W2"] + c["b2"]),
    })


def check_forward_values(submission, fast: bool) -> None:
    cases = [case(index) for index in range(len(CASES))]
    for index, out in enumerate(forward_outs(submission, cases, fast)):
        want, mis = forward_expected(index)
        expect_close(out, want, name=f"out ({describe_case(index)})", misconceptions=mis)


@pytest.mark.points(15)
@pytest.mark.visibility("visible")
def test_forward_values(submission):
    """residual_forward computes relu(x + relu(x @ W1 + b1) @ W2 + b2)"""
    fast_or_step_by_step(check_forward_values, submission)


# ------------------------------------------------------------------------------ backward


def check_five_gradients(submission, fast: bool) -> None:
    for _ in student_grads(submission, fast=fast):
        pass  # the shape checks are the point here


@pytest.mark.points(5)
@pytest.mark.visibility("visible")
@pytest.mark.requires("backward_dx")
def test_backward_returns_five_gradients(submission):
    """residual_backward returns (dx, dW1, db1, dW2, db2), each shaped like its input"""
    fast_or_step_by_step(check_five_gradients, submission)


def check_dx(submission, fast: bool) -> None:
    cases = [(case(index), ("dx",)) for index in range(len(CASES))] + [(kink_case(), GRADS)]
    answers = grads_of(submission, cases, fast)
    for index in range(len(CASES)):
        got = next(answers)["dx"]
        expect_gradient(got, numeric_grads(index)["dx"], name=f"dx ({describe_case(index)})",
                        misconceptions=misconceptions(index, "dx"), hint=SKIP_HINT)
    got = next(answers)
    for g, want, mis in kink_expected():
        expect_close(got[g], want, name=f"{g} when some pre-activations are exactly 0",
                     rtol=1e-9, atol=1e-12, misconceptions=mis, hint="relu'(0) = 0: mask with (z > 0) and (a1 > 0)")


@pytest.mark.points(25)
@pytest.mark.visibility("visible")
def test_backward_dx(submission):
    """dx matches the numerical gradient (skip path and both ReLU masks, relu'(0) = 0)"""
    fast_or_step_by_step(check_dx, submission)


@cache
def skip_case() -> tuple:
    """A block with every hidden unit off, so F(x) = b2 and dF/dx = 0 (read-only)."""
    rng = np.random.default_rng(21)
    N, D, H = 6, 4, 5
    x = rng.normal(size=(N, D))
    x[np.abs(x) < KINK_MARGIN] = 0.5  # keep x + b2 away from the outer kink
    W1, W2 = rng.normal(size=(D, H)), rng.normal(size=(H, D))
    b1 = np.full(H, -100.0)  # every hidden unit is off, so F(x) = b2 and ∂F/∂x = 0
    b2 = np.zeros(D)
    dout = rng.normal(size=(N, D))
    mis = frozen_map({
        NO_SKIP: np.zeros_like(x),
        SKIP_UNMASKED: dout.copy(),
        NO_INNER: dout * (x > 0) + (dout * (x > 0)) @ W2.T @ W1.T,
    })
    c = {"x": x, "W1": W1, "b1": b1, "W2": W2, "b2": b2, "dout": dout}
    frozen(c)
    return c, frozen(dout * (x > 0)), mis


@pytest.mark.points(10)
@pytest.mark.visibility("visible")
def test_backward_skip_path(submission):
    """with the residual branch switched off, dx is the masked dout (∂y/∂x = 0 + 1)"""
    fast_or_step_by_step(check_skip_path, submission)


def check_skip_path(submission, fast: bool) -> None:
    c, want, mis = skip_case()
    got = student_grads_for(submission, c, ("dx",), fast)
    expect_close(got["dx"], want, name="dx with every hidden unit off", inputs={"x": c["x"]}, misconceptions=mis,
                 hint="here ∂F/∂x = 0, so all of dx comes from the skip path: dout where x + F(x) > 0, else 0.")


def check_dW1_db1(submission, fast: bool) -> None:
    for index, got in enumerate(student_grads(submission, ("dW1", "db1"), fast)):
        numeric = numeric_grads(index)
        for g in ("dW1", "db1"):
            expect_gradient(got[g], numeric[g], name=f"{g} ({describe_case(index)})",
                            misconceptions=misconceptions(index, g),
                            hint="backprop dz through W2, then through the inner ReLU's mask, then sum over the "
                                 "batch for db1.")


@pytest.mark.points(15)
@pytest.mark.visibility("visible")
def test_backward_dW1_db1(submission):
    """dW1 and db1 match the numerical gradient (inner and outer ReLU masks)"""
    fast_or_step_by_step(check_dW1_db1, submission)


@cache
def db2_misconceptions(index: int) -> dict[str, np.ndarray]:
    c = case(index)
    dz = c["dout"] * (c["z"] > 0)
    return frozen_map({**misconceptions(index, "db2"),
                       "averaged over the batch instead of summing (np.mean instead of np.sum)": dz.mean(axis=0)})


def check_dW2_db2(submission, fast: bool) -> None:
    for index, got in enumerate(student_grads(submission, ("dW2", "db2"), fast)):
        numeric = numeric_grads(index)
        for g in ("dW2", "db2"):
            mis = db2_misconceptions(index) if g == "db2" else misconceptions(index, g)
            expect_gradient(got[g], numeric[g], name=f"{g} ({describe_case(index)})", misconceptions=mis)


@pytest.mark.points(15)
@pytest.mark.visibility("visible")
def test_backward_dW2_db2(submission):
    """dW2 and db2 match the numerical gradient (outer ReLU mask, sum over the batch)"""
    fast_or_step_by_step(check_dW2_db2, submission)


def check_uses_its_cache(submission, fast: bool) -> None:
    first, second = case(0), case(2)
    if fast:
        pipe = submission.pipeline()
        forwarded = pipe.call(submission.residual_forward, *inputs(first))
        pipe.fetch(forwarded)
        out = tuple_of(next(run(pipe, whole={0})), 2)[0]
    else:
        out, cache_first = forward_remote(submission, first)
        out = out.fetch()
    expect_close(out, relu(first["z"]), name="out", hint="this check needs a correct forward pass first.")
    if fast:
        pipe = submission.pipeline()
        pipe.fetch(pipe.call(submission.residual_backward, np.array(first["dout"]), forwarded[1]))
        alone = fetch_grads(None, shapes_of(first), got=next(run(pipe)))
        pipe = submission.pipeline()
        forwarded = pipe.call(submission.residual_forward, *inputs(first))
        pipe.fetch(forwarded)
        pipe.fetch(pipe.call(submission.residual_forward, *inputs(second)))  # a second block's, as in a deeper net
        for value in run(pipe, whole={0, 1}):
            tuple_of(value, 2)
        cache_first = forwarded[1]
    else:
        alone = fetch_grads(submission.residual_backward(np.array(first["dout"]), cache_first), shapes_of(first))
        _, cache_first = forward_remote(submission, first)
        forward_remote(submission, second)  # a second block's forward pass in between, as in a deeper network
    try:
        if fast:
            pipe = submission.pipeline()
            pipe.fetch(pipe.call(submission.residual_backward, np.array(first["dout"]), cache_first))
            interleaved = fetch_grads(None, shapes_of(first), got=next(run(pipe)))
        else:
            interleaved = fetch_grads(submission.residual_backward(np.array(first["dout"]), cache_first),
                                      shapes_of(first))
    except (Mistake, StudentException) as exc:  # re-raised with the likely cause; it still scores 0
        text = exc.teaching_message() if isinstance(exc, StudentException) else str(exc)
        raise Mistake(f"{text}\n{CACHE_HINT}") from None
    for g in GRADS:
        if not np.allclose(interleaved[g], alone[g], rtol=1e-9, atol=1e-12, equal_nan=True):
            raise Mistake(f"{g} changed when another forward pass ran between forward and backward: "
                          f"{fmt(alone[g].flat[0])} before, {fmt(interleaved[g].flat[0])} after.\n{CACHE_HINT}")


@pytest.mark.points(5)
@pytest.mark.visibility("hidden")
@pytest.mark.requires("backward_dx")
def test_backward_uses_its_cache(submission):
    """residual_backward uses the cache it is given, not state from the last forward call"""
    fast_or_step_by_step(check_uses_its_cache, submission)


CACHE_HINT = ("residual_backward was called with the cache of the FIRST of two forward passes. Everything "
              "backward needs must travel in the cache that forward returns, not in globals or attributes that "
              "the next forward call overwrites.")


def check_not_mutated(submission, fast: bool) -> None:
    c = case(3)
    names = (*PARAMS, "dout")
    if fast:
        pipe = submission.pipeline()
        handles = {p: pipe.put(np.array(c[p])) for p in names}
        forwarded = pipe.call(submission.residual_forward, *(handles[p] for p in PARAMS))
        pipe.fetch(forwarded)
        out = tuple_of(next(run(pipe, whole={0})), 2)[0]
    else:
        handles = {p: submission.put(np.array(c[p])) for p in names}
        out, cache_handle = submission.residual_forward(*(handles[p] for p in PARAMS)).unpack(2)
        out = out.fetch()
    expect_close(out, relu(c["z"]), name="out", hint="this check needs a correct forward pass first.")
    if fast:
        pipe = submission.pipeline()
        pipe.fetch(pipe.call(submission.residual_backward, handles["dout"], forwarded[1]))
        for p in names:
            pipe.fetch(handles[p])
        answers = run(pipe)
        fetch_grads(None, shapes_of(c), got=next(answers))
    else:
        fetch_grads(submission.residual_backward(handles["dout"], cache_handle), shapes_of(c))
        answers = (handles[p].fetch() for p in names)
    for p in names:
        after = next(answers)
        if type(after) is np.ndarray and after.shape == c[p].shape and np.array_equal(after, c[p]):
            continue
        where = ""
        if type(after) is np.ndarray and after.shape == c[p].shape:
            i = tuple(int(k) for k in np.argwhere(after != c[p])[0])
            where = f" at index {i}: it was {fmt(c[p][i])}, it is now {fmt(after[i])}"
        raise Mistake(f"your code modified its input {p}{where}. In-place updates such as {p}[mask] = 0 or "
                      f"{p} *= ... change the caller's array, which the rest of the network still needs. "
                      f"Build a new array instead (e.g. dout * mask).")


@pytest.mark.points(5)
@pytest.mark.visibility("after_due_date")
@pytest.mark.requires("forward_values", "backward_dx")
def test_inputs_not_mutated(submission):
    """forward and backward leave x, the weights and dout unchanged"""
    fast_or_step_by_step(check_not_mutated, submission)
