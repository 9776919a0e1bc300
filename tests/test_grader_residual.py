"""The residual graders: the reference gets 100, classic mistakes lose points with a teaching message,
alternative correct implementations get full marks, and the public tests pass on the reference.

Every submission here is graded once, all in one grading session (the `graded` fixture), which keeps
the file fast; each test then reads the result it is about.
"""

from __future__ import annotations

import pytest

from autograder.grading import Job, run_session
from tests.conftest import ROOT, SAMPLES, SOLUTIONS, failed, grade_all, make_variant

TOPIC = "residual"
GRADERS = ROOT / "autograder" / "graders" / f"test_{TOPIC}.py"

# Realistic wrong submissions: exact-text replacements in the reference (each text occurs once).
VARIANTS = {
    "forgetting_the_skip_gradient": {"dx = da1 @ W1.T + dz": "dx = da1 @ W1.T"},
    "forgetting_the_outer_relu_mask": {"dz = dout * (z > 0)": "dz = dout"},
    "unmasked_skip_path": {"dx = da1 @ W1.T + dz": "dx = da1 @ W1.T + dout"},
    "forgetting_the_inner_relu_mask": {"da1 = (dz @ W2.T) * (a1 > 0)": "da1 = dz @ W2.T"},
    "mean_instead_of_sum_for_db2": {"db2 = dz.sum(axis=0)": "db2 = dz.mean(axis=0)"},
    "forward_without_outer_relu": {"out = np.maximum(z, 0.0)": "out = z"},
    "forward_relu_before_skip": {"out = np.maximum(z, 0.0)": "out = np.maximum(z - x, 0.0) + x"},
    "masking_dout_in_place": {"dz = dout * (z > 0)  #": "dout[z <= 0] = 0.0\n    dz = dout  #"},
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """student name -> SubmissionResult for the reference, every variant and every alternative."""
    tmp = tmp_path_factory.mktemp(f"{TOPIC}_submissions")
    sources = {"reference": (SOLUTIONS / f"{TOPIC}.py").read_text(), "global_state": GLOBAL_STATE, **ALTERNATIVES}
    for name, replace in VARIANTS.items():
        sources[name] = make_variant(tmp, TOPIC, replace, student=name).read_text()
    return grade_all(TOPIC, sources, workers=1)


def test_reference_scores_full_marks(graded):
    result = graded["reference"]
    assert result.score == result.max_score == 100, result.failures_text()


def test_forgetting_the_skip_gradient_loses_points(graded):
    result = graded["forgetting_the_skip_gradient"]
    failed(result, "backward_dx", "skip path", "+1")
    failed(result, "backward_skip_path", "skip path")
    assert result.check("backward_dW1_db1").passed and result.check("forward_values").passed


def test_forgetting_the_outer_relu_mask_loses_points(graded):
    result = graded["forgetting_the_outer_relu_mask"]
    failed(result, "backward_dx", "outer ReLU's mask")
    failed(result, "backward_dW2_db2", "outer ReLU's mask")
    failed(result, "backward_dW1_db1", "outer ReLU's mask")


def test_unmasked_skip_path_loses_points(graded):
    result = graded["unmasked_skip_path"]
    failed(result, "backward_dx", "down the skip path")
    failed(result, "backward_skip_path", "BEFORE the outer ReLU")
    assert result.check("backward_dW2_db2").passed


def test_forgetting_the_inner_relu_mask_loses_points(graded):
    result = graded["forgetting_the_inner_relu_mask"]
    failed(result, "backward_dW1_db1", "inner ReLU's mask")
    failed(result, "backward_skip_path", "inner ReLU's mask")


def test_mean_instead_of_sum_for_db2_loses_points(graded):
    result = graded["mean_instead_of_sum_for_db2"]
    failed(result, "backward_dW2_db2", "np.mean instead of np.sum")


def test_forward_without_outer_relu_loses_points(graded):
    result = graded["forward_without_outer_relu"]
    failed(result, "forward_values", "forgot the outer ReLU")


def test_forward_relu_before_skip_loses_points(graded):
    result = graded["forward_relu_before_skip"]
    failed(result, "forward_values", "before adding x")


def test_masking_dout_in_place_loses_the_mutation_check(graded):
    result = graded["masking_dout_in_place"]
    failed(result, "inputs_not_mutated", "modified its input dout")
    assert result.score == 95, result.failures_text()


GLOBAL_STATE = '''
import numpy as np

_last = {}


def residual_forward(x, W1, b1, W2, b2):
    a1 = x @ W1 + b1
    h = np.maximum(a1, 0)
    z = x + h @ W2 + b2
    _last.update(x=x, W1=W1, W2=W2, a1=a1, h=h, z=z)
    return np.maximum(z, 0), None


def residual_backward(dout, cache):
    s = _last
    dz = dout * (s["z"] > 0)
    da1 = dz @ s["W2"].T * (s["a1"] > 0)
    return da1 @ s["W1"].T + dz, s["x"].T @ da1, da1.sum(0), s["h"].T @ dz, dz.sum(0)
'''


def test_state_outside_the_cache_loses_the_cache_check(graded):
    result = graded["global_state"]
    failed(result, "backward_uses_its_cache", "cache")
    assert result.score == 95, result.failures_text()


ALTERNATIVES = {
    "dict_cache_where": '''
import numpy as np


def residual_forward(x, W1, b1, W2, b2):
    pre = x @ W1 + b1
    hidden = np.where(pre > 0, pre, 0.0)
    total = hidden @ W2 + b2 + x
    return np.where(total > 0, total, 0.0), {"x": x, "W1": W1, "W2": W2, "pre": pre, "hidden": hidden,
                                             "total": total}


def residual_backward(dout, cache):
    g_total = np.where(cache["total"] > 0, dout, 0.0)
    g_pre = np.where(cache["pre"] > 0, g_total @ cache["W2"].T, 0.0)
    dx = g_total.copy()          # skip path
    dx += g_pre @ cache["W1"].T  # residual path
    return dx, cache["x"].T @ g_pre, np.sum(g_pre, axis=0), cache["hidden"].T @ g_total, np.sum(g_total, axis=0)
''',
    "recompute_einsum": '''
import numpy as np


def residual_forward(x, W1, b1, W2, b2):
    cache = (x.copy(), W1.copy(), b1.copy(), W2.copy(), b2.copy())  # only the inputs; backward recomputes
    return np.maximum(0, x + np.maximum(0, x @ W1 + b1) @ W2 + b2), cache


def residual_backward(dout, cache):
    x, W1, b1, W2, b2 = cache
    a = x @ W1 + b1
    h = np.maximum(0, a)
    g = dout * (x + h @ W2 + b2 > 0).astype(float)
    ga = np.einsum("nd,hd->nh", g, W2) * (a > 0)
    return (g + np.einsum("nh,dh->nd", ga, W1), np.einsum("nd,nh->dh", x, ga), ga.sum(axis=0),
            np.einsum("nh,nd->hd", h, g), g.sum(axis=0))
''',
    "list_cache_inplace_on_copies": '''
import numpy as np


def residual_forward(x, W1, b1, W2, b2):
    a1 = x @ W1 + b1
    h = a1.copy()
    h[h < 0] = 0
    y = x + h @ W2 + b2
    out = y.copy()
    out[out < 0] = 0
    return out, [x, W1, W2, a1, h, y]


def residual_backward(dout, cache):
    x, W1, W2, a1, h, y = cache
    dy = dout.copy()
    dy[y <= 0] = 0
    dh = dy @ W2.T
    dh[a1 <= 0] = 0
    return dh @ W1.T + dy, x.T @ dh, dh.sum(axis=0), h.T @ dy, dy.sum(axis=0)
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
    failed(ben, "backward_dx", "skip path")
    failed(ben, "backward_returns_five_gradients", "db2 should be a NumPy array")
    failed(chloe, "backward_dx", "outer ReLU's mask")
    failed(dev, "backward_dW1_db1", "inner ReLU's mask")
    failed(dev, "backward_uses_its_cache", "cache")
    assert all(0 < r.score < 100 for r in (ben, chloe, dev))
