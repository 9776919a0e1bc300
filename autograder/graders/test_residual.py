"""Hidden graders: residual block forward and backward (the "+1" of the skip connection)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from autograder.referee import (
    Mistake,
    expect_array,
    expect_close,
    expect_gradient,
    fmt,
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
    """Inputs for one block, drawn until no pre-activation is within KINK_MARGIN of a ReLU kink."""
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
    return {"x": x, "W1": W1, "b1": b1, "W2": W2, "b2": b2, "dout": rng.normal(size=(N, D)), "a1": a1, "z": z}


def inputs(c: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    return tuple(c[p] for p in PARAMS)


@cache
def numeric_grads(index: int) -> dict[str, np.ndarray]:
    """Centred-difference gradients of sum(forward * dout) for every input, from the reference forward."""
    c = case(index)
    grads = {}
    for k, p in enumerate(PARAMS):
        def f(v: np.ndarray, k: int = k) -> np.ndarray:
            args = list(inputs(c))
            args[k] = v
            return ref.residual_forward(*args)[0]

        grads["d" + p] = numerical_gradient(f, c[p], c["dout"])
    return grads


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


def misconceptions(c: dict[str, np.ndarray], grad: str) -> dict[str, np.ndarray]:
    variants = {
        NO_SKIP: wrong_grads(c, skip=False),
        NO_OUTER: wrong_grads(c, outer_mask=False),
        SKIP_UNMASKED: wrong_grads(c, skip_masked=False),
        NO_INNER: wrong_grads(c, inner_mask=False),
        "forgot both ReLU masks": wrong_grads(c, outer_mask=False, inner_mask=False),
        NO_SKIP + ", and " + NO_OUTER: wrong_grads(c, skip=False, outer_mask=False),
    }
    return {label: g[grad] for label, g in variants.items()}


def forward_remote(submission, c: dict[str, np.ndarray]):
    """(out, cache) handles of the student's forward pass; the cache never leaves the worker."""
    return submission.residual_forward(*inputs(c)).unpack(2)


def fetch_grads(remote, shapes: dict[str, tuple], wanted: tuple[str, ...] = GRADS) -> dict[str, np.ndarray]:
    """The gradients named in `wanted`, each checked to be a float array of the right shape."""
    got = remote.fetch()
    if type(got) not in (tuple, list) or len(got) != 5:
        raise Mistake(f"residual_backward should return a tuple (dx, dW1, db1, dW2, db2), but it returned "
                      f"{summarize(got)}.")
    return {g: expect_array(v, name=g, shape=shapes[g]) for g, v in zip(GRADS, got, strict=True) if g in wanted}


def shapes_of(c: dict[str, np.ndarray]) -> dict[str, tuple]:
    return {"d" + p: c[p].shape for p in PARAMS}


def student_grads(submission, index: int, wanted: tuple[str, ...] = GRADS) -> dict[str, np.ndarray]:
    c = case(index)
    _, cache_handle = forward_remote(submission, c)
    return fetch_grads(submission.residual_backward(c["dout"], cache_handle), shapes_of(c), wanted)


