"""The optimizers graders: full marks for correct work, teaching messages for mistakes.

Everything is graded in one batch (reference, wrong variants, alternative correct
implementations, the sample class) so the module stays fast.
"""

from __future__ import annotations

import pytest

from autograder.grading import read_student_files
from tests.conftest import SAMPLES, SOLUTIONS, grade_all, make_variant

TOPIC = "optimizers"

# name -> (replacements in the reference, check that must fail, keyword of its message)
VARIANTS = {
    "adam_no_bias_correction": (
        {"            m_hat = m / correction1\n            v_hat = v / correction2\n":
         "            m_hat = m\n            v_hat = v\n"},
        "adam_first_step", "bias correction"),
    "adam_counter_per_tensor": (
        {"        self.t += 1  # once per call, before use: the first step has t = 1\n"
         "        correction1 = 1.0 - self.beta1**self.t\n        correction2 = 1.0 - self.beta2**self.t\n": "",
         "            m_hat = m / correction1\n            v_hat = v / correction2\n":
         "            self.t += 1\n            m_hat = m / (1.0 - self.beta1**self.t)\n"
         "            v_hat = v / (1.0 - self.beta2**self.t)\n"},
        "adam_step_counter", "once per parameter tensor"),
    "adam_counter_from_zero": (
        {"        self.t += 1  # once per call, before use: the first step has t = 1\n": "",
         "(np.sqrt(v_hat) + self.eps))\n        return new_params\n":
         "(np.sqrt(v_hat) + self.eps))\n        self.t += 1\n        return new_params\n"},
        "adam_first_step", "t = 0"),
    "adam_eps_inside_sqrt": (
        {"self.lr * m_hat / (np.sqrt(v_hat) + self.eps)": "self.lr * m_hat / np.sqrt(v_hat + self.eps)"},
        "adam_eps_placement", "inside the square root"),
    "rmsprop_eps_inside_sqrt": (
        {"self.lr * g / (np.sqrt(v) + self.eps)": "self.lr * g / np.sqrt(v + self.eps)"},
        "rmsprop_trajectory", "inside the square root"),
    "rmsprop_no_one_minus_alpha": (
        {"v = self.alpha * v + (1.0 - self.alpha) * g * g": "v = self.alpha * v + g * g"},
        "rmsprop_trajectory", "(1 - alpha)"),
    "momentum_dampened": (
        {"self.buffers[i] = self.momentum * self.buffers[i] + g":
         "self.buffers[i] = self.momentum * self.buffers[i] + (1.0 - self.momentum) * g",
         "self.buffers[i] = g.copy()": "self.buffers[i] = (1.0 - self.momentum) * g"},
        "sgd_momentum_trajectory", "damped"),
    "rmsprop_state_keyed_by_shape": (
        {"v = self.square_avg.get(i, np.zeros_like(g))": "v = self.square_avg.get(g.shape, np.zeros_like(g))",
         "self.square_avg[i] = v": "self.square_avg[g.shape] = v"},
        "state_per_parameter", "one state buffer for all parameters"),
    "sgd_updates_in_place": (
        {"new_params.append(np.asarray(p, dtype=float) - self.lr * g)":
         "p -= self.lr * g\n            new_params.append(p)"},
        "inputs_not_mutated", "in place"),
    "momentum_buffer_aliases_gradient": (
        {"self.buffers[i] = self.momentum * self.buffers[i] + g":
         "self.buffers[i] *= self.momentum\n                    self.buffers[i] += g",
         "self.buffers[i] = g.copy()": "self.buffers[i] = g"},
        "inputs_not_mutated", "gradient array in place"),
}

# Correct, but written differently from the reference: torch's own formulation of Adam
# (step size lr/bc1, denominator sqrt(v)/sqrt(bc2) + eps, one step count per parameter),
# the velocity form of momentum, RMSProp's incremental average, state in lists of dicts.
ALTERNATIVE_TORCH_STYLE = '''
import math
import numpy as np


class SGD:
    def __init__(self, lr=0.01, momentum=0.0):
        self.lr, self.momentum, self.velocity = lr, momentum, []

    def update(self, params, grads):
        while len(self.velocity) < len(params):
            self.velocity.append(None)
        out = []
        for i, p in enumerate(params):
            g = grads[i]
            if self.momentum == 0:
                out.append(p - self.lr * g)
                continue
            v = self.velocity[i]
            v = -self.lr * g if v is None else self.momentum * v - self.lr * g   # v = -lr * buf
            self.velocity[i] = v
            out.append(p + v)
        return out


class RMSProp:
    def __init__(self, lr=0.01, alpha=0.99, eps=1e-8):
        self.lr, self.alpha, self.eps, self.state = lr, alpha, eps, []

    def update(self, params, grads):
        while len(self.state) < len(params):
            self.state.append({"square_avg": 0.0})
        out = []
        for st, p, g in zip(self.state, params, grads, strict=False):
            st["square_avg"] = st["square_avg"] + (1 - self.alpha) * (g ** 2 - st["square_avg"])
            out.append(p - self.lr * g / (np.sqrt(st["square_avg"]) + self.eps))
        return out


class Adam:
    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr, self.betas, self.eps, self.state = lr, (beta1, beta2), eps, {}

    def update(self, params, grads):
        b1, b2 = self.betas
        out = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            st = self.state.setdefault(i, {"step": 0, "exp_avg": np.zeros_like(p), "exp_avg_sq": np.zeros_like(p)})
            st["step"] += 1
            st["exp_avg"] = st["exp_avg"] * b1 + (1 - b1) * g
            st["exp_avg_sq"] = st["exp_avg_sq"] * b2 + (1 - b2) * g * g
            bc1, bc2 = 1 - b1 ** st["step"], 1 - b2 ** st["step"]
            denom = np.sqrt(st["exp_avg_sq"]) / math.sqrt(bc2) + self.eps
            out.append(p - (self.lr / bc1) * st["exp_avg"] / denom)
        return out
'''

