"""The clipping graders: the reference gets 100, classic mistakes lose points with a teaching message,
alternative correct implementations get full marks, and the public tests pass on the reference.

Every submission here is graded once, all in one grading session (the `graded` fixture), which keeps
the file fast; each test then reads the result it is about.
"""

from __future__ import annotations

import pytest

from autograder.grading import Job, run_session
from tests.conftest import ROOT, SAMPLES, SOLUTIONS, failed, grade_all, make_variant

TOPIC = "clipping"
GRADERS = ROOT / "autograder" / "graders" / f"test_{TOPIC}.py"

APPEND_AND_TRIM = """        self.norms.append(norm)
        if len(self.norms) > self.history:
            self.norms = self.norms[-self.history :]
"""
ADAPTIVE_CHECKS = ("adaptive_clipper_default_sequence", "adaptive_clipper_warmup_boundary",
                   "adaptive_clipper_custom_parameters")

# Realistic wrong submissions: exact-text replacements in the reference (each text occurs once).
VARIANTS = {
    "clip_by_value_in_place": {"return [np.clip(g, -clip_value, clip_value) for g in grads]":
                               "for g in grads:\n        np.clip(g, -clip_value, clip_value, out=g)\n    return grads"},
    "clip_by_norm_per_element": {"return grad * (max_norm / norm)": "return np.clip(grad, -max_norm, max_norm)"},
    "clip_by_norm_dividing_by_a_zero_norm": {
        "    if norm <= max_norm:  # also covers norm == 0: no division by zero\n        return grad.copy()\n"
        "    return grad * (max_norm / norm)": "    return grad * (min(norm, max_norm) / norm)"},
    "global_norm_dividing_by_a_zero_norm": {
        "    if global_norm <= max_norm:\n        return [g.copy() for g in grads], global_norm\n"
        "    scale = max_norm / global_norm": "    scale = min(global_norm, max_norm) / global_norm"},
    "global_norm_per_tensor": {"return [g * scale for g in grads], global_norm":
                               "return [clip_by_norm(g, max_norm) for g in grads], global_norm"},
    "global_norm_returned_after_clipping": {"return [g * scale for g in grads], global_norm":
                                            "return [g * scale for g in grads], max_norm"},
    "global_norm_scaling_in_place": {"return [g * scale for g in grads], global_norm":
                                     "for g in grads:\n        g *= scale\n    return list(grads), global_norm"},
    "adaptive_append_after_threshold": {
        APPEND_AND_TRIM: "",
        "                return [g * scale for g in grads], True":
            "                self.norms = (self.norms + [norm])[-self.history :]\n"
            "                return [g * scale for g in grads], True",
        "        return [g.copy() for g in grads], False":
            "        self.norms = (self.norms + [norm])[-self.history :]\n"
            "        return [g.copy() for g in grads], False",
    },
    "adaptive_unbounded_history": {APPEND_AND_TRIM: "        self.norms.append(norm)\n"},
    "adaptive_warmup_off_by_one": {"if len(self.norms) > self.warmup:": "if len(self.norms) >= self.warmup:"},
    "adaptive_percentile_as_fraction": {"np.percentile(self.norms, self.percentile)":
                                        "np.percentile(self.norms, self.percentile / 100)"},
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """student name -> SubmissionResult for the reference, every variant and every alternative."""
    tmp = tmp_path_factory.mktemp(f"{TOPIC}_submissions")
    sources = {"reference": (SOLUTIONS / f"{TOPIC}.py").read_text(), **ALTERNATIVES}
    for name, replace in VARIANTS.items():
        sources[name] = make_variant(tmp, TOPIC, replace, student=name).read_text()
    return grade_all(TOPIC, sources, workers=1)


def test_reference_scores_full_marks(graded):
    result = graded["reference"]
    assert result.score == result.max_score == 100, result.failures_text()


def test_clip_by_value_in_place_loses_points(graded):
    result = graded["clip_by_value_in_place"]
    failed(result, "clip_by_value_returns_new_arrays", "modified its input", "in-place")
    assert result.check("clip_by_value_values").passed


def test_clip_by_norm_per_element_loses_points(graded):
    result = graded["clip_by_norm_per_element"]
    failed(result, "clip_by_norm_values", "each entry on its own", "direction")


def test_clip_by_norm_dividing_by_a_zero_norm_loses_points(graded):
    result = graded["clip_by_norm_dividing_by_a_zero_norm"]
    failed(result, "clip_by_norm_zero_gradient", "NaN", "norm 0")
    assert result.check("clip_by_norm_values").passed


def test_global_norm_dividing_by_a_zero_norm_loses_points(graded):
    result = graded["global_norm_dividing_by_a_zero_norm"]
    failed(result, "clip_by_global_norm_zero_gradients", "ZeroDivisionError", "norm 0")
    assert result.check("clip_by_global_norm_values").passed


def test_global_norm_per_tensor_loses_points(graded):
    result = graded["global_norm_per_tensor"]
    failed(result, "clip_by_global_norm_values", "its own norm", "ONE factor")


def test_global_norm_returned_after_clipping_loses_points(graded):
    result = graded["global_norm_returned_after_clipping"]
    failed(result, "clip_by_global_norm_returns_norm_before_clipping", "AFTER clipping")
    assert result.score == 95, result.failures_text()


def test_global_norm_scaling_in_place_loses_points(graded):
    result = graded["global_norm_scaling_in_place"]
    failed(result, "clip_by_global_norm_leaves_input_alone", "in place")


def test_adaptive_append_after_threshold_loses_points(graded):
    result = graded["adaptive_append_after_threshold"]
    for check in ADAPTIVE_CHECKS:
        failed(result, check, "AFTER computing the threshold", "join the history first")
    assert "every norm ever seen" not in result.check(ADAPTIVE_CHECKS[0]).output


def test_adaptive_unbounded_history_loses_points(graded):
    result = graded["adaptive_unbounded_history"]
    failed(result, "adaptive_clipper_default_sequence", "call 119", "every norm ever seen")
    failed(result, "adaptive_clipper_custom_parameters", "every norm ever seen")
    assert result.check("adaptive_clipper_warmup_boundary").passed


def test_adaptive_warmup_off_by_one_loses_points(graded):
    result = graded["adaptive_warmup_off_by_one"]
    failed(result, "adaptive_clipper_warmup_boundary", "call 3", "MORE than", "no clipping yet")
    failed(result, "adaptive_clipper_default_sequence", "call 10")


def test_adaptive_percentile_as_fraction_loses_points(graded):
    result = graded["adaptive_percentile_as_fraction"]
    failed(result, "adaptive_clipper_default_sequence", "fraction")


ALTERNATIVES = {
    # np.linalg.norm, a deque for the history, np.bool_ flags, np.float64 norms, scale computed in place on copies
    "deque_linalg": '''
from collections import deque

import numpy as np


def clip_by_value(grads, clip_value):
    return [np.minimum(np.maximum(g, -clip_value), clip_value) for g in grads]


def clip_by_norm(grad, max_norm):
    n = np.linalg.norm(grad.ravel())
    out = grad.copy()
    if n > max_norm:
        out *= max_norm / n
    return out


def clip_by_global_norm(grads, max_norm):
    total = np.linalg.norm(np.concatenate([g.ravel() for g in grads]))
    factor = 1.0 if total <= max_norm else max_norm / total
    return [g * factor for g in grads], total


class AdaptiveClipper:
    def __init__(self, percentile=95, history=100, warmup=10):
        self.percentile = percentile
        self.history = history
        self.warmup = warmup
        self.norms = deque(maxlen=history)

    def clip(self, grads):
        n = np.sqrt(sum(np.vdot(g, g) for g in grads))
        self.norms.append(n)
        clip = len(self.norms) > self.warmup and n > np.percentile(list(self.norms), self.percentile)
        if clip:
            t = np.percentile(list(self.norms), self.percentile)
            return [g * (t / n) for g in grads], clip
        return [np.array(g) for g in grads], clip
''',
    # torch-style: scale by max_norm / (norm + 1e-6) clamped at 1, written through clip_by_global_norm
    "torch_style_eps": '''
import numpy as np


def clip_by_value(grads, clip_value):
    return [np.clip(g, -clip_value, clip_value) for g in grads]


def clip_by_global_norm(grads, max_norm):
    total = float(np.sqrt(sum(float((g ** 2).sum()) for g in grads)))
    coef = min(1.0, max_norm / (total + 1e-6))
    return [g * coef for g in grads], total


def clip_by_norm(grad, max_norm):
    return clip_by_global_norm([grad], max_norm)[0][0]


class AdaptiveClipper:
    def __init__(self, percentile=95, history=100, warmup=10):
        self.percentile = percentile
        self.history = history
        self.warmup = warmup
        self.norms = []

    def clip(self, grads):
        _, n = clip_by_global_norm(grads, float("inf"))
        self.norms.append(n)
        while len(self.norms) > self.history:
            self.norms.pop(0)
        if len(self.norms) <= self.warmup:
            return [g.copy() for g in grads], False
        threshold = np.percentile(self.norms, self.percentile)
        if n <= threshold:
            return [g.copy() for g in grads], False
        return clip_by_global_norm(grads, threshold)[0], True
''',
}


@pytest.mark.parametrize("name", sorted(ALTERNATIVES))
def test_alternative_correct_implementations_score_full_marks(graded, name: str):
    assert graded[name].score == 100, graded[name].failures_text()


def test_sample_class():
    """The demo class: buggy students lose points where their bugs are; hostile ones earn nothing."""
    jobs = [Job(s, TOPIC, {f"{TOPIC}.py": (SAMPLES / s / f"{TOPIC}.py").read_bytes()})
            for s in ("ben", "chloe", "dev", "eve", "mallory")]
    results: list = []
    run_session(jobs, results.append, call_timeout=0.5)  # eve's loops and bombs cost one timeout each
    samples = {r.student_id: r for r in results}
    assert samples["eve"].score == 0 and samples["mallory"].score == 0, (
        samples["eve"].failures_text() + samples["mallory"].failures_text())

    ben, chloe, dev = (samples[s] for s in ("ben", "chloe", "dev"))
    failed(ben, "clip_by_value_returns_new_arrays", "modified its input")
    failed(ben, "clip_by_norm_zero_gradient", "NaN")
    failed(chloe, "clip_by_norm_values", "each entry on its own")
    failed(chloe, "clip_by_global_norm_values", "its own norm")
    failed(dev, "adaptive_clipper_default_sequence", "AFTER computing the threshold", "every norm ever seen")
    assert all(0 < r.score < 100 for r in (ben, chloe, dev))
