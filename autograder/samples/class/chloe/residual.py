"""Residual block (chloe): the outer ReLU is treated as if it let every gradient through."""

from __future__ import annotations

import numpy as np


def relu(v):
    return np.maximum(v, 0.0)


def residual_forward(x, W1, b1, W2, b2):
    h = relu(x @ W1 + b1)
    F = h @ W2 + b2
    out = relu(x + F)
    return out, (x, W1, b1, W2, h)


def residual_backward(dout, cache):
    x, W1, b1, W2, h = cache
    # out = relu(x + F): the gradient flows to both x and F
    dF = dout
    dW2 = h.T @ dF
    db2 = dF.sum(axis=0)
    dh = dF @ W2.T
    dh[h <= 0] = 0
    dW1 = x.T @ dh
    db1 = dh.sum(axis=0)
    dx = dh @ W1.T + dout
    return dx, dW1, db1, dW2, db2
