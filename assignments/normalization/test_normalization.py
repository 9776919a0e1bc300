"""Public tests for the normalization assignment: run them with `deepgrade check normalization`.

A few honest checks on small inputs. The hidden grader compares with a reference on many
inputs, checks every gradient numerically and checks BatchNorm1d against PyTorch's rules.
"""

from __future__ import annotations

import numpy as np
from normalization import (
    BatchNorm1d,
    batchnorm_backward,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
)


def test_batchnorm_forward_normalizes_each_feature() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 3.0, size=(50, 4))
    out, _ = batchnorm_forward(x, np.ones(4), np.zeros(4))
    assert out.shape == (50, 4)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-10)
    np.testing.assert_allclose(out.std(axis=0), 1.0, atol=1e-5)  # biased std, eps barely matters


def test_batchnorm_forward_small_example_by_hand() -> None:
    x = np.array([[1.0], [3.0]])  # mean 2, biased variance 1
    out, _ = batchnorm_forward(x, np.array([2.0]), np.array([0.5]), eps=0.0)
    np.testing.assert_allclose(out, [[-1.5], [2.5]])


def test_layernorm_forward_normalizes_each_sample() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(-2.0, 4.0, size=(3, 10))
    out, _ = layernorm_forward(x, np.ones(10), np.zeros(10))
    np.testing.assert_allclose(out.mean(axis=1), 0.0, atol=1e-10)
    np.testing.assert_allclose(out.std(axis=1), 1.0, atol=1e-5)


def _numerical_grad(f, x: np.ndarray, dout: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Centred differences of sum(f(x) * dout) with respect to x."""
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        plus = np.sum(f(x) * dout)
        x[idx] = old - h
        minus = np.sum(f(x) * dout)
        x[idx] = old
        grad[idx] = (plus - minus) / (2 * h)
    return grad


def test_batchnorm_backward_dx_numerically() -> None:
    rng = np.random.default_rng(2)
    x, gamma, beta = rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=3)
    dout = rng.normal(size=(5, 3))
    _, cache = batchnorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    want = _numerical_grad(lambda v: batchnorm_forward(v, gamma, beta)[0], x.copy(), dout)
    np.testing.assert_allclose(dx, want, rtol=1e-5, atol=1e-8)
    assert dgamma.shape == dbeta.shape == (3,)
    np.testing.assert_allclose(dbeta, dout.sum(axis=0))


def test_layernorm_backward_shapes() -> None:
    rng = np.random.default_rng(3)
    x, dout = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    _, cache = layernorm_forward(x, np.ones(6), np.zeros(6))
    dx, dgamma, dbeta = layernorm_backward(dout, cache)
    assert dx.shape == (4, 6) and dgamma.shape == (6,) and dbeta.shape == (6,)


def test_batchnorm1d_starts_like_pytorch() -> None:
    bn = BatchNorm1d(3)
    np.testing.assert_array_equal(bn.gamma, np.ones(3))
    np.testing.assert_array_equal(bn.beta, np.zeros(3))
    np.testing.assert_array_equal(bn.running_mean, np.zeros(3))
    np.testing.assert_array_equal(bn.running_var, np.ones(3))
    x = np.array([[1.0, 2.0, 3.0]])
    # Evaluation mode uses the running statistics (0 and 1), so one sample is fine.
    np.testing.assert_allclose(bn.forward(x, training=False), x / np.sqrt(1.0 + 1e-5))
