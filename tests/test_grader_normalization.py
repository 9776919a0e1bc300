"""The normalization graders: full marks for correct code, named misconceptions for wrong code."""

from __future__ import annotations

import pytest

from autograder.results import SubmissionResult
from tests.conftest import SAMPLES, grade_all, make_variant, reference_source

TOPIC = "normalization"
STUDENTS = ("ben", "chloe", "dev", "eve", "mallory")

# (replacements, check that must fail, keyword of its message)
VARIANTS = {
    "batchnorm_unbiased_variance": (
        {"var = (xc**2).mean(axis=0)": "var = x.var(axis=0, ddof=1)"},
        "batchnorm_forward_values", "unbiased variance"),
    "layernorm_over_the_batch": (
        {"mean = x.mean(axis=-1, keepdims=True)\n    xc = x - mean\n    var = (xc**2).mean(axis=-1, keepdims=True)":
         "mean = x.mean(axis=0, keepdims=True)\n    xc = x - mean\n    var = (xc**2).mean(axis=0, keepdims=True)"},
        "layernorm_forward_values", "layer norm normalizes over the last axis"),
    "layernorm_dgamma_not_summed": (
        {"dgamma = (dout * x_hat).sum(axis=0)\n    dx_hat = dout * gamma\n    # The same projection":
         "dgamma = dout * x_hat\n    dx_hat = dout * gamma\n    # The same projection"},
        "layernorm_backward_numerical", "must sum over the batch"),
    "batchnorm_backward_mean_var_as_constants": (
        {"dx = (dx_hat - dx_hat.mean(axis=0) - x_hat * (dx_hat * x_hat).mean(axis=0)) / std": "dx = dx_hat / std"},
        "batchnorm_backward_numerical", "as constants"),
    "running_var_biased": (
        {"m * var * n / (n - 1)": "m * var"},
        "batchnorm1d_training_matches_pytorch", "PyTorch stores the unbiased one"),
    "keras_momentum": (
        {"self.running_mean = (1 - m) * self.running_mean + m * mean":
         "self.running_mean = m * self.running_mean + (1 - m) * mean"},
        "batchnorm1d_training_matches_pytorch", "Keras momentum convention"),
    "eval_uses_batch_statistics": (
        {"mean, var = self.running_mean, self.running_var": "mean, var = x.mean(axis=0), x.var(axis=0)"},
        "batchnorm1d_eval_uses_running_stats", "batch's own statistics"),
    "no_error_on_one_sample": (
        {"if n < 2:": "if n < 1:"},
        "batchnorm1d_single_sample_training_raises", "should raise ValueError"),
    "eps_added_to_std": (
        {"var = (xc**2).mean(axis=0)\n    std = np.sqrt(var + eps)": "var = (xc**2).mean(axis=0)\n    std = np.sqrt(var) + eps"},
        "eps_argument_is_used", "standard deviation instead of to the variance"),
    "input_mutated_in_place": (
        {"mean = x.mean(axis=0)\n    xc = x - mean": "mean = x.mean(axis=0)\n    x -= mean\n    xc = x"},
        "inputs_not_mutated", "modified its input x in place"),
}

