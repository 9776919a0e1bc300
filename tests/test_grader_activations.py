"""The activations graders: full marks for correct work, teaching messages for mistakes."""

from __future__ import annotations

import pytest

from autograder.grading import grade_file
from tests.conftest import SAMPLES, SOLUTIONS, write_submission


@pytest.fixture(scope="module")
def reference_result():
    return grade_file("activations", SOLUTIONS / "activations.py")


def test_reference_scores_full_marks(reference_result):
    assert reference_result.score == reference_result.max_score == 100, reference_result.failures_text()


@pytest.mark.parametrize("replace, check_id, keyword", [
    ({"return s * (1.0 - s)": "return s * (1.0 - z)"}, "sigmoid_derivative_values", "s*(1-s)"),
    ({"return 1.0 - t * t": "return 1.0 - z * z"}, "tanh_derivative_values", "1 - z**2"),
    ({"return (np.asarray(z) > 0).astype(float)": "return (np.asarray(z) >= 0).astype(float)"},
     "relu_derivative_at_zero", "z >= 0"),
    ({"return (np.asarray(z) > 0).astype(float)": "return np.asarray(z) > 0"}, "relu_derivative_values", "astype(float)"),
    ({"for W, z in zip(reversed(weights), reversed(pre_activations)):": "for W, z in zip(weights, pre_activations):"},
     "layer_gradient_norms_sigmoid", "layer_gradient_norms"),
    ({"grad = (grad * derivative(z)) @ W.T": "grad = grad @ W.T"}, "layer_gradient_norms_sigmoid", "derivative f'(z)"),
    ({"weak_count = int(np.sum(norms < weak))": "weak_count = int(np.sum((norms < weak) & (norms >= vanish)))"},
     "diagnose_gradients_lecture_examples", "vanished layers are weak too"),
    ({"if vanished or exploding or not np.all(np.isfinite(norms)):": "if vanished or exploding:"},
     "diagnose_gradients_nonfinite_and_custom_thresholds", "isfinite"),
    ({"e = np.exp(-np.abs(z))  # always in (0, 1]: no overflow\n    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))":
      "return 1.0 / (1.0 + np.exp(-z))"}, "sigmoid_extreme_inputs", "overflow"),
    ({"return np.where(np.asarray(z) > 0, 1.0, float(alpha))": "return np.where(np.asarray(z) > 0, 1.0, 0.0)"},
     "leaky_relu_derivative_values", "plain ReLU"),
])
def test_realistic_mistakes_lose_points_with_a_teaching_message(variant, replace, check_id, keyword):
    result = grade_file("activations", variant("activations", replace))
    check = result.check(check_id)
    assert check.score == 0, f"{check_id} should fail"
    assert keyword in check.output, check.output
    assert result.score < 100


ALTERNATIVE = '''
import numpy as np

def sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=float)))   # a different, exact formula

def sigmoid_derivative(z):
    return 0.25 / np.cosh(0.5 * np.asarray(z, dtype=float)) ** 2

def tanh_derivative(z):
    return 1.0 / np.cosh(np.clip(z, -350, 350)) ** 2

def relu_derivative(z):
    return np.heaviside(z, 0.0)

def leaky_relu_derivative(z, alpha=0.01):
    d = np.ones_like(z, dtype=float)
    d[np.asarray(z) <= 0] = alpha
    return d

def elu_derivative(z, alpha=1.0):
    out = np.ones(np.shape(z))
    neg = np.asarray(z) <= 0
    out[neg] = alpha * np.exp(np.asarray(z)[neg])
    return out

def layer_gradient_norms(grad_output, weights, pre_activations, activation="sigmoid"):
    derivatives = {"sigmoid": sigmoid_derivative, "tanh": tanh_derivative, "relu": relu_derivative}
    if activation not in derivatives:
        raise ValueError("activation must be sigmoid, tanh or relu")
    f = derivatives[activation]
    norms, g = [], grad_output
    for i in range(len(weights) - 1, -1, -1):
        g = np.einsum("nj,ij->ni", g * f(pre_activations[i]), weights[i])
        norms.append(float(np.sqrt(np.sum(g ** 2))))
    return norms

def diagnose_gradients(grad_norms, vanish=1e-6, weak=1e-4, explode=100.0):
    v = w = e = 0
    bad = False
    for g in grad_norms:
        if g != g or g in (float("inf"), float("-inf")):
            bad = True
        v += g < vanish
        w += g < weak
        e += g > explode
    status = "critical" if (v or e or bad) else ("warning" if w >= 2 else "healthy")
    return {"vanished": int(v), "weak": int(w), "exploding": int(e), "status": status}
'''


