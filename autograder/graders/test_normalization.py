"""Hidden graders for `normalization`: batch norm and layer norm, forward, backward, and BatchNorm1d.

Forward passes are compared with the reference on many inputs; backward passes with
numerical gradients (centred differences of the reference forward pass, CS231n relative
error), so any correct formula passes; BatchNorm1d is replayed against the reference,
which tests/ prove equal to torch.nn.BatchNorm1d. When an answer matches what a known wrong
formula gives, the message names the mistake.
"""

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
    expect_raises,
    fmt,
    fresh,
    frozen,
    numerical_gradient,
)
from solutions import normalization as ref

# Measured: the reference's relative error against these numerical gradients is below 3e-8 on
# every case used here; wrong formulas give 1e-2 or more.
GRAD_TOL = 1e-6


@cache
def case(seed: int, n: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x with a different location and scale per feature, random gamma, beta and dout (read-only)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 4.0, size=d) + rng.uniform(-5.0, 5.0, size=d)
    gamma = rng.uniform(0.5, 2.0, size=d) * rng.choice([-1.0, 1.0], size=d)
    beta = rng.normal(size=d)
    dout = rng.normal(size=(n, d))
    return frozen((x, gamma, beta, dout))


# Includes square inputs, where normalizing over the wrong axis or forgetting keepdims
# broadcasts silently instead of raising.
SHAPES = ((4, 3), (10, 5), (32, 8), (3, 7), (6, 6), (64, 2), (2, 9), (5, 5))
GRAD_SHAPES = ((5, 4), (8, 3), (3, 6), (6, 6))


def _norm(x: np.ndarray, gamma, beta, axis: int, eps: float = 1e-5, ddof: int = 0, keepdims: bool = True,
          eps_outside: bool = False) -> np.ndarray:
    """gamma * (x - mean) / sqrt(var + eps) + beta over `axis`, with optional mistakes built in."""
    mean = x.mean(axis=axis, keepdims=keepdims)
    var = x.var(axis=axis, ddof=ddof, keepdims=keepdims)
    if not keepdims and axis == 1:
        mean, var = mean[None, :], var[None, :]  # what broadcasting does with an (N,) vector
    with np.errstate(all="ignore"):
        std = np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps)
        return gamma * (x - mean) / std + beta


def forward(submission, name: str, x, gamma, beta, fast: bool = False, **kw):
    """Call a student's forward function; returns (out array, cache handle).

    ``fast``: one round trip (the whole (out, cache) fetched and unpacked here), else three
    (call, unpack, fetch out).
    """
    if not fast:
        out, cache = getattr(submission, name)(*fresh((x, gamma, beta)), **kw).unpack(2)
        return out.fetch(), cache
    pipe = submission.pipeline()
    result = pipe.call(getattr(submission, name), *fresh((x, gamma, beta)), **kw)
    pipe.fetch(result)
    out = tuple_of(next(run(pipe, whole={0})), 2)[0]
    return out, result[1]


def backward(submission, name: str, dout, cache, fast: bool = False):
    """Call a student's backward function; returns (dx, dgamma, dbeta) arrays (``fast``: one round trip)."""
    if not fast:
        return tuple(h.fetch() for h in getattr(submission, name)(np.array(dout), cache).unpack(3))
    pipe = submission.pipeline()
    pipe.fetch(pipe.call(getattr(submission, name), np.array(dout), cache))
    return tuple_of(next(run(pipe, whole={0})), 3)


def forward_outs(submission, name: str, inputs: list[tuple], fast: bool, **kw) -> Iterator[np.ndarray]:
    """The out array of ``name(x, gamma, beta, **kw)`` for each input, in order, judged by the caller
    in between; ``fast``: every call in one round trip, else three round trips per call."""
    if not fast:
        for x, gamma, beta in inputs:
            yield forward(submission, name, x, gamma, beta, **kw)[0]
        return
    fn = getattr(submission, name)
    pipe = submission.pipeline()
    for x, gamma, beta in inputs:
        pipe.fetch(pipe.call(fn, *fresh((x, gamma, beta)), **kw))
    for value in run(pipe, whole=set(range(len(inputs)))):
        yield tuple_of(value, 2)[0]


