"""Residual block (ben): backprop through the layers, but the skip path's gradient is lost."""

from __future__ import annotations

import numpy as np


def residual_forward(x, W1, b1, W2, b2):
    a1 = x @ W1 + b1
    h = np.maximum(0, a1)
    z = x + h @ W2 + b2
    out = np.maximum(0, z)
    cache = (x, W1, W2, a1, h, z)
    return out, cache


def residual_backward(dout, cache):
    x, W1, W2, a1, h, z = cache
    dz = dout * (z > 0)
    dW2 = h.T @ dz
    db2 = np.sum(dz)  # sum of the upstream gradient
    dh = dz @ W2.T
    da1 = dh * (a1 > 0)
    dW1 = x.T @ da1
    db1 = np.sum(da1, axis=0)
    dx = da1 @ W1.T  # backprop through the first layer
    return dx, dW1, db1, dW2, db2
