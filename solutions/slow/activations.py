"""A correct activations solution written with Python loops over every element (slow, not wrong)."""

import math

import numpy as np


def _each(z, f):
    z = np.asarray(z, dtype=float)
    out = np.empty(z.shape, dtype=float)
    for index in np.ndindex(z.shape):
        out[index] = f(float(z[index]))
    return out


def _sigmoid(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def sigmoid(z):
    return _each(z, _sigmoid)


def sigmoid_derivative(z):
    s = sigmoid(z)
    out = np.empty(s.shape, dtype=float)
    for index in np.ndindex(s.shape):
        out[index] = s[index] * (1.0 - s[index])
    return out


def tanh_derivative(z):
    return _each(z, lambda x: 1.0 - math.tanh(x) * math.tanh(x))


def relu_derivative(z):
    return _each(z, lambda x: 1.0 if x > 0 else 0.0)


def leaky_relu_derivative(z, alpha=0.01):
    return _each(z, lambda x: 1.0 if x > 0 else float(alpha))


def elu_derivative(z, alpha=1.0):
    return _each(z, lambda x: 1.0 if x > 0 else alpha * math.exp(x))


def layer_gradient_norms(grad_output, weights, pre_activations, activation="sigmoid"):
    derivatives = {"sigmoid": sigmoid_derivative, "tanh": tanh_derivative, "relu": relu_derivative}
    if activation not in derivatives:
        raise ValueError(f"unknown activation {activation!r}")
    grad = np.asarray(grad_output, dtype=float)
    norms = []
    for W, z in zip(reversed(weights), reversed(pre_activations)):
        d = derivatives[activation](z)
        local = np.empty(grad.shape)
        for i in range(grad.shape[0]):
            for j in range(grad.shape[1]):
                local[i, j] = grad[i, j] * d[i, j]
        grad = np.zeros((local.shape[0], W.shape[0]))  # local @ W.T, one product at a time
        for i in range(local.shape[0]):
            for j in range(W.shape[0]):
                total = 0.0
                for k in range(W.shape[1]):
                    total += local[i, k] * W[j, k]
                grad[i, j] = total
        total = 0.0
        for value in grad.flat:
            total += value * value
        norms.append(math.sqrt(total))
    return norms


def diagnose_gradients(grad_norms, vanish=1e-6, weak=1e-4, explode=100.0):
    vanished = weak_count = exploding = 0
    finite = True
    for n in grad_norms:
        n = float(n)
        if not math.isfinite(n):
            finite = False
        vanished += n < vanish
        weak_count += n < weak
        exploding += n > explode
    if vanished or exploding or not finite:
        status = "critical"
    elif weak_count >= 2:
        status = "warning"
    else:
        status = "healthy"
    return {"vanished": vanished, "weak": weak_count, "exploding": exploding, "status": status}
