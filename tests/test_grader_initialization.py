"""The initialization graders: full marks for correct code, named misconceptions for wrong code."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.graders import test_initialization as g
from autograder.results import SubmissionResult
from tests.conftest import SAMPLES, grade_all, make_variant, reference_source

TOPIC = "initialization"
STUDENTS = ("ben", "chloe", "dev", "eve", "mallory")


# (replacements, check that must fail, keyword of its message)
VARIANTS = {
    "he_normal_uses_fan_out": (
        {"std = np.sqrt(2.0 / fan_in)": "std = np.sqrt(2.0 / fan_out)"},
        "he_normal_distribution", "uses fan_out"),
    "xavier_uniform_bound_sqrt_var": (
        {"bound = np.sqrt(6.0 / (fan_in + fan_out))": "bound = np.sqrt(2.0 / (fan_in + fan_out))"},
        "xavier_uniform_distribution", "sqrt(3·var)"),
    "he_uniform_uses_xavier_fans": (
        {"bound = np.sqrt(6.0 / fan_in)": "bound = np.sqrt(6.0 / (fan_in + fan_out))"},
        "he_uniform_distribution", "fan_in+fan_out (Xavier)"),
    "lecun_normal_with_he_factor": (
        {"std = np.sqrt(1.0 / fan_in)": "std = np.sqrt(2.0 / fan_in)"},
        "lecun_normal_distribution", "2/fan_in (He"),
    "xavier_normal_std_is_variance": (
        {"std = np.sqrt(2.0 / (fan_in + fan_out))": "std = 2.0 / (fan_in + fan_out)"},
        "xavier_normal_distribution", "standard deviation"),
    "xavier_normal_pytorch_layout": (
        {"std = np.sqrt(2.0 / (fan_in + fan_out))\n    return rng.normal(0.0, std, size=(fan_in, fan_out))":
         "std = np.sqrt(2.0 / (fan_in + fan_out))\n    return rng.normal(0.0, std, size=(fan_out, fan_in))"},
        "shapes_and_dtype", "PyTorch's layout"),
    "lecun_normal_global_random_state": (
        {"std = np.sqrt(1.0 / fan_in)\n    return rng.normal(": "std = np.sqrt(1.0 / fan_in)\n    return np.random.normal("},
        "randomness_comes_from_rng", "global state"),
    "xavier_uniform_reseeds": (
        {"bound = np.sqrt(6.0 / (fan_in + fan_out))\n    return rng.uniform(":
         "bound = np.sqrt(6.0 / (fan_in + fan_out))\n    return np.random.default_rng(0).uniform("},
        "randomness_comes_from_rng", "different seeds"),
    "he_normal_truncated_keras_style": (
        # Keras' TruncatedNormal: scale std up by 1/0.8796 and redraw beyond 2 std, so the
        # variance is right and only the tails give it away.
        {"std = np.sqrt(2.0 / fan_in)\n    return rng.normal(0.0, std, size=(fan_in, fan_out))":
         "std = np.sqrt(2.0 / fan_in) / 0.8796256610342398\n"
         "    w = rng.normal(0.0, std, size=(fan_in, fan_out))\n"
         "    while np.any(np.abs(w) > 2 * std):\n"
         "        bad = np.abs(w) > 2 * std\n"
         "        w[bad] = rng.normal(0.0, std, size=int(bad.sum()))\n"
         "    return w"},
        "normals_are_plain_not_truncated", "truncated normal"),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_wrong_variant_loses_points_with_teaching_message(graded, name):
    _, check_id, keyword = VARIANTS[name]
    result = graded[f"variant-{name}"]
    check = result.check(check_id)
    assert check.score == 0 and not check.passed, result.failures_text()
    assert keyword in check.output, check.output
    assert result.score < 100


def test_truncated_variant_keeps_the_variance_points(graded):
    result = graded["variant-he_normal_truncated_keras_style"]
    assert result.check("he_normal_distribution").passed, result.failures_text()


ALTERNATIVE_A = '''
import numpy as np


def _uniform(bound, shape, rng):
    return (rng.random(shape) * 2.0 - 1.0) * bound


def xavier_uniform(fan_in, fan_out, rng):
    return _uniform(np.sqrt(6.0 / (fan_in + fan_out)), (fan_in, fan_out), rng)


def xavier_normal(fan_in, fan_out, rng):
    return rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / (fan_in + fan_out))


def he_uniform(fan_in, fan_out, rng):
    return _uniform(np.sqrt(6.0 / fan_in), (fan_in, fan_out), rng)


def he_normal(fan_in, fan_out, rng):
    return rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)


def lecun_normal(fan_in, fan_out, rng):
    return rng.normal(scale=1.0 / np.sqrt(fan_in), size=(fan_in, fan_out))
'''

# PyTorch-minded: draw in (fan_out, fan_in) layout and transpose (a non-contiguous view),
# bounds written as sqrt(3 * var), flat draws reshaped.
ALTERNATIVE_B = '''
import math

import numpy as np

XAVIER, HE, LECUN = "xavier", "he", "lecun"


def _variance(kind, fan_in, fan_out):
    return {XAVIER: 2 / (fan_in + fan_out), HE: 2 / fan_in, LECUN: 1 / fan_in}[kind]


def _uniform(kind, fan_in, fan_out, rng):
    b = math.sqrt(3 * _variance(kind, fan_in, fan_out))
    return rng.uniform(low=-b, high=b, size=fan_in * fan_out).reshape(fan_in, fan_out)


def _normal(kind, fan_in, fan_out, rng):
    w = rng.normal(0.0, math.sqrt(_variance(kind, fan_in, fan_out)), size=(fan_out, fan_in))
    return w.T


def xavier_uniform(fan_in, fan_out, rng):
    return _uniform(XAVIER, fan_in, fan_out, rng)


def xavier_normal(fan_in, fan_out, rng):
    return _normal(XAVIER, fan_in, fan_out, rng)


def he_uniform(fan_in, fan_out, rng):
    return _uniform(HE, fan_in, fan_out, rng)


def he_normal(fan_in, fan_out, rng):
    return _normal(HE, fan_in, fan_out, rng)


def lecun_normal(fan_in, fan_out, rng):
    return _normal(LECUN, fan_in, fan_out, rng)
'''


ALTERNATIVES = {"rng_random_and_standard_normal": ALTERNATIVE_A, "transposed_draws_and_reshape": ALTERNATIVE_B}


def _correct_draw(name: str, fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    var = g.target_variance(name, fan_in, fan_out)
    if name in g.UNIFORM:
        return rng.uniform(-np.sqrt(3 * var), np.sqrt(3 * var), size=(fan_in, fan_out))
    return rng.normal(0.0, np.sqrt(var), size=(fan_in, fan_out))


@pytest.mark.parametrize("name", g.INITS)
def test_statistical_bounds_pass_correct_draws_from_many_seeds(name):
    """The bounds are for p < 1e-6; 30 fresh seeds per initializer must all pass (in-process, no sandbox)."""
    for seed in range(30):
        rng = np.random.default_rng([seed, 99])
        samples = {size: _correct_draw(name, *size, rng) for size in g.SIZES}
        g.check_moments(name, samples)
        if name in g.UNIFORM:
            g.check_uniform_shape(name, samples)
        else:
            for size, w in list(samples.items())[:2]:
                g.check_normal_tails(name, w, *size)


def test_statistical_bounds_catch_a_five_percent_variance_error():
    rng = np.random.default_rng(5)
    samples = {size: 1.05 * _correct_draw("he_uniform", *size, rng) for size in g.SIZES}  # variance +10 %
    with pytest.raises(g.Mistake, match="sample variance"):
        g.check_moments("he_uniform", samples)


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


@pytest.mark.parametrize("name", sorted(ALTERNATIVES))
def test_alternative_correct_implementations_get_full_marks(graded, name):
    result = graded[f"alternative-{name}"]
    assert result.score == result.max_score == 100, result.failures_text()


def test_sample_class(graded):
    """Buggy students lose points on their bugs; hostile ones earn nothing on what they attack."""
    scores = {s: graded[f"sample-{s}"] for s in STUDENTS}
    failed = {s: {c.check_id for c in r.checks if not c.passed} for s, r in scores.items()}
    assert {"xavier_uniform_distribution", "he_normal_distribution"} <= failed["ben"]
    assert {"shapes_and_dtype", "xavier_normal_distribution"} <= failed["chloe"]
    assert "global state" in scores["chloe"].check("randomness_comes_from_rng").output
    assert {"he_uniform_distribution", "normals_are_plain_not_truncated"} <= failed["dev"]
    assert "truncated" in scores["dev"].check("normals_are_plain_not_truncated").output
    # eve: an infinite loop (xavier_uniform), a memory bomb (he_normal), a fork bomb (lecun_normal)
    assert {"xavier_uniform_distribution", "he_normal_distribution", "lecun_normal_distribution"} <= failed["eve"]
    assert "did not finish" in scores["eve"].check("shapes_and_dtype").output
    assert scores["eve"].check("xavier_normal_distribution").passed  # the rest of the grading goes on
    # mallory: a lying ndarray subclass, sys.exit, a fake score on stdout, stealing the reference
    assert scores["mallory"].score == 0
    assert "cannot be graded" in scores["mallory"].check("xavier_uniform_distribution").output
    for student in ("ben", "chloe", "dev"):
        assert 0 < scores[student].score < 100, scores[student].failures_text()
