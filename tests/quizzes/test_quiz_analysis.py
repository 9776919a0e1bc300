"""Item analysis formulas on a small example computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quizzes.analysis import analyze, cronbach_alpha, flag, kr20, upper_lower

# Four students, three one-point items (rows: students, columns: items).
X = np.array([
    [1, 1, 1],  # total 3
    [1, 1, 0],  # total 2
    [1, 0, 0],  # total 1
    [0, 0, 0],  # total 0
], dtype=float)


def test_hand_computed_example():
    stats = analyze(X, np.ones(3))
    # Difficulty: proportion correct.
    assert [s.difficulty for s in stats.items] == pytest.approx([0.75, 0.5, 0.25])
    # Totals 3, 2, 1, 0: mean 1.5, population variance 1.25. Item variances p(1-p): 0.1875, 0.25,
    # 0.1875, summing to 0.625. Alpha = KR-20 = 3/2 * (1 - 0.625/1.25) = 0.75.
    assert stats.mean == pytest.approx(1.5)
    assert stats.sd == pytest.approx(math.sqrt(1.25))
    assert stats.alpha == pytest.approx(0.75)
    assert stats.kr20 == pytest.approx(0.75)
    # Corrected point-biserial, item 1: x = (1,1,1,0), rest = total - x = (2,1,0,0).
    # cov = 0.1875, var(x) = 0.1875, var(rest) = 0.6875, so r = sqrt(0.1875 / 0.6875) = 0.5222.
    # Item 2: x = (1,1,0,0), rest = (2,1,1,0): cov 0.25, var 0.25 and 0.5, r = 0.25 / sqrt(0.125) = 0.7071.
    # Item 3 mirrors item 1.
    assert [s.point_biserial for s in stats.items] == pytest.approx([0.52223, 0.70711, 0.52223], abs=1e-5)
    # Upper-lower 27%: groups of round(0.27 * 4) = 1 student; top scored 1 on every item, bottom 0.
    assert [s.upper_lower for s in stats.items] == pytest.approx([1, 1, 1])


def test_upper_lower_groups_are_27_percent():
    # 10 students: groups of round(2.7) = 3.
    totals = np.arange(10, dtype=float)
    item = (totals >= 5).astype(float)[:, None]
    # Top 3 (totals 9, 8, 7) all 1; bottom 3 (0, 1, 2) all 0.
    assert upper_lower(item, totals)[0] == pytest.approx(1.0)
    item2 = np.array([1, 0, 0, 0, 0, 0, 0, 1, 0, 1], dtype=float)[:, None]
    # Top 3 are students 9, 8, 7 → scores 1, 0, 1 → 2/3; bottom 3 are 0, 1, 2 → 1, 0, 0 → 1/3.
    assert upper_lower(item2, totals)[0] == pytest.approx(1 / 3)


def test_alpha_with_partial_credit_and_weights():
    fractions = np.array([[1, 0.5], [0.5, 0.5], [0, 0]])
    points = np.array([2.0, 1.0])
    weighted = fractions * points  # item scores in points: [2, .5], [1, .5], [0, 0]
    # var(item1) = var(2,1,0) = 2/3; var(item2) = var(.5,.5,0) = 1/18; totals 2.5, 1.5, 0 → var 19/18.
    expected = 2 * (1 - (2 / 3 + 1 / 18) / (19 / 18))
    assert cronbach_alpha(weighted) == pytest.approx(expected)
    assert analyze(fractions, points).alpha == pytest.approx(expected)
    # KR-20 counts only full credit: items (1,0,0) and (0,0,0).
    assert analyze(fractions, points).kr20 == pytest.approx(kr20(np.array([[1, 0], [0, 0], [0, 0]], float)))


def test_undefined_statistics_are_nan_and_flagged():
    same = np.ones((5, 2))
    stats = analyze(same, np.ones(2))
    assert math.isnan(stats.alpha) and math.isnan(stats.items[0].point_biserial)
    assert flag(stats.items[0]) == "no variance"
    one_item = analyze(X[:, :1], np.ones(1))
    assert math.isnan(one_item.alpha)


def test_negative_discrimination_is_flagged():
    # The item is answered right only by the weakest students: its key may be wrong.
    fractions = np.array([[0, 1, 1], [0, 1, 1], [1, 0, 0], [1, 0, 0]], dtype=float)
    stats = analyze(fractions, np.ones(3))
    assert stats.items[0].point_biserial < 0
    assert "check the key" in flag(stats.items[0])
