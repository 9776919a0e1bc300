"""Hidden graders for `normalization`: batch norm and layer norm, forward, backward, and BatchNorm1d.

Forward passes are compared with the reference on many inputs; backward passes with
numerical gradients (centred differences of the reference forward pass, CS231n relative
error), so any correct formula passes; BatchNorm1d is replayed against the reference,
which tests/ prove equal to torch.nn.BatchNorm1d. When an answer matches what a known wrong
formula gives, the message names the mistake.
"""

from __future__ import annotations

import numpy as np
import pytest

from autograder.referee import (
    Mistake,
    expect_array,
    expect_close,
    expect_gradient,
    expect_raises,
    fmt,
    numerical_gradient,
)
from solutions import normalization as ref

# Measured: the reference's relative error against these numerical gradients is below 3e-8 on
# every case used here; wrong formulas give 1e-2 or more.
GRAD_TOL = 1e-6


def case(seed: int, n: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x with a different location and scale per feature, random gamma, beta and dout."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 4.0, size=d) + rng.uniform(-5.0, 5.0, size=d)
    gamma = rng.uniform(0.5, 2.0, size=d) * rng.choice([-1.0, 1.0], size=d)
    beta = rng.normal(size=d)
    dout = rng.normal(size=(n, d))
    return x, gamma, beta, dout


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


def forward(submission, name: str, x, gamma, beta, **kw):
    """Call a student's forward function; returns (out array, cache handle)."""
    out, cache = getattr(submission, name)(x, gamma, beta, **kw).unpack(2)
    return out.fetch(), cache


def backward(submission, name: str, dout, cache):
    """Call a student's backward function; returns (dx, dgamma, dbeta) arrays."""
    return tuple(h.fetch() for h in getattr(submission, name)(dout, cache).unpack(3))


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


@pytest.mark.points(12)
@pytest.mark.visibility("visible")
def test_batchnorm_forward_values(submission):
    """batchnorm_forward matches the reference on 8 batches (per-feature batch mean, biased variance)"""
    for i, (n, d) in enumerate(SHAPES):
        x, gamma, beta, _ = case(100 + i, n, d)
        got, _ = forward(submission, "batchnorm_forward", x, gamma, beta)
        expect_close(got, ref.batchnorm_forward(x, gamma, beta)[0], name=f"batchnorm_forward(x of shape {x.shape})",
                     rtol=1e-6, atol=1e-8, inputs={"x": x},
                     misconceptions=batchnorm_forward_misconceptions(x, gamma, beta))


@pytest.mark.points(5)
@pytest.mark.visibility("visible")
def test_batchnorm_batch_of_one(submission):
    """batchnorm_forward on a batch of one sample returns beta (no NaN), and its backward stays finite"""
    x, gamma, beta, dout = case(200, 1, 4)
    got, cache = forward(submission, "batchnorm_forward", x, gamma, beta)
    got = expect_array(got, name="batchnorm_forward(x of shape (1, 4))", shape=(1, 4))
    if not np.all(np.isfinite(got)):
        raise Mistake(f"batchnorm_forward on one sample returned {fmt(got)}. With N = 1, x - mean is 0 and the "
                      "biased variance is 0, so out = beta. NaN means a division by zero: divide by N, not N - 1 "
                      "(ddof=1), and add eps inside the square root.")
    expect_close(got, beta[None, :], name="batchnorm_forward(x of shape (1, 4))", atol=1e-8,
                 hint="with one sample every x - mean is 0, so the output is beta")
    dx, dgamma, dbeta = backward(submission, "batchnorm_backward", dout, cache)
    for what, got, shape in (("dx", dx, (1, 4)), ("dgamma", dgamma, (4,))):
        got = expect_array(got, name=f"batchnorm_backward {what} for one sample", shape=shape)
        if not np.all(np.isfinite(got)):
            raise Mistake(f"batchnorm_backward {what} for one sample contains NaN or inf: look for a division by "
                          "N - 1 (= 0) or by a standard deviation without eps.")
    expect_close(dbeta, dout[0], name="batchnorm_backward dbeta for one sample", atol=1e-10,
                 hint="dbeta is dout summed over the batch, here a single row")


@pytest.mark.points(12)
@pytest.mark.visibility("visible")
def test_layernorm_forward_values(submission):
    """layernorm_forward matches the reference on 8 batches (per-sample mean and biased variance over features)"""
    for i, (n, d) in enumerate(SHAPES):
        x, gamma, beta, _ = case(300 + i, n, d)
        got, _ = forward(submission, "layernorm_forward", x, gamma, beta)
        expect_close(got, ref.layernorm_forward(x, gamma, beta)[0], name=f"layernorm_forward(x of shape {x.shape})",
                     rtol=1e-6, atol=1e-8, inputs={"x": x},
                     misconceptions=layernorm_forward_misconceptions(x, gamma, beta))


@pytest.mark.points(4)
@pytest.mark.visibility("visible")
def test_layernorm_batch_of_one(submission):
    """layernorm_forward works on a single sample (it does not depend on the batch)"""
    x, gamma, beta, _ = case(400, 1, 6)
    got, _ = forward(submission, "layernorm_forward", x, gamma, beta)
    expect_close(got, ref.layernorm_forward(x, gamma, beta)[0], name="layernorm_forward(x of shape (1, 6))",
                 rtol=1e-6, atol=1e-8,
                 misconceptions={"normalized over the batch: with one sample that gives beta; layer norm "
                                 "normalizes each sample over its own features (axis=-1)": beta[None, :]})


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


def gradient_check(submission, norm: str, seed: int, n: int, d: int) -> None:
    """Student backward (fed the student's own cache) vs centred differences of the reference forward."""
    x, gamma, beta, dout = case(seed, n, d)
    ref_fwd = getattr(ref, f"{norm}_forward")
    out, cache = forward(submission, f"{norm}_forward", x, gamma, beta)
    dx, dgamma, dbeta = backward(submission, f"{norm}_backward", dout, cache)
    forward_wrong = not (type(out) is np.ndarray and out.shape == x.shape
                         and np.allclose(out, ref_fwd(x, gamma, beta)[0], rtol=1e-6, atol=1e-8))
    note = f"\n(Your {norm}_forward is also wrong on this input; fix it first.)" if forward_wrong else ""

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
    try:
        expect_gradient(dx, numerical_gradient(lambda v: ref_fwd(v, gamma, beta)[0], x, dout),
                        name=f"{norm}_backward dx (x of shape {x.shape})", tol=GRAD_TOL, misconceptions=mis_dx)
        for what, got, num, mis in (
            ("dgamma", dgamma, numerical_gradient(lambda g: ref_fwd(x, g, beta)[0], gamma, dout),
             {"forgot x_hat: dgamma = sum(dout * x_hat)": dout.sum(axis=0),
              "averaged instead of summing over the batch": (dout * x_hat).mean(axis=0)}),
            ("dbeta", dbeta, numerical_gradient(lambda b: ref_fwd(x, gamma, b)[0], beta, dout),
             {"averaged instead of summing over the batch": dout.mean(axis=0)}),
        ):
            _sum_shape_mistake(got, n, d, what)
            expect_gradient(got, num, name=f"{norm}_backward {what} (x of shape {x.shape})", tol=GRAD_TOL,
                            misconceptions=mis)
    except Mistake as exc:
        raise Mistake(f"{exc}{note}") from None


@pytest.mark.points(16)
@pytest.mark.visibility("visible")
def test_batchnorm_backward_numerical(submission):
    """batchnorm_backward: dx, dgamma, dbeta agree with numerical gradients on 4 batches"""
    for i, (n, d) in enumerate(GRAD_SHAPES):
        gradient_check(submission, "batchnorm", 500 + i, n, d)


@pytest.mark.points(16)
@pytest.mark.visibility("visible")
def test_layernorm_backward_numerical(submission):
    """layernorm_backward: dx, dgamma, dbeta agree with numerical gradients on 4 batches"""
    for i, (n, d) in enumerate(GRAD_SHAPES):
        gradient_check(submission, "layernorm", 600 + i, n, d)


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


@pytest.mark.points(10)
@pytest.mark.visibility("visible")
def test_batchnorm1d_training_matches_pytorch(submission):
    """BatchNorm1d training steps: outputs and running statistics follow torch.nn.BatchNorm1d"""
    d, momentum = 4, 0.2
    rng = np.random.default_rng(700)
    batches = [rng.normal(size=(n, d)) * [1.0, 3.0, 0.5, 2.0] + [2.0, -1.0, 0.0, 5.0] for n in TRAIN_SIZES]
    mine = ref.BatchNorm1d(d, momentum=momentum)
    bn = submission.BatchNorm1d(d, momentum=momentum)
    biased = replay(batches, momentum, unbiased=False)
    keras = replay(batches, momentum, keras_momentum=True)
    for step, x in enumerate(batches, start=1):
        label = f"after training step {step} (batch of {x.shape[0]})"
        got = bn.forward(x, training=True).fetch()
        old_mean, old_var = mine.running_mean.copy(), mine.running_var.copy()
        want = mine.forward(x, training=True)
        running = ("normalized with the running statistics ({}) in training mode; training mode uses the batch's "
                   "own mean and biased variance, the running ones are for eval mode")
        expect_close(got, want, name=f"BatchNorm1d.forward(x, training=True) at step {step}", rtol=1e-6, atol=1e-8,
                     misconceptions={
                         running.format("after updating them"): (x - mine.running_mean) / np.sqrt(mine.running_var + 1e-5),
                         running.format("before updating them"): (x - old_mean) / np.sqrt(old_var + 1e-5)})
        expect_close(bn.running_mean.fetch(), mine.running_mean, name=f"running_mean {label}", rtol=1e-6,
                     atol=1e-10, misconceptions={
                         "used the Keras momentum convention: in PyTorch momentum weights the NEW batch, "
                         "running = (1 - momentum) * running + momentum * batch_mean": keras[step - 1][0]})
        expect_close(bn.running_var.fetch(), mine.running_var, name=f"running_var {label}", rtol=1e-6,
                     atol=1e-10, misconceptions={
                         "stored the biased variance in running_var; PyTorch stores the unbiased one "
                         "(divide by N - 1), even though it normalizes the batch with the biased one":
                             biased[step - 1][1],
                         "used the Keras momentum convention: in PyTorch momentum weights the NEW batch, "
                         "running = (1 - momentum) * running + momentum * batch_var": keras[step - 1][1]})
    # The default momentum is 0.1.
    bn, mine = submission.BatchNorm1d(d), ref.BatchNorm1d(d)
    bn.forward(batches[0], training=True)
    mine.forward(batches[0], training=True)
    expect_close(bn.running_mean.fetch(), mine.running_mean, name="running_mean after one step with the default "
                 "momentum", rtol=1e-6, atol=1e-10, hint="the default momentum is 0.1, as in PyTorch")


@pytest.mark.points(8)
@pytest.mark.visibility("visible")
def test_batchnorm1d_eval_uses_running_stats(submission):
    """BatchNorm1d in eval mode normalizes with running_mean/running_var, works for one sample, changes nothing"""
    d = 3
    rng = np.random.default_rng(800)
    gamma, beta = np.array([1.5, -0.5, 2.0]), np.array([0.1, 0.2, -0.3])
    rm, rv = np.array([1.0, -2.0, 0.5]), np.array([4.0, 0.25, 2.0])
    bn = submission.BatchNorm1d(d)
    for attr, value in (("gamma", gamma), ("beta", beta), ("running_mean", rm), ("running_var", rv)):
        getattr(bn, attr).assign(value)
    for n in (6, 1):
        x = rng.normal(size=(n, d)) * 2.0 + 1.0
        want = gamma * (x - rm) / np.sqrt(rv + 1e-5) + beta
        mis = {"used the batch's own statistics in eval mode; at test time a prediction must not depend on "
               "the rest of the batch, so normalize with running_mean and running_var":
               _norm(x, gamma, beta, 0)}
        expect_close(bn.forward(x, training=False).fetch(), want, name=f"BatchNorm1d.forward(x of shape {x.shape}, "
                     "training=False)", rtol=1e-6, atol=1e-8, inputs={"x": x}, misconceptions=mis)
    for attr, value in (("running_mean", rm), ("running_var", rv)):
        expect_close(getattr(bn, attr).fetch(), value, name=f"{attr} after eval-mode calls", rtol=0, atol=0,
                     hint="eval mode must not update the running statistics")


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


@pytest.mark.points(5)
@pytest.mark.visibility("hidden")
def test_batchnorm1d_parameters(submission):
    """BatchNorm1d starts like PyTorch's (gamma 1, beta 0, running mean 0, running var 1) and uses gamma and beta"""
    d = 5
    bn = submission.BatchNorm1d(d)
    for attr, value in (("gamma", np.ones(d)), ("beta", np.zeros(d)), ("running_mean", np.zeros(d)),
                        ("running_var", np.ones(d))):
        expect_close(getattr(bn, attr).fetch(), value, name=f"BatchNorm1d({d}).{attr} when created", rtol=0,
                     atol=0)
    gamma, beta = np.linspace(0.5, 2.5, d), np.linspace(-1.0, 1.0, d)
    bn.gamma.assign(gamma)
    bn.beta.assign(beta)
    x, *_ = case(900, 7, d)
    expect_close(bn.forward(x, training=True).fetch(), _norm(x, gamma, beta, 0), name="BatchNorm1d.forward after "
                 "setting gamma and beta", rtol=1e-6, atol=1e-8,
                 misconceptions={"ignored gamma and beta (scale and shift)": _norm(x, 1.0, 0.0, 0)},
                 hint="forward must use the current self.gamma and self.beta (an optimizer updates them in place)")


@pytest.mark.points(4)
@pytest.mark.visibility("hidden")
@pytest.mark.requires("batchnorm_forward_values", "layernorm_forward_values", "batchnorm_backward_numerical",
                      "layernorm_backward_numerical", "batchnorm1d_training_matches_pytorch")
def test_inputs_not_mutated(submission):
    """No function modifies its inputs (x, gamma, beta, dout) in place"""
    x, gamma, beta, dout = case(1000, 6, 4)
    for norm in ("batchnorm", "layernorm"):
        handles = {name: submission.put(value) for name, value in
                   (("x", x), ("gamma", gamma), ("beta", beta), ("dout", dout))}
        _, cache = getattr(submission, f"{norm}_forward")(handles["x"], handles["gamma"], handles["beta"]).unpack(2)
        getattr(submission, f"{norm}_backward")(handles["dout"], cache)
        for name, value in (("x", x), ("gamma", gamma), ("beta", beta), ("dout", dout)):
            after = handles[name].fetch()
            if not (type(after) is np.ndarray and np.array_equal(after, value)):
                fn = f"{norm}_backward" if name == "dout" else f"{norm}_forward or {norm}_backward"
                raise Mistake(f"{fn} modified its input {name} in place (e.g. {name} -= ... or {name} /= ...). "
                              "The caller still needs it: compute into new arrays (x - mean creates one).")
    bn = submission.BatchNorm1d(4)
    hx = submission.put(x)
    bn.forward(hx, training=True)
    bn.forward(hx, training=False)
    if not np.array_equal(hx.fetch(), x):
        raise Mistake("BatchNorm1d.forward modified its input x in place; compute into a new array.")


@pytest.mark.points(4)
@pytest.mark.visibility("after_due_date")
def test_eps_argument_is_used(submission):
    """eps is added to the variance inside the square root, and the eps argument is honoured"""
    eps = 0.5  # large, so every misplaced or ignored eps shows
    x, gamma, beta, _ = case(1100, 6, 5)
    x = x * 0.3
    got, _ = forward(submission, "batchnorm_forward", x, gamma, beta, eps=eps)
    expect_close(got, ref.batchnorm_forward(x, gamma, beta, eps=eps)[0], name="batchnorm_forward(..., eps=0.5)",
                 rtol=1e-6, atol=1e-8, misconceptions=batchnorm_forward_misconceptions(x, gamma, beta, eps))
    got, _ = forward(submission, "layernorm_forward", x, gamma, beta, eps=eps)
    expect_close(got, ref.layernorm_forward(x, gamma, beta, eps=eps)[0], name="layernorm_forward(..., eps=0.5)",
                 rtol=1e-6, atol=1e-8, misconceptions=layernorm_forward_misconceptions(x, gamma, beta, eps))
    bn, mine = submission.BatchNorm1d(5, eps=eps), ref.BatchNorm1d(5, eps=eps)
    expect_close(bn.forward(x, training=True).fetch(), mine.forward(x, training=True),
                 name="BatchNorm1d(5, eps=0.5).forward(x, training=True)", rtol=1e-6, atol=1e-8,
                 misconceptions={"ignored the eps argument of BatchNorm1d": _norm(x, 1.0, 0.0, 0)})
