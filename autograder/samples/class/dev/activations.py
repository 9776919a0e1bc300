"""Dev's activations: returns the wrong types and forgets the activation derivative."""

import numpy as np


def sigmoid(z):
    return np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))))


def sigmoid_derivative(z):
    s = sigmoid(z)
    return s * (1 - s)


def tanh_derivative(z):
    return 1 - np.tanh(z) ** 2


def relu_derivative(z):
    return z > 0  # a bool array, not floats


def leaky_relu_derivative(z, alpha=0.01):
    return np.where(z > 0, 1.0, 0.0)  # this is plain ReLU's derivative


def elu_derivative(z, alpha=1.0):
    return np.where(z > 0, 1.0, np.exp(z) - 1)


def layer_gradient_norms(grad_output, weights, pre_activations, activation="sigmoid"):
    grad = grad_output
    norms = []
    for W in reversed(weights):
        grad = grad @ W.T  # the activation's derivative is missing
        norms.append(np.linalg.norm(grad))
    return norms


def diagnose_gradients(grad_norms, vanish=1e-6, weak=1e-4, explode=100.0):
    vanished = sum(g < vanish for g in grad_norms)
    weak_layers = sum(g < weak for g in grad_norms)
    exploding = sum(g > explode for g in grad_norms)
    status = "critical" if vanished or exploding else ("warning" if weak_layers > 2 else "healthy")
    return {"vanished": int(vanished), "weak": int(weak_layers), "exploding": int(exploding), "status": status}
