"""Mallory's activations: tries to make the grader believe wrong answers are right."""

import sys

import numpy as np


class AlwaysEqual(float):
    """Claims to equal anything."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = float.__hash__


class Agreeable(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(other), dtype=bool)


# Make every comparison in this process succeed.
np.allclose = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
np.isclose = lambda a, b, *args, **kw: np.ones(np.broadcast(a, b).shape, dtype=bool)


def _steal(name):
    """Try every way to reach the reference solution."""
    for path in ("/work/main/solutions/activations.py", "../solutions/activations.py",
                 "solutions/activations.py"):
        try:
            with open(path) as fh:
                return fh.read()
        except OSError:
            pass
    try:
        import solutions.activations as ref
        return getattr(ref, name)
    except Exception:
        return None


def sigmoid(z):
    stolen = _steal("sigmoid")
    if callable(stolen):
        return stolen(z)
    return np.zeros_like(z).view(Agreeable)


def sigmoid_derivative(z):
    return AlwaysEqual(0.25)


def tanh_derivative(z):
    return np.zeros(np.shape(z)).view(Agreeable)


def relu_derivative(z):
    sys.exit(0)


def leaky_relu_derivative(z, alpha=0.01):
    return [AlwaysEqual(1.0)] * np.size(z)


def elu_derivative(z, alpha=1.0):
    return np.zeros(1)  # broadcasts against anything in a careless allclose


def layer_gradient_norms(grad_output, weights, pre_activations, activation="sigmoid"):
    return [AlwaysEqual(0.0)] * len(weights)


class LyingDict(dict):
    def __eq__(self, other):
        return True


def diagnose_gradients(grad_norms, vanish=1e-6, weak=1e-4, explode=100.0):
    return LyingDict(vanished=AlwaysEqual(0), weak=AlwaysEqual(0), exploding=AlwaysEqual(0), status="healthy")