def batchnorm_forward_misconceptions(x, gamma, beta, eps: float = 1e-5) -> dict:
    n, d = x.shape
    mis = {
        "used the unbiased variance (ddof=1); batch norm's forward pass divides by N (np.var's default)":
            _norm(x, gamma, beta, 0, eps, ddof=1),
        "normalized each sample over its features (that is layer norm); batch norm normalizes each feature "
        "over the batch, axis 0": _norm(x, gamma, beta, 1, eps),
        "forgot to scale by gamma and shift by beta": _norm(x, 1.0, 0.0, 0, eps),
        "swapped gamma and beta (out = gamma * x_hat + beta)": _norm(x, beta, gamma, 0, eps),
        "divided by the variance instead of the standard deviation sqrt(var + eps)":
            gamma * (x - x.mean(0)) / (x.var(0) + eps) + beta,
        "added eps to the standard deviation instead of to the variance (sqrt(var + eps))":
            _norm(x, gamma, beta, 0, eps, eps_outside=True),
    }
    if eps != 1e-5:
        mis["ignored the eps argument (always 1e-5)"] = _norm(x, gamma, beta, 0, 1e-5)
        mis["ignored the eps argument (always 1e-8)"] = _norm(x, gamma, beta, 0, 1e-8)
    return mis


def layernorm_forward_misconceptions(x, gamma, beta, eps: float = 1e-5) -> dict:
    mis = {
        "normalized over the batch (axis 0): layer norm normalizes over the last axis (features), "
        "one mean and variance per sample": _norm(x, gamma, beta, 0, eps),
        "used the unbiased variance (ddof=1); layer norm divides by D": _norm(x, gamma, beta, 1, eps, ddof=1),
        "forgot to scale by gamma and shift by beta": _norm(x, 1.0, 0.0, 1, eps),
        "swapped gamma and beta (out = gamma * x_hat + beta)": _norm(x, beta, gamma, 1, eps),
        "added eps to the standard deviation instead of to the variance (sqrt(var + eps))":
            _norm(x, gamma, beta, 1, eps, eps_outside=True),
    }
    if x.shape[0] == x.shape[1]:
        mis["forgot keepdims=True: x.mean(axis=1) has shape (N,), which lines up with the columns, not the "
            "rows"] = _norm(x, gamma, beta, 1, eps, keepdims=False)
    if eps != 1e-5:
        mis["ignored the eps argument (always 1e-5)"] = _norm(x, gamma, beta, 1, 1e-5)
        mis["ignored the eps argument (always 1e-8)"] = _norm(x, gamma, beta, 1, 1e-8)
    return mis


# ---------------------------------------------------------------------------- forward passes


@cache
def forward_case(norm: str, seed: int, n: int, d: int, eps: float = 1e-5, scale: float = 1.0) -> tuple:
    """(x, gamma, beta, the reference's out, the misconception table) for one forward check (read-only)."""
    x, gamma, beta, _ = case(seed, n, d)
    if scale != 1.0:
        x = x * scale
    want = getattr(ref, f"{norm}_forward")(x, gamma, beta, eps=eps)[0]
    table = batchnorm_forward_misconceptions if norm == "batchnorm" else layernorm_forward_misconceptions
    return (*frozen((x, gamma, beta, want)), frozen_map(table(x, gamma, beta, eps)))


def check_forward_values(submission, norm: str, first_seed: int, fast: bool) -> None:
    cases = [forward_case(norm, first_seed + i, n, d) for i, (n, d) in enumerate(SHAPES)]
    outs = forward_outs(submission, f"{norm}_forward", [c[:3] for c in cases], fast)
    for (x, _, _, want, mis), got in zip(cases, outs):
        expect_close(got, want, name=f"{norm}_forward(x of shape {x.shape})", rtol=1e-6, atol=1e-8,
                     inputs={"x": x}, misconceptions=mis)


@pytest.mark.points(12)
@pytest.mark.visibility("visible")
def test_batchnorm_forward_values(submission):
    """batchnorm_forward matches the reference on 8 batches (per-feature batch mean, biased variance)"""
    fast_or_step_by_step(check_forward_values, submission, "batchnorm", 100)


