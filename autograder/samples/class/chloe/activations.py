"""Chloe's activations: mostly right, two classic slips."""

import numpy as np


def sigmoid(z):
    out = np.empty_like(z, dtype=float)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def sigmoid_derivative(z):
    s = sigmoid(z)
    return s * (1 - s)


def tanh_derivative(z):
    return 1 - z ** 2  # forgot to apply tanh first


def relu_derivative(z):
    z[z <= 0] = 0  # edits the caller's array
    z[z > 0] = 1
    return z


def leaky_relu_derivative(z, alpha=0.01):
    return np.where(z > 0, 1.0, alpha)


def elu_derivative(z, alpha=1.0):
    return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0)))


def layer_gradient_norms(grad_output, weights, pre_activations, activation="sigmoid"):
    derivs = {"sigmoid": sigmoid_derivative, "tanh": tanh_derivative, "relu": relu_derivative}
    grad = grad_output
    norms = []
    for W, z in zip(weights, pre_activations):  # walks the layers forwards
        grad = (grad * derivs[activation](z.copy())) @ W.T if grad.shape[1] == W.shape[1] else grad
        norms.append(float(np.linalg.norm(grad)))
    return norms


def diagnose_gradients(grad_norms, vanish=1e-6, weak=1e-4, explode=100.0):
    g = np.asarray(grad_norms, dtype=float)
    vanished = int((g < vanish).sum())
    weak_layers = int((g < weak).sum())
    exploding = int((g > explode).sum())
    status = "critical" if vanished or exploding or not np.isfinite(g).all() else (
        "warning" if weak_layers >= 2 else "healthy")
    return {"vanished": vanished, "weak": weak_layers, "exploding": exploding, "status": status}