# CS231n's staged computational graph, a dict cache, layer norm as batch norm of the transpose.
ALTERNATIVE_GRAPH = '''
import numpy as np


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    n = x.shape[0]
    mu = np.sum(x, axis=0) / n
    xmu = x - mu
    sq = xmu ** 2
    var = np.sum(sq, axis=0) / n
    sqrtvar = np.sqrt(var + eps)
    ivar = 1.0 / sqrtvar
    xhat = xmu * ivar
    out = gamma * xhat + beta
    return out, {"xhat": xhat, "gamma": gamma, "xmu": xmu, "ivar": ivar, "sqrtvar": sqrtvar, "var": var, "eps": eps}


def batchnorm_backward(dout, cache):
    n = dout.shape[0]
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * cache["xhat"], axis=0)
    dxhat = dout * cache["gamma"]
    divar = np.sum(dxhat * cache["xmu"], axis=0)
    dxmu1 = dxhat * cache["ivar"]
    dsqrtvar = -1.0 / cache["sqrtvar"] ** 2 * divar
    dvar = 0.5 / np.sqrt(cache["var"] + cache["eps"]) * dsqrtvar
    dsq = np.ones_like(dout) / n * dvar
    dxmu2 = 2 * cache["xmu"] * dsq
    dx1 = dxmu1 + dxmu2
    dmu = -np.sum(dx1, axis=0)
    dx = dx1 + np.ones_like(dout) / n * dmu
    return dx, dgamma, dbeta


def layernorm_forward(x, gamma, beta, eps=1e-5):
    d = x.shape[1]
    xhat_t, cache_t = batchnorm_forward(x.T, np.ones(x.shape[0]), np.zeros(x.shape[0]), eps)
    xhat = xhat_t.T
    return gamma * xhat + beta, (cache_t, xhat, gamma, d)


def layernorm_backward(dout, cache):
    cache_t, xhat, gamma, _ = cache
    dx_t, _, _ = batchnorm_backward((dout * gamma).T, cache_t)
    return dx_t.T, np.sum(dout * xhat, axis=0), np.sum(dout, axis=0)


class BatchNorm1d:
    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        self.num_features, self.momentum, self.eps = num_features, momentum, eps
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)

    def forward(self, x, training=True):
        if not training:
            xhat = (x - self.running_mean) / np.sqrt(self.running_var + self.eps)
            return self.gamma * xhat + self.beta
        if x.shape[0] == 1:
            raise ValueError("Expected more than 1 value per channel when training")
        out, _ = batchnorm_forward(x, self.gamma, self.beta, self.eps)
        self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * x.mean(axis=0)
        self.running_var = (1 - self.momentum) * self.running_var + self.momentum * np.var(x, axis=0, ddof=1)
        return out
'''

# The compact formulas with sums and N, a cache that recomputes in backward, layer norm's dx
# through the per-row Jacobian (einsum), running statistics updated in place.
ALTERNATIVE_COMPACT = '''
import numpy as np


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mean, var = x.mean(axis=0), x.var(axis=0)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta, {"x": x.copy(), "gamma": gamma.copy(), "eps": eps}


def batchnorm_backward(dout, cache):
    x, gamma, eps = cache["x"], cache["gamma"], cache["eps"]
    n = x.shape[0]
    inv_std = 1.0 / np.sqrt(x.var(axis=0) + eps)
    xhat = (x - x.mean(axis=0)) * inv_std
    dxhat = dout * gamma
    dx = inv_std / n * (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def layernorm_forward(x, gamma, beta, eps=1e-5):
    mean = np.mean(x, axis=1)[:, None]
    var = np.var(x, axis=1)[:, None]
    return gamma * (x - mean) / np.sqrt(var + eps) + beta, (x.copy(), gamma.copy(), eps)


def layernorm_backward(dout, cache):
    x, gamma, eps = cache
    n, d = x.shape
    mean = x.mean(axis=1, keepdims=True)
    inv_std = 1.0 / np.sqrt(x.var(axis=1, keepdims=True) + eps)
    xhat = (x - mean) * inv_std
    # dxhat_i/dx_j = inv_std * (delta_ij - 1/d - xhat_i * xhat_j / d), one Jacobian per row
    jac = inv_std[:, :, None] * (np.eye(d)[None] - 1.0 / d - xhat[:, :, None] * xhat[:, None, :] / d)
    dx = np.einsum("ni,nij->nj", dout * gamma, jac)
    return dx, np.einsum("nd,nd->d", dout, xhat), dout.sum(axis=0)


class BatchNorm1d:
    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        self.momentum, self.eps = momentum, eps
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)

    def forward(self, x, training=True):
        if training:
            n = len(x)
            if n <= 1:
                raise ValueError("need at least 2 samples per batch in training mode")
            mean, var = x.mean(axis=0), x.var(axis=0)
            self.running_mean *= 1 - self.momentum
            self.running_mean += self.momentum * mean
            self.running_var *= 1 - self.momentum
            self.running_var += self.momentum * var * (n / (n - 1))
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean) / np.sqrt(var + self.eps) * self.gamma + self.beta
'''