def check_batch_of_one(submission, fast: bool) -> None:
    x, gamma, beta, dout = case(200, 1, 4)
    got, cache = forward(submission, "batchnorm_forward", x, gamma, beta, fast=fast)
    got = expect_array(got, name="batchnorm_forward(x of shape (1, 4))", shape=(1, 4))
    if not np.all(np.isfinite(got)):
        raise Mistake(f"batchnorm_forward on one sample returned {fmt(got)}. With N = 1, x - mean is 0 and the "
                      "biased variance is 0, so out = beta. NaN means a division by zero: divide by N, not N - 1 "
                      "(ddof=1), and add eps inside the square root.")
    expect_close(got, beta[None, :], name="batchnorm_forward(x of shape (1, 4))", atol=1e-8,
                 hint="with one sample every x - mean is 0, so the output is beta")
    dx, dgamma, dbeta = backward(submission, "batchnorm_backward", dout, cache, fast=fast)
    for what, got, shape in (("dx", dx, (1, 4)), ("dgamma", dgamma, (4,))):
        got = expect_array(got, name=f"batchnorm_backward {what} for one sample", shape=shape)
        if not np.all(np.isfinite(got)):
            raise Mistake(f"batchnorm_backward {what} for one sample contains NaN or inf: look for a division by "
                          "N - 1 (= 0) or by a standard deviation without eps.")
    expect_close(dbeta, dout[0], name="batchnorm_backward dbeta for one sample", atol=1e-10,
                 hint="dbeta is dout summed over the batch, here a single row")


@pytest.mark.points(5)
@pytest.mark.visibility("visible")
def test_batchnorm_batch_of_one(submission):
    """batchnorm_forward on a batch of one sample returns beta (no NaN), and its backward stays finite"""
    fast_or_step_by_step(check_batch_of_one, submission)


@pytest.mark.points(12)
@pytest.mark.visibility("visible")
def test_layernorm_forward_values(submission):
    """layernorm_forward matches the reference on 8 batches (per-sample mean and biased variance over features)"""
    fast_or_step_by_step(check_forward_values, submission, "layernorm", 300)


@cache
def layernorm_one_sample() -> tuple:
    x, gamma, beta, _ = case(400, 1, 6)
    return x, gamma, beta, frozen(ref.layernorm_forward(x, gamma, beta)[0]), frozen_map(
        {"normalized over the batch: with one sample that gives beta; layer norm normalizes each sample over its "
         "own features (axis=-1)": beta[None, :]})


def check_layernorm_batch_of_one(submission, fast: bool) -> None:
    x, gamma, beta, want, mis = layernorm_one_sample()
    got, _ = forward(submission, "layernorm_forward", x, gamma, beta, fast=fast)
    expect_close(got, want, name="layernorm_forward(x of shape (1, 6))", rtol=1e-6, atol=1e-8, misconceptions=mis)


@pytest.mark.points(4)
@pytest.mark.visibility("visible")
def test_layernorm_batch_of_one(submission):
    """layernorm_forward works on a single sample (it does not depend on the batch)"""
    fast_or_step_by_step(check_layernorm_batch_of_one, submission)


# ---------------------------------------------------------------------------- backward passes


def _sum_shape_mistake(got, n: int, d: int, what: str) -> None:
    """dgamma/dbeta with the shape of a per-sample or per-row sum: name the axis mistake."""
    if type(got) is np.ndarray and got.shape == (n, d) and n != 1:
        raise Mistake(f"{what} has shape {got.shape}, expected ({d},). {what} must sum over the batch: "
                      f"{what.removeprefix('d')} is shared by all {n} samples, so its gradient adds up their "
                      "contributions (sum over axis 0).")
    if type(got) is np.ndarray and got.shape == (n,) and n != d:
        raise Mistake(f"{what} has shape {got.shape}, expected ({d},): you summed over the features (axis 1); "
                      f"{what.removeprefix('d')} has one entry per feature, so sum over the batch (axis 0).")


