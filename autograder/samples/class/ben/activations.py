"""Ben's activations: derivative formulas written from memory."""

import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))  # overflows for very negative z


def sigmoid_derivative(z):
    s = sigmoid(z)
    return s * (1 - z)  # mixed up s and z


def tanh_derivative(z):
    return 1 - np.tanh(z) ** 2


def relu_derivative(z):
    return (z >= 0).astype(float)  # gives 1 at z == 0


def leaky_relu_derivative(z, alpha=0.01):
    return np.where(z > 0, 1.0, alpha)


def elu_derivative(z, alpha=1.0):
    return np.where(z > 0, 1.0, alpha * np.exp(z))


def layer_gradient_norms(grad_output, weights, pre_activations, activation="sigmoid"):
    derivs = {"sigmoid": sigmoid_derivative, "tanh": tanh_derivative, "relu": relu_derivative}
    grad = grad_output
    norms = []
    for W, z in zip(reversed(weights), reversed(pre_activations)):
        grad = (grad * derivs[activation](z)) @ W.T
        norms.append(float(np.linalg.norm(grad)))
    return norms


def diagnose_gradients(grad_norms, vanish=1e-6, weak=1e-4, explode=100.0):
    vanished = sum(1 for g in grad_norms if g < vanish)
    weak_layers = sum(1 for g in grad_norms if vanish <= g < weak)  # forgot that vanished ones are weak too
    exploding = sum(1 for g in grad_norms if g > explode)
    if vanished > 0 or exploding > 0:
        status = "critical"
    elif weak_layers >= 2:
        status = "warning"
    else:
        status = "healthy"
    return {"vanished": vanished, "weak": weak_layers, "exploding": exploding, "status": status}