ALTERNATIVES = {"computational_graph": ALTERNATIVE_GRAPH, "compact_and_jacobian": ALTERNATIVE_COMPACT}


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[str, SubmissionResult]:
    """Every submission of this file, graded in one session (one pytest start-up, not twenty)."""
    tmp = tmp_path_factory.mktemp(TOPIC)
    sources = {"reference": reference_source(TOPIC)}
    for name, (replace, _, _) in VARIANTS.items():
        sources[f"variant-{name}"] = make_variant(tmp, TOPIC, replace, student=name).read_text()
    sources.update({f"alternative-{name}": src for name, src in ALTERNATIVES.items()})
    sources.update({f"sample-{s}": (SAMPLES / s / f"{TOPIC}.py").read_text() for s in STUDENTS})
    # 1 s per call is ample for these (they take milliseconds) and halves the hostile timeouts.
    return grade_all(TOPIC, sources, call_timeout=1.0)


def test_reference_scores_full_marks(graded):
    result = graded["reference"]
    assert result.score == result.max_score == 100, result.failures_text()


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_wrong_variant_loses_points_with_teaching_message(graded, name):
    _, check_id, keyword = VARIANTS[name]
    result = graded[f"variant-{name}"]
    check = result.check(check_id)
    assert check.score == 0 and not check.passed, result.failures_text()
    assert keyword in check.output, check.output
    assert result.score < 100


def test_variants_lose_only_what_their_bug_touches(graded):
    """A bug in one place does not cost unrelated checks."""
    assert graded["variant-input_mutated_in_place"].score == 96
    assert graded["variant-eval_uses_batch_statistics"].score == 92
    for name in ("running_var_biased", "keras_momentum"):
        assert graded[f"variant-{name}"].score == 90, graded[f"variant-{name}"].failures_text()


@pytest.mark.parametrize("name", sorted(ALTERNATIVES))
def test_alternative_correct_implementations_get_full_marks(graded, name):
    result = graded[f"alternative-{name}"]
    assert result.score == result.max_score == 100, result.failures_text()


def test_sample_class(graded):
    """Buggy students lose points on their bugs; hostile ones earn nothing on what they attack."""
    scores = {s: graded[f"sample-{s}"] for s in STUDENTS}
    failed = {s: {c.check_id for c in r.checks if not c.passed} for s, r in scores.items()}
    # ben: layer norm over the batch; biased running_var
    assert {"layernorm_forward_values", "layernorm_backward_numerical",
            "batchnorm1d_training_matches_pytorch"} <= failed["ben"]
    assert "last axis" in scores["ben"].check("layernorm_forward_values").output
    assert "unbiased" in scores["ben"].check("batchnorm1d_training_matches_pytorch").output
    # chloe: batch-norm backward with the mean and variance as constants; Keras momentum
    assert "as constants" in scores["chloe"].check("batchnorm_backward_numerical").output
    assert "Keras" in scores["chloe"].check("batchnorm1d_training_matches_pytorch").output
    # dev: layer-norm dgamma not summed; eval mode with batch statistics
    assert "must sum over the batch" in scores["dev"].check("layernorm_backward_numerical").output
    assert "batch's own statistics" in scores["dev"].check("batchnorm1d_eval_uses_running_stats").output
    for student in ("ben", "chloe", "dev"):
        assert 50 <= scores[student].score < 100, scores[student].failures_text()
    # eve: an infinite loop (batchnorm_backward), a memory bomb (layernorm_forward), a fork bomb (BatchNorm1d)
    assert {"batchnorm_backward_numerical", "layernorm_forward_values", "batchnorm1d_training_matches_pytorch",
            "batchnorm1d_eval_uses_running_stats"} <= failed["eve"]
    assert "timed out" in scores["eve"].check("batchnorm_backward_numerical").output
    assert scores["eve"].check("batchnorm_forward_values").passed  # the rest of the grading goes on
    # mallory: a lying ndarray subclass, stealing the reference, sys.exit in a method
    assert scores["mallory"].score == 0
    assert "cannot be graded" in scores["mallory"].check("batchnorm_forward_values").output