@cache
def gradient_case(norm: str, seed: int, n: int, d: int) -> tuple:
    """Inputs, the reference's out, and per gradient (name, numerical gradient, misconceptions): read-only."""
    x, gamma, beta, dout = case(seed, n, d)
    ref_fwd = getattr(ref, f"{norm}_forward")
    axis = 0 if norm == "batchnorm" else -1
    x_hat = _norm(x, 1.0, 0.0, 1 if norm == "layernorm" else 0)
    std = np.sqrt(x.var(axis=axis, keepdims=True) + 1e-5)
    dxh = dout * gamma
    other = -1 if axis == 0 else 0
    proj_other = (dxh - dxh.mean(axis=other, keepdims=True)
                  - x_hat * (dxh * x_hat).mean(axis=other, keepdims=True)) / std
    mis_dx = {
        "treated the mean and variance as constants: dx = dout * gamma / std misses the terms that come from "
        "the mean and variance depending on every x": dxh / std,
        "dropped the path through the variance (only the mean's term is there)":
            (dxh - dxh.mean(axis=axis, keepdims=True)) / std,
        "forgot to multiply by gamma (dx_hat = dout * gamma)":
            (dout - dout.mean(axis=axis, keepdims=True)
             - x_hat * (dout * x_hat).mean(axis=axis, keepdims=True)) / std,
    }
    if norm == "layernorm":
        mis_dx["averaged over the batch (axis 0) as in batch norm; in layer norm each sample has its own mean and "
               "variance, so dx averages over the features (axis=-1)"] = proj_other
    grads = (
        ("dx", numerical_gradient(lambda v: ref_fwd(v, gamma, beta)[0], x, dout), mis_dx),
        ("dgamma", numerical_gradient(lambda g: ref_fwd(x, g, beta)[0], gamma, dout),
         {"forgot x_hat: dgamma = sum(dout * x_hat)": dout.sum(axis=0),
          "averaged instead of summing over the batch": (dout * x_hat).mean(axis=0)}),
        ("dbeta", numerical_gradient(lambda b: ref_fwd(x, gamma, b)[0], beta, dout),
         {"averaged instead of summing over the batch": dout.mean(axis=0)}),
    )
    want = frozen(ref_fwd(x, gamma, beta)[0])
    return x, gamma, beta, dout, want, tuple((what, frozen(num), frozen_map(mis)) for what, num, mis in grads)


def forwards_and_backwards(submission, norm: str, cases: list[tuple], fast: bool) -> Iterator[tuple]:
    """(out, (dx, dgamma, dbeta)) of the student's forward then backward (fed its own cache) on each
    case in turn, judged by the caller in between. ``fast``: every call in one round trip (each
    whole tuple fetched and unpacked here), else seven round trips a case."""
    fwd, bwd = getattr(submission, f"{norm}_forward"), getattr(submission, f"{norm}_backward")
    if not fast:
        for x, gamma, beta, dout in cases:
            out, cache = forward(submission, f"{norm}_forward", x, gamma, beta)
            yield out, backward(submission, f"{norm}_backward", dout, cache)
        return
    pipe = submission.pipeline()
    for x, gamma, beta, dout in cases:
        result = pipe.call(fwd, *fresh((x, gamma, beta)))
        pipe.fetch(result)
        pipe.fetch(pipe.call(bwd, np.array(dout), result[1]))
    answers = run(pipe, whole=set(range(2 * len(cases))))
    for _ in cases:
        out = tuple_of(next(answers), 2)[0]
        yield out, tuple_of(next(answers), 3)


def gradient_check(norm: str, seed: int, n: int, d: int, out, got: tuple) -> None:
    """Student backward (fed the student's own cache) vs centred differences of the reference forward."""
    x, gamma, beta, dout, want, grads = gradient_case(norm, seed, n, d)
    got = dict(zip(("dx", "dgamma", "dbeta"), got))
    forward_wrong = not (type(out) is np.ndarray and out.shape == x.shape
                         and np.allclose(out, want, rtol=1e-6, atol=1e-8))
    note = f"\n(Your {norm}_forward is also wrong on this input; fix it first.)" if forward_wrong else ""
    try:
        for what, num, mis in grads:
            if what != "dx":
                _sum_shape_mistake(got[what], n, d, what)
            expect_gradient(got[what], num, name=f"{norm}_backward {what} (x of shape {x.shape})", tol=GRAD_TOL,
                            misconceptions=mis)
    except Mistake as exc:
        raise Mistake(f"{exc}{note}") from None


