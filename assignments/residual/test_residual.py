"""Public tests for the residual block (run them with `deepgrade check residual`).

They check shapes, one value worked out by hand, the skip path's gradient and a numerical
gradient check. The hidden graders check much more, on many more inputs.
"""

from __future__ import annotations

import numpy as np
from residual import residual_backward, residual_forward


def _params(rng: np.random.Generator, D: int = 4, H: int = 3):
    return (rng.normal(size=(D, H)), rng.normal(size=H), rng.normal(size=(H, D)), rng.normal(size=D))


def test_forward_shape_and_hand_computed_value():
    x = np.array([[1.0, -2.0]])
    W1 = np.array([[1.0], [0.0]])  # x @ W1 + b1 = 1 + 0.5, relu keeps it
    b1 = np.array([0.5])
    W2 = np.array([[2.0, 1.0]])  # h @ W2 + b2 = [3, 1.5] + [0, -1]
    b2 = np.array([0.0, -1.0])
    out, _ = residual_forward(x, W1, b1, W2, b2)
    # x + F(x) = [1 + 3, -2 + 0.5] = [4, -1.5], then the outer ReLU
    assert out.shape == (1, 2)
    np.testing.assert_allclose(out, [[4.0, 0.0]])


def test_forward_with_zero_weights_is_relu_of_x():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 4))
    out, _ = residual_forward(x, np.zeros((4, 3)), np.zeros(3), np.zeros((3, 4)), np.zeros(4))
    np.testing.assert_allclose(out, np.maximum(x, 0.0))


def test_backward_shapes():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 4))
    W1, b1, W2, b2 = _params(rng)
    out, cache = residual_forward(x, W1, b1, W2, b2)
    dx, dW1, db1, dW2, db2 = residual_backward(np.ones_like(out), cache)
    assert dx.shape == x.shape
    assert dW1.shape == W1.shape and db1.shape == b1.shape
    assert dW2.shape == W2.shape and db2.shape == b2.shape


def test_skip_path_carries_the_gradient():
    """With the residual branch dead (W2 = 0), ∂y/∂x = ∂F/∂x + 1 = 1 where the output is positive."""
    rng = np.random.default_rng(2)
    x = np.abs(rng.normal(size=(3, 4))) + 0.1  # positive, so the outer ReLU lets everything through
    W1, b1, _, _ = _params(rng)
    _, cache = residual_forward(x, W1, b1, np.zeros((3, 4)), np.zeros(4))
    dout = rng.normal(size=(3, 4))
    dx = residual_backward(dout, cache)[0]
    np.testing.assert_allclose(dx, dout)


def test_dx_matches_numerical_gradient():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 4))
    W1, b1, W2, b2 = _params(rng)
    dout = rng.normal(size=(3, 4))
    _, cache = residual_forward(x, W1, b1, W2, b2)
    dx = residual_backward(dout, cache)[0]

    h = 1e-6
    num = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        fp = np.sum(residual_forward(xp, W1, b1, W2, b2)[0] * dout)
        fm = np.sum(residual_forward(xm, W1, b1, W2, b2)[0] * dout)
        num[i] = (fp - fm) / (2 * h)
    np.testing.assert_allclose(dx, num, rtol=1e-5, atol=1e-7)
