"""Residual blocks: a forward and backward pass through a skip connection.

A plain deep network multiplies one Jacobian per layer on the way back, so its gradient
can shrink (or grow) geometrically with depth. A residual block adds its input back to
what its layers computed, y = F(x) + x, so that

    ∂y/∂x = ∂F/∂x + 1

The "+1" is a gradient highway: whatever F does, the gradient arriving at y reaches x
unchanged through the skip path. This is why ResNets with a hundred layers train.

You implement the block of the lecture notes, two dense layers with a ReLU in between,
the skip connection, and a ReLU after the sum:

    h   = relu(x @ W1 + b1)              # (N, H)
    out = relu(x + h @ W2 + b2)          # (N, D)

as a CS231n-style pair of functions: `residual_forward` returns `(out, cache)`, where the
cache is whatever the backward pass needs (you choose what goes in it), and
`residual_backward(dout, cache)` returns the gradients of the loss with respect to every
input of the forward pass. When you backpropagate, remember that x is used twice: once
by the first layer and once by the skip connection, and the gradients of both uses add.

Conventions: arrays are float64 NumPy; a batch is rows, x has shape (N, D); weights are
applied as x @ W with W of shape (fan_in, fan_out), so W1 is (D, H) and W2 is (H, D);
relu'(0) is taken as 0. Do not modify the arrays you are given.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def residual_forward(
    x: np.ndarray, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray
) -> tuple[np.ndarray, Any]:
    """Forward pass of a residual block: out = relu(x + relu(x @ W1 + b1) @ W2 + b2).

    Args:
        x: input, (N, D).
        W1: first layer's weights, (D, H).
        b1: first layer's bias, (H,).
        W2: second layer's weights, (H, D).
        b2: second layer's bias, (D,).

    Returns:
        out: the block's output, (N, D).
        cache: whatever `residual_backward` needs (any object you like; it is only ever
            passed back to your own `residual_backward`).
    """
    # BEGIN SOLUTION
    a1 = x @ W1 + b1  # first pre-activation, (N, H)
    h = np.maximum(a1, 0.0)
    z = x + h @ W2 + b2  # the sum of skip path and residual path, before the outer ReLU
    out = np.maximum(z, 0.0)
    cache = (x, W1, W2, a1, h, z)
    return out, cache
    # END SOLUTION


def residual_backward(
    dout: np.ndarray, cache: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of a residual block.

    Args:
        dout: upstream gradient dL/dout, (N, D).
        cache: the cache returned by `residual_forward`.

    Returns:
        dx: dL/dx, (N, D): the sum of the gradient through the layers and through the skip path.
        dW1: dL/dW1, (D, H).
        db1: dL/db1, (H,).
        dW2: dL/dW2, (H, D).
        db2: dL/db2, (D,).
    """
    # BEGIN SOLUTION
    x, W1, W2, a1, h, z = cache
    dz = dout * (z > 0)  # outer ReLU mask
    dW2 = h.T @ dz
    db2 = dz.sum(axis=0)
    da1 = (dz @ W2.T) * (a1 > 0)  # inner ReLU mask
    dW1 = x.T @ da1
    db1 = da1.sum(axis=0)
    dx = da1 @ W1.T + dz  # residual path + skip path (the "+1" of ∂y/∂x = ∂F/∂x + 1)
    return dx, dW1, db1, dW2, db2
    # END SOLUTION