def check_backward(submission, norm: str, first_seed: int, fast: bool) -> None:
    seeds = [(first_seed + i, n, d) for i, (n, d) in enumerate(GRAD_SHAPES)]
    answers = forwards_and_backwards(submission, norm, [gradient_case(norm, *s)[:4] for s in seeds], fast)
    for (seed, n, d), (out, got) in zip(seeds, answers):
        gradient_check(norm, seed, n, d, out, got)


@pytest.mark.points(16)
@pytest.mark.visibility("visible")
def test_batchnorm_backward_numerical(submission):
    """batchnorm_backward: dx, dgamma, dbeta agree with numerical gradients on 4 batches"""
    fast_or_step_by_step(check_backward, submission, "batchnorm", 500)


@pytest.mark.points(16)
@pytest.mark.visibility("visible")
def test_layernorm_backward_numerical(submission):
    """layernorm_backward: dx, dgamma, dbeta agree with numerical gradients on 4 batches"""
    fast_or_step_by_step(check_backward, submission, "layernorm", 600)


# ---------------------------------------------------------------------------- BatchNorm1d


def replay(batches, momentum: float, *, unbiased: bool = True, keras_momentum: bool = False):
    """Running (mean, var) after each training step, with optional mistakes built in."""
    d = batches[0].shape[1]
    rm, rv = np.zeros(d), np.ones(d)
    states = []
    for x in batches:
        mean, var = x.mean(axis=0), x.var(axis=0, ddof=1 if unbiased else 0)
        keep = momentum if keras_momentum else 1 - momentum
        rm, rv = keep * rm + (1 - keep) * mean, keep * rv + (1 - keep) * var
        states.append((rm, rv))
    return states


TRAIN_SIZES = (5, 3, 8, 2, 6)


RUNNING = ("normalized with the running statistics ({}) in training mode; training mode uses the batch's own "
           "mean and biased variance, the running ones are for eval mode")
KERAS = ("used the Keras momentum convention: in PyTorch momentum weights the NEW batch, running = (1 - momentum) * "
         "running + momentum * batch_{}")


@cache
def training_replay() -> tuple:
    """The batches, and per training step the reference's (out, running_mean, running_var), each with its
    misconceptions; then running_mean after one step with the default momentum. Read-only."""
    d, momentum = 4, 0.2
    rng = np.random.default_rng(700)
    batches = [rng.normal(size=(n, d)) * [1.0, 3.0, 0.5, 2.0] + [2.0, -1.0, 0.0, 5.0] for n in TRAIN_SIZES]
    mine = ref.BatchNorm1d(d, momentum=momentum)
    biased = replay(batches, momentum, unbiased=False)
    keras = replay(batches, momentum, keras_momentum=True)
    steps = []
    for step, x in enumerate(batches, start=1):
        old_mean, old_var = mine.running_mean.copy(), mine.running_var.copy()
        want = np.array(mine.forward(x, training=True))
        rm, rv = mine.running_mean.copy(), mine.running_var.copy()
        steps.append((
            (want, frozen_map({RUNNING.format("after updating them"): (x - rm) / np.sqrt(rv + 1e-5),
                               RUNNING.format("before updating them"): (x - old_mean) / np.sqrt(old_var + 1e-5)})),
            (rm, frozen_map({KERAS.format("mean"): keras[step - 1][0].copy()})),
            (rv, frozen_map({"stored the biased variance in running_var; PyTorch stores the unbiased one "
                             "(divide by N - 1), even though it normalizes the batch with the biased one":
                             biased[step - 1][1].copy(),
                             KERAS.format("var"): keras[step - 1][1].copy()})),
        ))
        frozen((x, want, rm, rv))
    mine = ref.BatchNorm1d(d)
    mine.forward(batches[0], training=True)
    return d, momentum, tuple(batches), tuple(steps), frozen(mine.running_mean.copy())


