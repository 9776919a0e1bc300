"""The course formulas behind the parameterized questions, checked against hand computations."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quizzes import formulas as f
from quizzes.render import fmt_num, fmt_sci


def test_initialization_variances_and_bounds():
    assert f.xavier_var(64, 32) == pytest.approx(2 / 96)
    assert f.he_var(64) == pytest.approx(0.03125)
    assert f.lecun_var(64) == pytest.approx(1 / 64)
    # U(-a, a) has variance a²/3, so He-uniform for fan_in 6 is a = sqrt(6/6) = 1.
    assert f.uniform_bound(f.he_var(6)) == pytest.approx(1.0)
    assert f.uniform_bound(f.xavier_var(3, 3)) == pytest.approx(1.0)


def test_sigmoid_derivative_is_at_most_a_quarter():
    assert f.sigmoid_grad(0) == pytest.approx(0.25)
    assert max(f.sigmoid_grad(z / 10) for z in range(-80, 81)) == pytest.approx(0.25)
    assert 0.25 ** 10 == pytest.approx(9.5367e-7, rel=1e-4)
    assert f.tanh_grad(0) == 1 and f.tanh_grad(2) < 0.1
    assert (f.relu_grad(3.0), f.relu_grad(-1.0), f.relu_grad(0.0)) == (1.0, 0.0, 0.0)


def test_clipping():
    assert f.clip_by_norm([3, 4], 1) == pytest.approx([0.6, 0.8])  # direction kept, norm 1
    assert f.clip_by_norm([0.3, 0.4], 1) == pytest.approx([0.3, 0.4])  # below threshold: unchanged
    assert f.clip_by_value([10, -15, 25], 10) == [10, -10, 10]
    # Global norm of [3, 4] and [12] is 13; everything is scaled by 2/13.
    clipped = f.clip_by_global_norm([[3, 4], [12]], 2)
    assert clipped[0] == pytest.approx([6 / 13, 8 / 13]) and clipped[1] == pytest.approx([24 / 13])
    assert f.global_norm(clipped) == pytest.approx(2)


def test_adam_first_step_is_about_lr_only_with_bias_correction():
    for g in (1e-3, 0.5, 250.0):
        assert f.adam_first_step(g, 0.001) == pytest.approx(0.001, rel=1e-4)
        assert f.adam_first_step(-g, 0.001) == pytest.approx(-0.001, rel=1e-4)
        # Without correction: lr * 0.1 g / (sqrt(0.001) |g|) = lr * 3.162...
        assert f.adam_first_step(g, 0.001, corrected=False) == pytest.approx(0.001 * 0.1 / math.sqrt(0.001),
                                                                              rel=1e-3)
    m, v, m_hat, v_hat = f.adam_moments([1.0, 1.0])
    assert m == pytest.approx(0.19) and m_hat == pytest.approx(1.0)
    assert v_hat == pytest.approx(1.0)


def test_batchnorm_uses_the_biased_variance():
    out = f.batchnorm([1, 2, 3, 4], eps=0.0)
    assert f.mean(out) == pytest.approx(0)
    assert f.variance(out) == pytest.approx(1)  # biased variance of the output is 1
    assert out[0] == pytest.approx(-1.5 / math.sqrt(1.25))
    assert f.batchnorm([1, 2, 3, 4], gamma=2, beta=1, eps=0.0)[0] == pytest.approx(2 * out[0] + 1)
    assert f.variance([1, 2, 3, 4], ddof=1) == pytest.approx(5 / 3)


@pytest.mark.parametrize(("losses", "patience", "min_delta", "expected"), [
    # best at epoch 3, then 2 epochs without improvement: stop at 5, restore 3
    ([1.0, 0.8, 0.7, 0.75, 0.72], 2, 0.0, [5, 3]),
    # a one-epoch bump does not exhaust patience 2
    ([1.0, 0.9, 0.95, 0.8, 0.85, 0.86, 0.9], 2, 0.0, [6, 4]),
    # 0.695 improves with min_delta 0 but not with min_delta 0.01
    ([1.0, 0.7, 0.72, 0.695, 0.71, 0.73], 2, 0.0, [6, 4]),
    ([1.0, 0.7, 0.72, 0.695, 0.71, 0.73], 2, 0.01, [4, 2]),
    # never stops: runs to the end, best epoch restored
    ([1.0, 0.9, 0.8], 3, 0.0, [3, 3]),
])
def test_early_stopping(losses, patience, min_delta, expected):
    assert f.early_stopping(losses, patience, min_delta) == expected


def test_gradient_health_thresholds():
    assert f.grad_health([1e-3, 0.1, 0.5]) == "healthy"
    assert f.grad_health([5e-5, 0.1, 0.5]) == "healthy"  # one weak layer is fine
    assert f.grad_health([5e-5, 2e-5, 0.5]) == "warning"
    assert f.grad_health([5e-7, 0.1, 0.5]) == "critical"  # vanished
    assert f.grad_health([1e-3, 150.0]) == "critical"  # exploding
    assert f.grad_health([1e-3, float("nan")]) == "critical"
    assert f.grad_health([1e-3, float("inf")]) == "critical"
    assert f.grad_health([1e-3, 100.0]) == "healthy"  # the threshold is "above 100"
    norms = [1e-8, 5e-7, 2e-5, 0.01]
    assert (f.count_vanished(norms), f.count_weak(norms)) == (2, 3)  # weak counts vanished too (lecture)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["healthy", "warning", "vanished", "exploding"]),
       st.lists(st.floats(0, 0.9999), min_size=4, max_size=8))
def test_health_norms_have_the_diagnosis_they_claim(case, u):
    expected = {"healthy": "healthy", "warning": "warning", "vanished": "critical", "exploding": "critical"}
    assert f.grad_health(f.health_norms(case, u)) == expected[case]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 0.9999), min_size=12, max_size=12), st.integers(3, 6), st.integers(2, 4))
def test_val_losses_turn_where_asked(u, turn, patience):
    losses = f.val_losses(u, turn)
    stop, best = f.early_stopping(losses, patience)
    assert all(x > 0 for x in losses)
    # After the turn only the planted tiny dip (0.004 below the best so far) can improve.
    assert min(losses[turn:]) >= min(losses[:turn]) - 0.004 - 1e-9
    if stop < len(losses):
        assert stop - best == patience


def test_number_formatting():
    assert fmt_num(0.03125) == "0.03125"
    assert fmt_num(9.5367431640625e-07) == "9.537e-7"
    assert fmt_num(-3.624732559981062) == "-3.625"
    assert fmt_num(7) == "7" and fmt_num(0.0) == "0"
    assert fmt_sci(9.5367e-7) == "9.54 × 10⁻⁷"
    assert fmt_sci(1e-6) == "10⁻⁶"