# issue 10: the new boundary and Raises checks must not be over-strict. A ReLU mask written with
# np.where, sigmoid through logaddexp (stable in another way), derivatives built from masks.
ALTERNATIVE_WHERE = '''
import numpy as np


def sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=float)))


def sigmoid_derivative(z):
    return np.exp(-np.logaddexp(0.0, -z) - np.logaddexp(0.0, z))


def tanh_derivative(z):
    t = np.tanh(z)
    return (1.0 - t) * (1.0 + t)


def relu_derivative(z):
    return np.where(z > 0, 1.0, 0.0)


def leaky_relu_derivative(z, alpha=0.01):
    return np.where(z > 0, 1.0, 0.0) + alpha * np.where(z > 0, 0.0, 1.0)


def elu_derivative(z, alpha=1.0):
    return np.where(z > 0, 1.0, alpha * np.exp(np.clip(z, None, 0.0)))


def layer_gradient_norms(grad_output, weights, pre_activations, activation="sigmoid"):
    if activation == "sigmoid":
        f = sigmoid_derivative
    elif activation == "tanh":
        f = tanh_derivative
    elif activation == "relu":
        f = relu_derivative
    else:
        raise ValueError(f"unknown activation: {activation}")
    g, out = np.array(grad_output, dtype=float), []
    for W, z in reversed(list(zip(weights, pre_activations))):
        g = np.dot(g * f(z), np.transpose(W))
        out.append(float(np.linalg.norm(g.ravel())))
    return out


def diagnose_gradients(grad_norms, vanish=1e-6, weak=1e-4, explode=100.0):
    counts = {"vanished": 0, "weak": 0, "exploding": 0}
    bad = False
    for n in grad_norms:
        counts["vanished"] += n < vanish
        counts["weak"] += n < weak
        counts["exploding"] += n > explode
        bad = bad or n != n or n in (float("inf"), float("-inf"))
    counts = {k: int(v) for k, v in counts.items()}
    if bad or counts["vanished"] or counts["exploding"]:
        return {**counts, "status": "critical"}
    return {**counts, "status": "warning" if counts["weak"] > 1 else "healthy"}
'''


def test_alternative_with_where_masks_and_logaddexp_sigmoid_gets_full_marks(tmp_path):
    result = grade_file("activations", write_submission(tmp_path, "activations", ALTERNATIVE_WHERE))
    assert result.score == 100, result.failures_text()


def test_alternative_correct_implementation_gets_full_marks(tmp_path):
    result = grade_file("activations", write_submission(tmp_path, "activations", ALTERNATIVE))
    assert result.score == 100, result.failures_text()


@pytest.mark.parametrize("student, at_most", [("ben", 60), ("chloe", 80), ("dev", 60)])
def test_buggy_sample_students_lose_points(student, at_most):
    result = grade_file("activations", SAMPLES / student / "activations.py")
    assert 0 < result.score <= at_most, result.failures_text()
    assert all(c.output for c in result.checks if not c.passed)


@pytest.mark.parametrize("student", ["eve", "mallory"])
def test_hostile_sample_students_earn_nothing(student):
    result = grade_file("activations", SAMPLES / student / "activations.py")
    assert result.score == 0, [c.check_id for c in result.checks if c.passed]