def check_training(submission, fast: bool) -> None:
    d, momentum, batches, steps, default_mean = training_replay()
    bn = submission.BatchNorm1d(d, momentum=momentum)  # on its own: a time-out in the pipeline is then forward's
    if fast:
        pipe = submission.pipeline()
        for x in batches:
            pipe.fetch(pipe.call(bn.forward, np.array(x), training=True))
            pipe.fetch(bn.running_mean)
            pipe.fetch(bn.running_var)
        other = pipe.call(submission.BatchNorm1d, d)
        pipe.call(other.forward, np.array(batches[0]), training=True)
        pipe.fetch(other.running_mean)
        answers = run(pipe)
    else:
        def one_by_one():
            for x in batches:
                yield bn.forward(np.array(x), training=True).fetch()
                yield bn.running_mean.fetch()
                yield bn.running_var.fetch()
            other = submission.BatchNorm1d(d)
            other.forward(np.array(batches[0]), training=True)
            yield other.running_mean.fetch()
        answers = one_by_one()
    for step, (x, (out, out_mis), (rm, rm_mis), (rv, rv_mis)) in enumerate(zip(batches, *zip(*steps)), start=1):
        label = f"after training step {step} (batch of {x.shape[0]})"
        expect_close(next(answers), out, name=f"BatchNorm1d.forward(x, training=True) at step {step}", rtol=1e-6,
                     atol=1e-8, misconceptions=out_mis)
        expect_close(next(answers), rm, name=f"running_mean {label}", rtol=1e-6, atol=1e-10, misconceptions=rm_mis)
        expect_close(next(answers), rv, name=f"running_var {label}", rtol=1e-6, atol=1e-10, misconceptions=rv_mis)
    # The default momentum is 0.1.
    expect_close(next(answers), default_mean, name="running_mean after one step with the default "
                 "momentum", rtol=1e-6, atol=1e-10, hint="the default momentum is 0.1, as in PyTorch")


@pytest.mark.points(10)
@pytest.mark.visibility("visible")
def test_batchnorm1d_training_matches_pytorch(submission):
    """BatchNorm1d training steps: outputs and running statistics follow torch.nn.BatchNorm1d"""
    fast_or_step_by_step(check_training, submission)


@cache
def eval_case() -> tuple:
    """gamma, beta, running stats to set, and two batches with the expected eval outputs (read-only)."""
    d = 3
    rng = np.random.default_rng(800)
    gamma, beta = np.array([1.5, -0.5, 2.0]), np.array([0.1, 0.2, -0.3])
    rm, rv = np.array([1.0, -2.0, 0.5]), np.array([4.0, 0.25, 2.0])
    batches = []
    for n in (6, 1):
        x = rng.normal(size=(n, d)) * 2.0 + 1.0
        want = gamma * (x - rm) / np.sqrt(rv + 1e-5) + beta
        mis = {"used the batch's own statistics in eval mode; at test time a prediction must not depend on "
               "the rest of the batch, so normalize with running_mean and running_var": _norm(x, gamma, beta, 0)}
        batches.append((*frozen((x, want)), frozen_map(mis)))
    frozen((gamma, beta, rm, rv))
    return d, (("gamma", gamma), ("beta", beta), ("running_mean", rm), ("running_var", rv)), tuple(batches)


def check_eval(submission, fast: bool) -> None:
    d, settings, batches = eval_case()
    bn = submission.BatchNorm1d(d)
    if fast:
        pipe = submission.pipeline()
        for attr, value in settings:
            pipe.assign(getattr(bn, attr), value)
        for x, _, _ in batches:
            pipe.fetch(pipe.call(bn.forward, np.array(x), training=False))
        for attr, _ in settings[2:]:
            pipe.fetch(getattr(bn, attr))
        answers = run(pipe)
    else:
        def one_by_one():
            for attr, value in settings:
                getattr(bn, attr).assign(value)
            for x, _, _ in batches:
                yield bn.forward(np.array(x), training=False).fetch()
            for attr, _ in settings[2:]:
                yield getattr(bn, attr).fetch()
        answers = one_by_one()
    for x, want, mis in batches:
        expect_close(next(answers), want, name=f"BatchNorm1d.forward(x of shape {x.shape}, training=False)",
                     rtol=1e-6, atol=1e-8, inputs={"x": x}, misconceptions=mis)
    for attr, value in settings[2:]:
        expect_close(next(answers), value, name=f"{attr} after eval-mode calls", rtol=0, atol=0,
                     hint="eval mode must not update the running statistics")


