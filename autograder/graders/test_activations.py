"""Hidden graders: activations, derivatives, layer gradient norms, gradient health."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from autograder.graders.stepwise import fast_or_step_by_step, frozen_map, run
from autograder.referee import Mistake, expect_array, expect_close, expect_equal, expect_raises, fresh, frozen
from solutions import activations as ref

RNG_SEED = 20251123


@cache
def grid(lo: float = -12.0, hi: float = 12.0, n: int = 241) -> np.ndarray:
    """Evenly spaced points that include 0 exactly, plus random ones (fixed seed); read-only, so send
    ``np.array(z)``."""
    rng = np.random.default_rng(RNG_SEED)
    return frozen(np.concatenate([np.linspace(lo, hi, n), rng.normal(0, 4, 200)]))


@cache
def network(depth: int, width: int, batch: int, scale: float, seed: int, relu_safe: bool = False):
    """A random stack of layers with its forward pass (weights, pre-activations, grad_output); read-only."""
    rng = np.random.default_rng(seed)
    sizes = [width + (i % 3) for i in range(depth + 1)]
    h = rng.normal(size=(batch, sizes[0]))
    weights, zs = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        W = rng.normal(0.0, scale / np.sqrt(fan_in), size=(fan_in, fan_out))
        z = h @ W
        if relu_safe:  # keep pre-activations away from the kink at 0
            z = np.where(np.abs(z) < 1e-3, 1e-3, z)
        weights.append(W)
        zs.append(z)
        h = ref.sigmoid(z)
    grad_output = rng.normal(size=(batch, sizes[-1]))
    frozen((grad_output, *weights, *zs))
    return grad_output, tuple(weights), tuple(zs)


@cache
def expected(check: str) -> tuple:
    """(z, the reference's answer, the misconception table) of a one-call check on a grid (read-only)."""
    if check == "sigmoid":
        z = grid()
        mis = {"returned exp(-z)/(1+exp(-z)), which is 1 - sigmoid(z)": 1 - ref.sigmoid(z),
               "computed 1/(1+exp(z)) (sign of z flipped)": ref.sigmoid(-z)}
        return z, frozen(ref.sigmoid(z)), frozen_map(mis)
    if check == "sigmoid_derivative":
        z = grid()
        s = ref.sigmoid(z)
        mis = {"computed sigmoid(z)*(1-z) instead of s*(1-s) with s = sigmoid(z)": s * (1 - z),
               "computed z*(1-z): the derivative formula needs s = sigmoid(z), not z": z * (1 - z),
               "returned sigmoid(z) itself instead of its derivative": s,
               "returned 1 - sigmoid(z)": 1 - s}
        return z, frozen(ref.sigmoid_derivative(z)), frozen_map(mis)
    if check == "tanh_derivative":
        z = grid(-8, 8)
        t = np.tanh(z)
        mis = {"computed 1 - z**2 instead of 1 - tanh(z)**2": 1 - z**2,
               "forgot the square: 1 - tanh(z)": 1 - t,
               "returned tanh(z) itself": t,
               "used the sigmoid derivative s*(1-s)": ref.sigmoid_derivative(z)}
        return z, frozen(ref.tanh_derivative(z)), frozen_map(mis)
    raise KeyError(check)


# ------------------------------------------------------------------------------ sigmoid


@pytest.mark.points(6)
@pytest.mark.visibility("visible")
def test_sigmoid_values(submission):
    """sigmoid matches 1/(1+exp(-z)) on 441 inputs"""
    z, want, mis = expected("sigmoid")
    got = submission.sigmoid(np.array(z)).fetch()
    expect_close(got, want, name="sigmoid(z)", inputs={"z": z}, misconceptions=mis)


@pytest.mark.points(6)
@pytest.mark.visibility("visible")
def test_sigmoid_extreme_inputs(submission):
    """sigmoid is stable for |z| up to 1e4 (no overflow, no NaN)"""
    z = np.array([-1e4, -1000.0, -750.0, -50.0, -1e-8, 0.0, 1e-8, 50.0, 750.0, 1000.0, 1e4])
    try:
        got = submission.sigmoid.strict(z).fetch()
    except Exception as exc:
        if "overflow" in str(exc).lower() or "FloatingPointError" in str(exc) or "RuntimeWarning" in str(exc):
            raise Mistake(
                f"sigmoid overflows for large |z| ({exc}). np.exp(-z) with z = -1000 is exp(1000) = inf. "
                "Hint: use exp(-|z|), which is always <= 1, and pick the formula by the sign of z.") from None
        raise
    expect_close(got, ref.sigmoid(z), name="sigmoid(z)", inputs={"z": z}, atol=1e-15,
                 hint="for very negative z the answer is tiny but not NaN; exp(-|z|)/(1+exp(-|z|)) stays finite")


@pytest.mark.points(8)
@pytest.mark.visibility("visible")
def test_sigmoid_derivative_values(submission):
    """sigmoid_derivative equals s*(1-s)"""
    z, want, mis = expected("sigmoid_derivative")
    got = submission.sigmoid_derivative(np.array(z)).fetch()
    expect_close(got, want, name="sigmoid_derivative(z)", inputs={"z": z}, misconceptions=mis)


@pytest.mark.points(5)
@pytest.mark.visibility("visible")
def test_sigmoid_derivative_peak(submission):
    """sigmoid's derivative peaks at exactly 0.25 at z = 0 and never exceeds it"""
    z = np.concatenate([[0.0], np.linspace(-6, 6, 121), [-1e4, 1e4]])
    got = expect_array(submission.sigmoid_derivative(z).fetch(), name="sigmoid_derivative(z)", shape=z.shape)
    if not np.isclose(got[0], 0.25, rtol=0, atol=1e-12):
        raise Mistake(f"sigmoid_derivative(0) should be exactly 0.25 (s = 0.5, so s*(1-s) = 0.25), got {got[0]:.6g}. "
                      "This maximum is why each sigmoid layer shrinks the gradient at least 4x.")
    if np.any(~np.isfinite(got)) or np.any(got > 0.25 + 1e-12) or np.any(got < 0):
        bad = int(np.argmax(~np.isfinite(got) | (got > 0.25 + 1e-12) | (got < 0)))
        raise Mistake(f"sigmoid_derivative must stay in [0, 0.25] and finite; at z = {z[bad]:g} it is {got[bad]!r}. "
                      "For |z| = 1e4 the derivative is 0 (the unit is saturated), not NaN.")


# ------------------------------------------------------------------------------ tanh, ReLU family


@pytest.mark.points(7)
@pytest.mark.visibility("visible")
def test_tanh_derivative_values(submission):
    """tanh_derivative equals 1 - tanh(z)**2"""
    z, want, mis = expected("tanh_derivative")
    got = submission.tanh_derivative(np.array(z)).fetch()
    expect_close(got, want, name="tanh_derivative(z)", inputs={"z": z}, misconceptions=mis)


@pytest.mark.points(7)
@pytest.mark.visibility("visible")
def test_relu_derivative_values(submission):
    """relu_derivative is a float 0/1 array of the input's shape"""
    rng = np.random.default_rng(RNG_SEED + 1)
    z = rng.normal(size=(7, 5))
    got = submission.relu_derivative(z).fetch()
    expect_close(got, ref.relu_derivative(z), name="relu_derivative(z) for z of shape (7, 5)", inputs={"z": z},
                 misconceptions={"returned ReLU itself, max(0, z), instead of its derivative": np.maximum(0, z)})


@pytest.mark.points(5)
@pytest.mark.visibility("visible")
def test_relu_derivative_at_zero(submission):
    """relu_derivative(0) is 0.0 (the convention the course uses)"""
    z = np.array([-2.0, -1e-12, 0.0, 1e-12, 3.0])
    got = submission.relu_derivative(z).fetch()
    expect_close(got, ref.relu_derivative(z), name="relu_derivative(z)", inputs={"z": z}, misconceptions={
        "used z >= 0, which gives 1 at z == 0; the convention is 1 only where z > 0": (z >= 0).astype(float),
    })


@pytest.mark.points(7)
@pytest.mark.visibility("visible")
def test_leaky_relu_derivative_values(submission):
    """leaky_relu_derivative is 1 for z > 0 and alpha for z <= 0"""
    fast_or_step_by_step(check_calls, submission, "leaky_relu_derivative")


@pytest.mark.points(7)
@pytest.mark.visibility("visible")
def test_elu_derivative_values(submission):
    """elu_derivative is 1 for z > 0 and alpha*exp(z) for z <= 0"""
    fast_or_step_by_step(check_calls, submission, "elu_derivative")


@cache
def calls(name: str) -> tuple:
    """The calls of a check on ``name``: (z, kwargs, strict, expect_close's keywords), read-only."""
    if name == "leaky_relu_derivative":
        z = grid(-5, 5, 101)
        return (
            (z, {}, False, {"expected": frozen(ref.leaky_relu_derivative(z)),
                            "name": "leaky_relu_derivative(z) with the default alpha", "misconceptions": frozen_map({
                                "returned 0 for z <= 0, which is plain ReLU; leaky ReLU keeps a slope alpha there":
                                    ref.relu_derivative(z),
                                "gave 1 at z == 0; the convention is alpha for z <= 0":
                                    np.where(z >= 0, 1.0, 0.01),
                                "returned the activation alpha*z instead of the slope alpha":
                                    np.where(z > 0, 1.0, 0.01 * z)})}),
            (z, {"alpha": 0.2}, False, {"expected": frozen(ref.leaky_relu_derivative(z, alpha=0.2)),
                                        "name": "leaky_relu_derivative(z, alpha=0.2)", "misconceptions": frozen_map(
                                            {"ignored the alpha argument (used 0.01)": np.where(z > 0, 1.0, 0.01)})}),
        )
    if name == "elu_derivative":
        z = grid(-10, 10, 201)
        big = frozen(np.array([800.0, 1e4]))
        return (
            (z, {}, False, {"expected": frozen(ref.elu_derivative(z)), "name": "elu_derivative(z)",
                            "misconceptions": frozen_map({
                                "returned the ELU activation instead of its derivative":
                                    np.where(z > 0, z, np.exp(np.minimum(z, 0)) - 1),
                                "used exp(z) - 1 for z <= 0 (that is ELU itself, minus alpha)":
                                    np.where(z > 0, 1.0, np.exp(np.minimum(z, 0)) - 1)})}),
            (z, {"alpha": 0.5}, False, {"expected": frozen(ref.elu_derivative(z, alpha=0.5)),
                                        "name": "elu_derivative(z, alpha=0.5)", "misconceptions": frozen_map(
                                            {"forgot to multiply by alpha": ref.elu_derivative(z, alpha=1.0)})}),
            (big, {}, True, {"expected": frozen(np.ones(2)), "name": "elu_derivative for large positive z",
                             "hint": "np.where evaluates both branches: exp(800) overflows; clip z before exp"}),
        )
    raise KeyError(name)


def check_calls(submission, name: str, fast: bool) -> None:
    """Each call of ``calls(name)`` in turn, judged against the reference (``fast``: all in one round trip)."""
    todo = calls(name)
    fn = getattr(submission, name)
    if fast:
        pipe = submission.pipeline()
        for z, kwargs, strict, _ in todo:
            pipe.fetch(pipe.call(fn, np.array(z), strict=strict, **kwargs))
        answers = run(pipe)
    else:
        answers = ((fn.strict if strict else fn)(np.array(z), **kwargs).fetch() for z, kwargs, strict, _ in todo)
    for (z, _, _, judged), got in zip(todo, answers):
        expect_close(got, inputs={"z": z}, **judged)


@pytest.mark.points(4)
@pytest.mark.visibility("hidden")
@pytest.mark.requires("sigmoid_values", "sigmoid_derivative_values", "tanh_derivative_values",
                      "relu_derivative_values", "leaky_relu_derivative_values", "elu_derivative_values")
def test_derivatives_do_not_modify_input(submission):
    """the derivative functions leave their input array unchanged"""
    rng = np.random.default_rng(RNG_SEED + 2)
    z = rng.normal(size=(6, 4))
    z[0, 0] = 0.0
    for name in ("sigmoid", "sigmoid_derivative", "tanh_derivative", "relu_derivative", "leaky_relu_derivative",
                 "elu_derivative"):
        pipe = submission.pipeline()  # one round trip instead of three
        remote_z = pipe.put(z)
        pipe.call(getattr(submission, name), remote_z)
        pipe.fetch(remote_z)
        after = next(run(pipe))
        if not np.array_equal(after, z):
            raise Mistake(f"{name} modified its input array in place (e.g. z[z <= 0] = 0). Callers still need z "
                          "for the backward pass: compute into a new array instead.")


# ------------------------------------------------------------------------------ gradient flow


def _norms(submission, grad_output, weights, zs, activation):
    got = submission.layer_gradient_norms(*_sent(grad_output, weights, zs), activation=activation).fetch()
    return _as_norms(got)


def _sent(grad_output, weights, zs) -> tuple:
    """A network's arrays as layer_gradient_norms is given them: fresh writable arrays, lists of layers."""
    return np.array(grad_output), fresh(list(weights)), fresh(list(zs))


def _as_norms(got) -> np.ndarray:
    """What layer_gradient_norms returned must be a list of Python floats."""
    if type(got) not in (list, tuple) or not all(type(v) in (float, int, np.float64) for v in got):
        raise Mistake(f"layer_gradient_norms should return a list of Python floats, got {type(got).__name__}"
                      + (f" of {sorted({type(v).__name__ for v in got})}" if type(got) in (list, tuple) else "")
                      + ". Hint: float(np.linalg.norm(g)).")
    return np.array(got, dtype=float)


@cache
def norms_expected(net: tuple, activation: str) -> tuple:
    """The reference's norms and the misconception table for ``network(*net)`` (read-only)."""
    grad_output, weights, zs = network(*net)
    weights, zs = list(weights), list(zs)
    expected = np.array(ref.layer_gradient_norms(grad_output, weights, zs, activation))
    derivative = {"sigmoid": ref.sigmoid_derivative, "tanh": ref.tanh_derivative, "relu": ref.relu_derivative}
    no_act, g = [], grad_output
    for W in reversed(weights):
        g = g @ W.T
        no_act.append(np.linalg.norm(g))
    after_act, g = [], grad_output
    for W, z in zip(reversed(weights), reversed(zs)):
        g = (g * derivative[activation](z)) @ W.T
        after_act.append(np.linalg.norm(g * 1.0))
    mean_abs = []
    g = grad_output
    for W, z in zip(reversed(weights), reversed(zs)):
        g = (g * derivative[activation](z)) @ W.T
        mean_abs.append(np.mean(np.abs(g)))
    return frozen(expected), frozen_map({
        "returned the norms first layer first; the contract is last layer first": expected[::-1],
        f"forgot to multiply by the {activation} derivative f'(z) at each layer": np.array(no_act),
        "used the mean absolute value instead of the Frobenius norm": np.array(mean_abs),
    })


def _check_norms(got, net: tuple, activation: str):
    expected, mis = norms_expected(net, activation)
    L = len(network(*net)[1])
    if got.shape != expected.shape:
        raise Mistake(f"layer_gradient_norms should return one norm per layer ({L}), got {got.size}. "
                      f"The gradient at the input of each of the {L} layers, last layer first; "
                      "do not include the output gradient itself.")
    expect_close(got, expected, name=f"layer_gradient_norms(..., activation={activation!r})", rtol=1e-6,
                 misconceptions=mis,
                 hint="for l = L..1: grad = (grad * f'(z_l)) @ W_l.T, then record np.linalg.norm(grad)")


@pytest.mark.points(10)
@pytest.mark.visibility("visible")
def test_layer_gradient_norms_sigmoid(submission):
    """layer_gradient_norms through 6 sigmoid layers (the vanishing profile)"""
    net = (6, 5, 8, 1.0, RNG_SEED + 3)  # depth, width, batch, scale, seed
    got = _norms(submission, *network(*net), "sigmoid")
    _check_norms(got, net, "sigmoid")


# (activation, network(*net)): relu_safe keeps pre-activations away from the kink at 0.
RELU_AND_TANH = (("relu", (4, 4, 6, 1.5, RNG_SEED + 4, True)), ("tanh", (4, 4, 5, 1.5, RNG_SEED + 5, True)),
                 ("relu", (4, 4, 1, 1.5, RNG_SEED + 6, True)))
UNKNOWN_NAME_NET = (2, 3, 2, 1.0, RNG_SEED + 7)


def check_relu_and_tanh(submission, fast: bool) -> None:
    unknown = network(*UNKNOWN_NAME_NET)
    if fast:  # the three networks and the unknown name in one round trip
        pipe = submission.pipeline()
        for activation, net in RELU_AND_TANH:
            pipe.fetch(pipe.call(submission.layer_gradient_norms, *_sent(*network(*net)), activation=activation))
        pipe.call(submission.layer_gradient_norms, *_sent(*unknown), activation="softplus")
        answers = run(pipe)
        for activation, net in RELU_AND_TANH:
            _check_norms(_as_norms(next(answers)), net, activation)
        raising = lambda: next(answers, None)  # noqa: E731 - the pipeline's failure, if it had one
    else:
        for activation, net in RELU_AND_TANH:
            _check_norms(_norms(submission, *network(*net), activation), net, activation)
        raising = lambda: submission.layer_gradient_norms(*_sent(*unknown), activation="softplus")  # noqa: E731
    expect_raises(ValueError, raising, name="layer_gradient_norms(..., activation='softplus')",
                  hint="the docstring's Raises: an unknown activation name is a ValueError that names the choices, "
                       "not a KeyError from a dict lookup or a silent fallback to sigmoid")


@pytest.mark.points(8)
@pytest.mark.visibility("visible")
def test_layer_gradient_norms_relu_and_tanh(submission):
    """layer_gradient_norms with relu and tanh, including a batch of one; an unknown name raises ValueError"""
    fast_or_step_by_step(check_relu_and_tanh, submission)


# ------------------------------------------------------------------------------ diagnosis


def _diagnosis(submission, norms, **kwargs):
    return _as_diagnosis(submission.diagnose_gradients(norms, **kwargs).fetch())


def _as_diagnosis(got):
    """What diagnose_gradients returned must be a dict with the four keys."""
    if type(got) is not dict:
        raise Mistake(f"diagnose_gradients should return a dict, got {type(got).__name__}.")
    missing = {"vanished", "weak", "exploding", "status"} - set(got)
    if missing:
        raise Mistake(f"diagnose_gradients' result is missing the key(s) {sorted(missing)}.")
    return got


def _diagnoses(submission, calls: list[tuple[list, dict]], fast: bool):
    """``diagnose_gradients(norms, **kwargs)`` for each call in turn, judged by the caller in between
    (``fast``: all in one round trip)."""
    if not fast:
        for norms, kwargs in calls:
            yield _diagnosis(submission, norms, **kwargs)
        return
    pipe = submission.pipeline()
    for norms, kwargs in calls:
        pipe.fetch(pipe.call(submission.diagnose_gradients, norms, **kwargs))
    for got in run(pipe):
        yield _as_diagnosis(got)


def _check_diagnosis(got, norms, label, **kwargs):
    expected = ref.diagnose_gradients(norms, **kwargs)
    for key in ("vanished", "weak", "exploding"):
        mis = {}
        if key == "weak":
            mis["counted only the weak-but-not-vanished layers; vanished layers are weak too"] = (
                expected["weak"] - expected["vanished"])
        expect_equal(got[key], expected[key], name=f"{label}: {key!r} count", misconceptions=mis or None,
                     hint="vanished: norm < 1e-6, weak: norm < 1e-4 (vanished included), exploding: norm > 100")
    expect_equal(got["status"], expected["status"], name=f"{label}: status",
                 hint="critical if any vanished, exploding or non-finite norm; warning if at least 2 weak; "
                      "else healthy (the lecture's interpretation guide)")


@pytest.mark.points(8)
@pytest.mark.visibility("visible")
def test_diagnose_gradients_lecture_examples(submission):
    """diagnose_gradients on the lecture's sigmoid, ReLU and exploding networks"""
    cases = {
        "sigmoid network": [1.2e-7, 8.9e-7, 1.234e-5, 1.56789e-3, 1.234567e-2, 1.2345678e-1],
        "ReLU network": [2.45e-3, 1.1e-2, 5.0e-2, 1.3e-1, 4.2e-1, 8.91e-1],
        "exploding network": [1.23e5, 4.0e4, 9.1e3, 5.67e2, 2.0e2, 1.5e2],
        "one weak layer": [5e-5, 1e-2, 3e-1],
        "two weak layers": [5e-5, 2e-5, 3e-1],
    }
    fast_or_step_by_step(check_diagnoses, submission, cases)


def check_diagnoses(submission, cases: dict[str, list], fast: bool) -> None:
    answers = _diagnoses(submission, [(norms, {}) for norms in cases.values()], fast)
    for (label, norms), got in zip(cases.items(), answers):
        _check_diagnosis(got, norms, label)


@pytest.mark.points(6)
@pytest.mark.visibility("hidden")
def test_diagnose_gradients_boundaries(submission):
    """thresholds are strict: exactly 1e-6, 1e-4 and 100 are not past them"""
    cases = {
        "norms exactly on the thresholds": [1e-6, 1e-4, 100.0],
        "just past the thresholds": [9.999e-7, 9.999e-5, 100.0001],
    }
    fast_or_step_by_step(check_diagnoses, submission, cases)


@pytest.mark.points(6)
@pytest.mark.visibility("after_due_date")
def test_diagnose_gradients_nonfinite_and_custom_thresholds(submission):
    """NaN/inf norms are critical, and custom thresholds are honoured"""
    fast_or_step_by_step(check_nonfinite_and_custom, submission)


def check_nonfinite_and_custom(submission, fast: bool) -> None:
    kwargs = {"vanish": 1e-3, "weak": 1e-2, "explode": 10.0}
    calls = [([1e-2, float("nan"), 3e-1], {}), ([1e-2, float("inf")], {}), ([5e-3, 2e-3, 20.0, 0.5], kwargs)]
    answers = _diagnoses(submission, calls, fast)
    expect_equal(next(answers)["status"], "critical", name="status for norms containing NaN",
                 hint="NaN compares False with every threshold, so test np.isfinite explicitly")
    _check_diagnosis(next(answers), calls[1][0], "norms containing inf")
    _check_diagnosis(next(answers), calls[2][0], "custom thresholds", **kwargs)