def student_grads_for(submission, c: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    _, cache_handle = forward_remote(submission, c)
    return fetch_grads(submission.residual_backward(c["dout"], cache_handle), shapes_of(c))


def describe_case(index: int) -> str:
    _, N, D, H = CASES[index]
    return f"N={N}, D={D}, H={H}"


@cache
def kink_case() -> dict[str, np.ndarray]:
    """Small integers, so every pre-activation is exact: several are exactly 0 at both ReLUs.

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
            return c


def kink_grads(c: dict[str, np.ndarray], outer_ge: bool, inner_ge: bool) -> dict[str, np.ndarray]:
    """Gradients with each ReLU mask written `> 0` (the convention) or `>= 0`."""
    x, W1, W2, a1, z, dout = c["x"], c["W1"], c["W2"], c["a1"], c["z"], c["dout"]
    dz = dout * ((z >= 0) if outer_ge else (z > 0))
    da1 = (dz @ W2.T) * ((a1 >= 0) if inner_ge else (a1 > 0))
    return {"dx": da1 @ W1.T + dz, "dW1": x.T @ da1, "db1": da1.sum(axis=0), "dW2": relu(a1).T @ dz,
            "db2": dz.sum(axis=0)}


# ------------------------------------------------------------------------------ forward


@pytest.mark.points(5)
@pytest.mark.visibility("visible")
@pytest.mark.requires("forward_values")
def test_forward_returns_out_and_cache(submission):
    """residual_forward returns (out, cache) with out of shape (N, D)"""
    for index in range(len(CASES)):
        c = case(index)
        out, _ = forward_remote(submission, c)
        expect_array(out.fetch(), name=f"out ({describe_case(index)})", shape=c["x"].shape,
                     hint="out = relu(x + relu(x @ W1 + b1) @ W2 + b2) has the shape of x: (N, D).")


@pytest.mark.points(15)
@pytest.mark.visibility("visible")
def test_forward_values(submission):
    """residual_forward computes relu(x + relu(x @ W1 + b1) @ W2 + b2)"""
    for index in range(len(CASES)):
        c = case(index)
        x, z, a1 = c["x"], c["z"], c["a1"]
        out, _ = forward_remote(submission, c)
        F = z - x
        expect_close(out.fetch(), relu(z), name=f"out ({describe_case(index)})", misconceptions={
            "forgot the outer ReLU: returned x + F(x) instead of relu(x + F(x))": z,
            "left out the skip connection: returned relu(F(x)) without adding x": relu(F),
            "applied the outer ReLU before adding x: relu(F(x)) + x instead of relu(x + F(x))": relu(F) + x,
            "forgot the ReLU between the two layers: used (x @ W1 + b1) @ W2 instead of relu(x @ W1 + b1) @ W2":
                relu(x + a1 @ c["W2"] + c["b2"]),
        })


# ------------------------------------------------------------------------------ backward


@pytest.mark.points(5)
@pytest.mark.visibility("visible")
@pytest.mark.requires("backward_dx")
def test_backward_returns_five_gradients(submission):
    """residual_backward returns (dx, dW1, db1, dW2, db2), each shaped like its input"""
    for index in range(len(CASES)):
        student_grads(submission, index)  # the shape checks are the point here


@pytest.mark.points(25)
@pytest.mark.visibility("visible")
def test_backward_dx(submission):
    """dx matches the numerical gradient (skip path and both ReLU masks, relu'(0) = 0)"""
    for index in range(len(CASES)):
        c = case(index)
        got = student_grads(submission, index, ("dx",))["dx"]
        expect_gradient(got, numeric_grads(index)["dx"], name=f"dx ({describe_case(index)})",
                        misconceptions=misconceptions(c, "dx"), hint=SKIP_HINT)
    c = kink_case()
    got = student_grads_for(submission, c)
    wrong = {"used z >= 0 in the outer ReLU's mask; the course convention is relu'(0) = 0, so a sum x + F(x) "
             "of exactly 0 passes no gradient": kink_grads(c, True, False),
             "used a1 >= 0 in the inner ReLU's mask; the course convention is relu'(0) = 0, so a hidden "
             "pre-activation of exactly 0 passes no gradient": kink_grads(c, False, True),
             "used >= 0 in both ReLU masks; the course convention is relu'(0) = 0": kink_grads(c, True, True)}
    for g in GRADS:
        expect_close(got[g], kink_grads(c, False, False)[g], name=f"{g} when some pre-activations are exactly 0",
                     rtol=1e-9, atol=1e-12, misconceptions={k: v[g] for k, v in wrong.items()},
                     hint="relu'(0) = 0: mask with (z > 0) and (a1 > 0)")


@pytest.mark.points(10)
@pytest.mark.visibility("visible")
def test_backward_skip_path(submission):
    """with the residual branch switched off, dx is the masked dout (∂y/∂x = 0 + 1)"""
    rng = np.random.default_rng(21)
    N, D, H = 6, 4, 5
    x = rng.normal(size=(N, D))
    x[np.abs(x) < KINK_MARGIN] = 0.5  # keep x + b2 away from the outer kink
    W1, W2 = rng.normal(size=(D, H)), rng.normal(size=(H, D))
    b1 = np.full(H, -100.0)  # every hidden unit is off, so F(x) = b2 and ∂F/∂x = 0
    b2 = np.zeros(D)
    dout = rng.normal(size=(N, D))
    _, cache_handle = submission.residual_forward(x, W1, b1, W2, b2).unpack(2)
    got = fetch_grads(submission.residual_backward(dout, cache_handle),
                      {"dx": x.shape, "dW1": W1.shape, "db1": b1.shape, "dW2": W2.shape, "db2": b2.shape}, ("dx",))
    expect_close(got["dx"], dout * (x > 0), name="dx with every hidden unit off", inputs={"x": x}, misconceptions={
        NO_SKIP: np.zeros_like(x),
        SKIP_UNMASKED: dout,
        NO_INNER: dout * (x > 0) + (dout * (x > 0)) @ W2.T @ W1.T,
    }, hint="here ∂F/∂x = 0, so all of dx comes from the skip path: dout where x + F(x) > 0, else 0.")


@pytest.mark.points(15)
@pytest.mark.visibility("visible")
def test_backward_dW1_db1(submission):
    """dW1 and db1 match the numerical gradient (inner and outer ReLU masks)"""
    for index in range(len(CASES)):
        c = case(index)
        got = student_grads(submission, index, ("dW1", "db1"))
        numeric = numeric_grads(index)
        for g in ("dW1", "db1"):
            expect_gradient(got[g], numeric[g], name=f"{g} ({describe_case(index)})",
                            misconceptions=misconceptions(c, g),
                            hint="backprop dz through W2, then through the inner ReLU's mask, then sum over the "
                                 "batch for db1.")


@pytest.mark.points(15)
@pytest.mark.visibility("visible")
def test_backward_dW2_db2(submission):
    """dW2 and db2 match the numerical gradient (outer ReLU mask, sum over the batch)"""
    for index in range(len(CASES)):
        c = case(index)
        got = student_grads(submission, index, ("dW2", "db2"))
        numeric = numeric_grads(index)
        dz = c["dout"] * (c["z"] > 0)
        for g in ("dW2", "db2"):
            mis = misconceptions(c, g)
            if g == "db2":
                mis["averaged over the batch instead of summing (np.mean instead of np.sum)"] = dz.mean(axis=0)
            expect_gradient(got[g], numeric[g], name=f"{g} ({describe_case(index)})", misconceptions=mis)


@pytest.mark.points(5)
@pytest.mark.visibility("hidden")
@pytest.mark.requires("backward_dx")
def test_backward_uses_its_cache(submission):
    """residual_backward uses the cache it is given, not state from the last forward call"""
    first, second = case(0), case(2)
    out, cache_first = forward_remote(submission, first)
    expect_close(out.fetch(), relu(first["z"]), name="out", hint="this check needs a correct forward pass first.")
    alone = fetch_grads(submission.residual_backward(first["dout"], cache_first), shapes_of(first))
    _, cache_first = forward_remote(submission, first)
    forward_remote(submission, second)  # a second block's forward pass in between, as in a deeper network
    try:
        interleaved = fetch_grads(submission.residual_backward(first["dout"], cache_first), shapes_of(first))
    except (Mistake, StudentException) as exc:  # re-raised with the likely cause; it still scores 0
        text = exc.teaching_message() if isinstance(exc, StudentException) else str(exc)
        raise Mistake(f"{text}\n{CACHE_HINT}") from None
    for g in GRADS:
        if not np.allclose(interleaved[g], alone[g], rtol=1e-9, atol=1e-12, equal_nan=True):
            raise Mistake(f"{g} changed when another forward pass ran between forward and backward: "
                          f"{fmt(alone[g].flat[0])} before, {fmt(interleaved[g].flat[0])} after.\n{CACHE_HINT}")


CACHE_HINT = ("residual_backward was called with the cache of the FIRST of two forward passes. Everything "
              "backward needs must travel in the cache that forward returns, not in globals or attributes that "
              "the next forward call overwrites.")


@pytest.mark.points(5)
@pytest.mark.visibility("after_due_date")
@pytest.mark.requires("forward_values", "backward_dx")
def test_inputs_not_mutated(submission):
    """forward and backward leave x, the weights and dout unchanged"""
    c = case(3)
    handles = {p: submission.put(c[p]) for p in (*PARAMS, "dout")}
    out, cache_handle = submission.residual_forward(*(handles[p] for p in PARAMS)).unpack(2)
    expect_close(out.fetch(), relu(c["z"]), name="out", hint="this check needs a correct forward pass first.")
    fetch_grads(submission.residual_backward(handles["dout"], cache_handle), shapes_of(c))
    for p, handle in handles.items():
        after = handle.fetch()
        if type(after) is np.ndarray and after.shape == c[p].shape and np.array_equal(after, c[p]):
            continue
        where = ""
        if type(after) is np.ndarray and after.shape == c[p].shape:
            i = tuple(int(k) for k in np.argwhere(after != c[p])[0])
            where = f" at index {i}: it was {fmt(c[p][i])}, it is now {fmt(after[i])}"
        raise Mistake(f"your code modified its input {p}{where}. In-place updates such as {p}[mask] = 0 or "
                      f"{p} *= ... change the caller's array, which the rest of the network still needs. "
                      f"Build a new array instead (e.g. dout * mask).")