@pytest.mark.points(8)
@pytest.mark.visibility("visible")
def test_batchnorm1d_eval_uses_running_stats(submission):
    """BatchNorm1d in eval mode normalizes with running_mean/running_var, works for one sample, changes nothing"""
    fast_or_step_by_step(check_eval, submission)


@pytest.mark.points(4)
@pytest.mark.visibility("visible")
@pytest.mark.requires("batchnorm1d_training_matches_pytorch", "batchnorm1d_eval_uses_running_stats",
                      "batchnorm1d_parameters")
def test_batchnorm1d_single_sample_training_raises(submission):
    """BatchNorm1d in training mode raises ValueError on a batch of one sample, as PyTorch does"""
    bn = submission.BatchNorm1d(3)
    expect_raises(ValueError, lambda: bn.forward(np.array([[1.0, 2.0, 3.0]]), training=True),
                  name="BatchNorm1d(3).forward(x of shape (1, 3), training=True)",
                  hint="one sample has no batch variance to estimate (and N - 1 = 0 in the unbiased running "
                       "estimate): raise ValueError, like torch.nn.BatchNorm1d")


@cache
def parameters_case() -> tuple:
    d = 5
    gamma, beta = np.linspace(0.5, 2.5, d), np.linspace(-1.0, 1.0, d)
    x, *_ = case(900, 7, d)
    initial = (("gamma", np.ones(d)), ("beta", np.zeros(d)), ("running_mean", np.zeros(d)),
               ("running_var", np.ones(d)))
    frozen((gamma, beta, *(v for _, v in initial)))
    return d, initial, gamma, beta, x, frozen(_norm(x, gamma, beta, 0)), frozen_map(
        {"ignored gamma and beta (scale and shift)": _norm(x, 1.0, 0.0, 0)})


def check_parameters(submission, fast: bool) -> None:
    d, initial, gamma, beta, x, want, mis = parameters_case()
    bn = submission.BatchNorm1d(d)
    if fast:
        pipe = submission.pipeline()
        for attr, _ in initial:
            pipe.fetch(getattr(bn, attr))
        pipe.assign(bn.gamma, gamma)
        pipe.assign(bn.beta, beta)
        pipe.fetch(pipe.call(bn.forward, np.array(x), training=True))
        answers = run(pipe)
    else:
        def one_by_one():
            for attr, _ in initial:
                yield getattr(bn, attr).fetch()
            bn.gamma.assign(gamma)
            bn.beta.assign(beta)
            yield bn.forward(np.array(x), training=True).fetch()
        answers = one_by_one()
    for attr, value in initial:
        expect_close(next(answers), value, name=f"BatchNorm1d({d}).{attr} when created", rtol=0, atol=0)
    expect_close(next(answers), want, name="BatchNorm1d.forward after setting gamma and beta", rtol=1e-6, atol=1e-8,
                 misconceptions=mis,
                 hint="forward must use the current self.gamma and self.beta (an optimizer updates them in place)")


@pytest.mark.points(5)
@pytest.mark.visibility("hidden")
def test_batchnorm1d_parameters(submission):
    """BatchNorm1d starts like PyTorch's (gamma 1, beta 0, running mean 0, running var 1) and uses gamma and beta"""
    fast_or_step_by_step(check_parameters, submission)


MUTATED = ("{fn} modified its input {name} in place (e.g. {name} -= ... or {name} /= ...). The caller still needs "
           "it: compute into new arrays (x - mean creates one).")


