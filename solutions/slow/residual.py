"""A correct residual solution: the block's forward and backward pass as Python loops over samples and units (slow, not wrong)."""

import numpy as np


def _relu(v):
    return v if v > 0 else 0.0


def residual_forward(x, W1, b1, W2, b2):
    n, d = x.shape
    h_units = W1.shape[1]
    a1 = np.zeros((n, h_units))
    h = np.zeros((n, h_units))
    z = np.zeros((n, d))
    out = np.zeros((n, d))
    for s in range(n):
        for k in range(h_units):
            total = b1[k]
            for i in range(d):
                total += x[s, i] * W1[i, k]
            a1[s, k] = total
            h[s, k] = _relu(total)
        for j in range(d):
            total = x[s, j] + b2[j]  # the skip connection
            for k in range(h_units):
                total += h[s, k] * W2[k, j]
            z[s, j] = total
            out[s, j] = _relu(total)
    cache = (x.copy(), W1.copy(), W2.copy(), a1, h, z)
    return out, cache


def residual_backward(dout, cache):
    x, W1, W2, a1, h, z = cache
    n, d = x.shape
    h_units = W1.shape[1]
    dz = np.zeros((n, d))
    for s in range(n):
        for j in range(d):
            dz[s, j] = dout[s, j] if z[s, j] > 0 else 0.0
    dW2 = np.zeros((h_units, d))
    db2 = np.zeros(d)
    da1 = np.zeros((n, h_units))
    for s in range(n):
        for j in range(d):
            db2[j] += dz[s, j]
            for k in range(h_units):
                dW2[k, j] += h[s, k] * dz[s, j]
        for k in range(h_units):
            if a1[s, k] > 0:
                total = 0.0
                for j in range(d):
                    total += dz[s, j] * W2[k, j]
                da1[s, k] = total
    dW1 = np.zeros((d, h_units))
    db1 = np.zeros(h_units)
    dx = np.zeros((n, d))
    for s in range(n):
        for k in range(h_units):
            db1[k] += da1[s, k]
            for i in range(d):
                dW1[i, k] += x[s, i] * da1[s, k]
        for i in range(d):
            total = dz[s, i]  # the skip path's gradient
            for k in range(h_units):
                total += da1[s, k] * W1[i, k]
            dx[s, i] = total
    return dx, dW1, db1, dW2, db2
