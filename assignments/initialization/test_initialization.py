"""Public tests for the initialization assignment: run them with `deepgrade check initialization`.

They check shapes, reproducibility and rough statistics. The hidden grader checks the
statistics much more precisely, for every initializer and several layer sizes.
"""

from __future__ import annotations

import numpy as np
import pytest
from initialization import he_normal, he_uniform, lecun_normal, xavier_normal, xavier_uniform

ALL = [xavier_uniform, xavier_normal, he_uniform, he_normal, lecun_normal]


@pytest.mark.parametrize("init", ALL, ids=lambda f: f.__name__)
def test_shape_and_dtype(init) -> None:
    w = init(3, 5, np.random.default_rng(0))
    assert isinstance(w, np.ndarray)
    assert w.shape == (3, 5), "W must have shape (fan_in, fan_out) so that x @ W works"
    assert w.dtype == np.float64


@pytest.mark.parametrize("init", ALL, ids=lambda f: f.__name__)
def test_same_generator_state_same_weights(init) -> None:
    a = init(4, 6, np.random.default_rng(42))
    b = init(4, 6, np.random.default_rng(42))
    c = init(4, 6, np.random.default_rng(43))
    np.testing.assert_array_equal(a, b, err_msg="draw all randomness from the rng argument")
    assert not np.array_equal(a, c)


def test_xavier_uniform_bound() -> None:
    fan_in, fan_out = 30, 20
    w = xavier_uniform(fan_in, fan_out, np.random.default_rng(1))
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    assert np.all(np.abs(w) <= bound)
    assert np.abs(w).max() > 0.95 * bound, "values should fill the whole interval [-b, b]"


def test_he_normal_variance() -> None:
    fan_in, fan_out = 200, 300
    w = he_normal(fan_in, fan_out, np.random.default_rng(2))
    # 60 000 draws: the sample variance is within 2 % of the true one almost surely.
    assert w.var() == pytest.approx(2.0 / fan_in, rel=0.05)
    assert abs(w.mean()) < 0.01


def test_he_uniform_and_lecun_normal_variance() -> None:
    rng = np.random.default_rng(3)
    assert he_uniform(100, 500, rng).var() == pytest.approx(2.0 / 100, rel=0.05)
    assert lecun_normal(100, 500, rng).var() == pytest.approx(1.0 / 100, rel=0.05)