def check_not_mutated(submission, fast: bool) -> None:
    x, gamma, beta, dout = case(1000, 6, 4)
    named = (("x", x), ("gamma", gamma), ("beta", beta), ("dout", dout))
    for norm in ("batchnorm", "layernorm"):
        if fast:
            pipe = submission.pipeline()
            handles = {name: pipe.put(np.array(value)) for name, value in named}
            result = pipe.call(getattr(submission, f"{norm}_forward"), handles["x"], handles["gamma"], handles["beta"])
            pipe.fetch(result)
            tuple_of(next(run(pipe, whole={0})), 2)
            pipe = submission.pipeline()
            pipe.call(getattr(submission, f"{norm}_backward"), handles["dout"], result[1])
            for name, _ in named:
                pipe.fetch(handles[name])
            answers = run(pipe)
        else:
            handles = {name: submission.put(np.array(value)) for name, value in named}
            _, cache = getattr(submission, f"{norm}_forward")(handles["x"], handles["gamma"], handles["beta"]).unpack(2)
            getattr(submission, f"{norm}_backward")(handles["dout"], cache)
            answers = (handles[name].fetch() for name, _ in named)
        for name, value in named:
            after = next(answers)
            if not (type(after) is np.ndarray and np.array_equal(after, value)):
                fn = f"{norm}_backward" if name == "dout" else f"{norm}_forward or {norm}_backward"
                raise Mistake(MUTATED.format(fn=fn, name=name))
    if fast:
        pipe = submission.pipeline()
        bn = pipe.call(submission.BatchNorm1d, 4)
        hx = pipe.put(np.array(x))
        pipe.call(bn.forward, hx, training=True)
        pipe.call(bn.forward, hx, training=False)
        pipe.fetch(hx)
        after = next(run(pipe))
    else:
        bn = submission.BatchNorm1d(4)
        hx = submission.put(np.array(x))
        bn.forward(hx, training=True)
        bn.forward(hx, training=False)
        after = hx.fetch()
    if not np.array_equal(after, x):
        raise Mistake("BatchNorm1d.forward modified its input x in place; compute into a new array.")


@pytest.mark.points(4)
@pytest.mark.visibility("hidden")
@pytest.mark.requires("batchnorm_forward_values", "layernorm_forward_values", "batchnorm_backward_numerical",
                      "layernorm_backward_numerical", "batchnorm1d_training_matches_pytorch")
def test_inputs_not_mutated(submission):
    """No function modifies its inputs (x, gamma, beta, dout) in place"""
    fast_or_step_by_step(check_not_mutated, submission)


@cache
def eps_case() -> tuple:
    eps = 0.5  # large, so every misplaced or ignored eps shows
    forwards = tuple(forward_case(norm, 1100, 6, 5, eps=eps, scale=0.3) for norm in ("batchnorm", "layernorm"))
    x = forwards[0][0]
    return eps, forwards, frozen(ref.BatchNorm1d(5, eps=eps).forward(x, training=True)), frozen_map(
        {"ignored the eps argument of BatchNorm1d": _norm(x, 1.0, 0.0, 0)})


def check_eps(submission, fast: bool) -> None:
    eps, forwards, want, mis = eps_case()
    for norm, (x, gamma, beta, want_norm, mis_norm) in zip(("batchnorm", "layernorm"), forwards):
        got, _ = forward(submission, f"{norm}_forward", x, gamma, beta, fast=fast, eps=eps)
        expect_close(got, want_norm, name=f"{norm}_forward(..., eps=0.5)", rtol=1e-6, atol=1e-8,
                     misconceptions=mis_norm)
    x = forwards[0][0]
    if fast:
        pipe = submission.pipeline()
        pipe.fetch(pipe.call(pipe.call(submission.BatchNorm1d, 5, eps=eps).forward, np.array(x), training=True))
        got = next(run(pipe))
    else:
        got = submission.BatchNorm1d(5, eps=eps).forward(np.array(x), training=True).fetch()
    expect_close(got, want, name="BatchNorm1d(5, eps=0.5).forward(x, training=True)", rtol=1e-6, atol=1e-8,
                 misconceptions=mis)


@pytest.mark.points(4)
@pytest.mark.visibility("after_due_date")
def test_eps_argument_is_used(submission):
    """eps is added to the variance inside the square root, and the eps argument is honoured"""
    fast_or_step_by_step(check_eps, submission)