# Correct too: the seed lecture's SimpleAdam layout, with in-place arithmetic on the
# optimizer's own buffers (never on the caller's arrays).
ALTERNATIVE_IN_PLACE_STATE = '''
import numpy as np


class SGD:
    def __init__(self, lr=0.01, momentum=0.0):
        self.lr = lr
        self.momentum = momentum
        self.buf = {}

    def update(self, params, grads):
        new = [np.array(p, dtype=float) for p in params]
        for i, g in enumerate(grads):
            step = g
            if self.momentum:
                if i not in self.buf:
                    self.buf[i] = np.array(g, dtype=float)
                else:
                    self.buf[i] *= self.momentum
                    self.buf[i] += g
                step = self.buf[i]
            new[i] -= self.lr * step
        return new


class RMSProp:
    def __init__(self, lr=0.01, alpha=0.99, eps=1e-8):
        self.lr, self.alpha, self.eps = lr, alpha, eps
        self.v = {}

    def update(self, params, grads):
        new = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            v = self.v.setdefault(i, np.zeros(np.shape(p)))
            v *= self.alpha
            v += (1 - self.alpha) * np.square(g)
            new.append(p - self.lr * g / (np.sqrt(v) + self.eps))
        return new


class Adam:
    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr, self.beta1, self.beta2, self.epsilon = lr, beta1, beta2, eps
        self.m, self.v, self.t = {}, {}, 0

    def update(self, params, gradients):
        self.t += 1
        updated = []
        for i, (param, grad) in enumerate(zip(params, gradients, strict=True)):
            if i not in self.m:
                self.m[i] = np.zeros_like(param)
                self.v[i] = np.zeros_like(param)
            self.m[i] *= self.beta1
            self.m[i] += (1 - self.beta1) * grad
            self.v[i] *= self.beta2
            self.v[i] += (1 - self.beta2) * np.square(grad)
            m_hat = self.m[i] / (1 - self.beta1 ** self.t)
            v_hat = self.v[i] / (1 - self.beta2 ** self.t)
            updated.append(param - self.lr * m_hat / (np.sqrt(v_hat) + self.epsilon))
        return updated
'''

ALTERNATIVES = {"alt_torch_style": ALTERNATIVE_TORCH_STYLE, "alt_in_place_state": ALTERNATIVE_IN_PLACE_STATE}
SAMPLE_STUDENTS = ["ben", "chloe", "dev", "eve", "mallory"]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    """Grade everything once: student id -> SubmissionResult."""
    root = tmp_path_factory.mktemp("optimizers")
    subs: dict = {"reference": (SOLUTIONS / f"{TOPIC}.py").read_bytes()}
    for name, (replace, _, _) in VARIANTS.items():
        subs[name] = make_variant(root, TOPIC, replace, name).read_bytes()
    subs.update(ALTERNATIVES)
    subs.update({f"sample_{s}": read_student_files(SAMPLES / s)[0] for s in SAMPLE_STUDENTS})
    return grade_all(TOPIC, subs)


def test_reference_scores_full_marks(results):
    result = results["reference"]
    assert result.score == result.max_score == 100, result.failures_text()


@pytest.mark.parametrize("name", list(VARIANTS))
def test_realistic_mistakes_lose_points_with_a_teaching_message(results, name):
    _, check_id, keyword = VARIANTS[name]
    result = results[name]
    check = result.check(check_id)
    assert check.score == 0, f"{name}: {check_id} should fail"
    assert keyword in check.output, check.output
    assert result.score < 100


def test_state_and_aliasing_bugs_lose_only_their_own_checks(results):
    # a bug in where the state lives must not be charged to the update formulas, and back
    assert {c.check_id for c in results["rmsprop_state_keyed_by_shape"].checks if not c.passed} == {
        "state_per_parameter"}
    assert {c.check_id for c in results["sgd_updates_in_place"].checks if not c.passed} == {"inputs_not_mutated"}
    assert {c.check_id for c in results["momentum_dampened"].checks if not c.passed} == {"sgd_momentum_trajectory"}


@pytest.mark.parametrize("name", list(ALTERNATIVES))
def test_alternative_correct_implementations_get_full_marks(results, name):
    assert results[name].score == 100, results[name].failures_text()


@pytest.mark.parametrize("student, failing, keyword", [
    ("ben", {"sgd_momentum_trajectory", "adam_first_step"}, "bias correction"),
    ("chloe", {"rmsprop_trajectory", "adam_step_counter"}, "once per parameter tensor"),
    ("dev", {"state_per_parameter", "inputs_not_mutated"}, "in place"),
])
def test_buggy_sample_students_lose_points_on_their_bugs(results, student, failing, keyword):
    result = results[f"sample_{student}"]
    failed = {c.check_id for c in result.checks if not c.passed}
    assert failing <= failed and 0 < result.score < 100, result.failures_text()
    assert any(keyword in c.output for c in result.checks if not c.passed)
    assert all(c.output for c in result.checks if not c.passed)


def test_correct_parts_of_sample_students_still_earn_points(results):
    # chloe's velocity-form momentum is correct; dev's formulas are correct (only state and aliasing are not)
    assert results["sample_chloe"].check("sgd_momentum_trajectory").passed
    assert results["sample_dev"].check("adam_trajectory").passed


@pytest.mark.parametrize("student", ["eve", "mallory"])
def test_hostile_sample_students_earn_nothing(results, student):
    result = results[f"sample_{student}"]
    assert result.score == 0, [c.check_id for c in result.checks if c.passed]
