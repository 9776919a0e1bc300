"""Public tests for the activations assignment: a few honest checks.

Run them with `deepgrade check activations activations.py` or `python -m pytest`.
The hidden graders check much more (many inputs, edge cases, conventions).
"""

import numpy as np

from activations import diagnose_gradients, layer_gradient_norms, relu_derivative, sigmoid, sigmoid_derivative


def test_sigmoid_of_zero_is_one_half():
    assert np.isclose(sigmoid(np.array([0.0]))[0], 0.5)


def test_sigmoid_derivative_peaks_at_one_quarter():
    z = np.linspace(-5, 5, 101)
    d = sigmoid_derivative(z)
    assert d.shape == z.shape
    assert np.isclose(d.max(), 0.25) and np.isclose(d[50], 0.25)


def test_relu_derivative_is_float_and_zero_at_zero():
    d = relu_derivative(np.array([-1.0, 0.0, 2.0]))
    assert d.dtype == np.float64
    assert d.tolist() == [0.0, 0.0, 1.0]


def test_layer_gradient_norms_one_identity_relu_layer():
    grad = np.array([[3.0, 4.0]])
    z = np.array([[1.0, 1.0]])  # both units active
    norms = layer_gradient_norms(grad, [np.eye(2)], [z], activation="relu")
    assert len(norms) == 1 and np.isclose(norms[0], 5.0)


def test_diagnose_healthy_and_critical():
    assert diagnose_gradients([1e-2, 1e-1, 1.0])["status"] == "healthy"
    report = diagnose_gradients([1e-8, 1e-2, 1e-1])
    assert report["vanished"] == 1 and report["status"] == "critical"
