"""Item analysis: how each question behaved, and how reliable the quiz is as a whole.

Inputs are a score matrix S of shape (n_students, n_items) holding each item's score as a
fraction of its points (0..1, partial credit allowed) and the items' points.

- difficulty p_j = mean_i S_ij (the proportion correct for 0/1 items; higher = easier);
- discrimination, point-biserial (corrected): Pearson r between item j and the rest score
  (total points minus item j's points), so an item is not correlated with itself;
- discrimination, upper-lower: mean of item j in the top 27% by total minus the bottom 27%
  (groups of round(0.27 n) students, at least 1; ties broken by response order);
- Cronbach's alpha = k/(k-1) · (1 - Σ var(points_j·S_j) / var(total)), population variances;
- KR-20 = k/(k-1) · (1 - Σ p_j(1-p_j) / var(X)), on items scored 1 only at full credit, X their
  unweighted count (KR-20 equals alpha for 0/1 items of equal weight).
Undefined values (a constant item or total, k < 2) are NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

UPPER_LOWER_FRACTION = 0.27


@dataclass(frozen=True)
class ItemStats:
    """Statistics of one item."""

    difficulty: float
    point_biserial: float
    upper_lower: float
    mean_points: float


@dataclass(frozen=True)
class QuizStats:
    """Statistics of the whole quiz."""

    n_students: int
    n_items: int
    mean: float
    sd: float
    max_points: float
    alpha: float
    kr20: float
    items: tuple[ItemStats, ...]


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    sx, sy = x.std(), y.std()
    if sx == 0 or sy == 0:
        return math.nan
    return float(((x - x.mean()) * (y - y.mean())).mean() / (sx * sy))


def cronbach_alpha(weighted: np.ndarray) -> float:
    """Cronbach's alpha of a (students, items) matrix of item scores in points."""
    k = weighted.shape[1]
    total_var = weighted.sum(axis=1).var()
    if k < 2 or total_var == 0:
        return math.nan
    return float(k / (k - 1) * (1 - weighted.var(axis=0).sum() / total_var))


def kr20(binary: np.ndarray) -> float:
    """KR-20 of a (students, items) matrix of 0/1 item scores."""
    k = binary.shape[1]
    total_var = binary.sum(axis=1).var()
    if k < 2 or total_var == 0:
        return math.nan
    p = binary.mean(axis=0)
    return float(k / (k - 1) * (1 - (p * (1 - p)).sum() / total_var))


def upper_lower(fractions: np.ndarray, totals: np.ndarray, fraction: float = UPPER_LOWER_FRACTION) -> np.ndarray:
    """Per item: mean score of the top `fraction` of students by total minus that of the bottom."""
    n = len(totals)
    g = max(1, round(fraction * n))
    order = np.argsort(-totals, kind="stable")
    return fractions[order[:g]].mean(axis=0) - fractions[order[-g:]].mean(axis=0)


def analyze(fractions: np.ndarray, points: np.ndarray) -> QuizStats:
    """Item and quiz statistics for a score matrix (fractions of points) and item points."""
    fractions = np.asarray(fractions, dtype=float)
    points = np.asarray(points, dtype=float)
    n, k = fractions.shape
    weighted = fractions * points
    totals = weighted.sum(axis=1)
    ul = upper_lower(fractions, totals) if n >= 2 else np.full(k, math.nan)
    items = []
    for j in range(k):
        rest = totals - weighted[:, j]
        items.append(ItemStats(
            difficulty=float(fractions[:, j].mean()),
            point_biserial=_corr(fractions[:, j], rest),
            upper_lower=float(ul[j]),
            mean_points=float(weighted[:, j].mean()),
        ))
    binary = (fractions >= 1 - 1e-9).astype(float)
    return QuizStats(n_students=n, n_items=k, mean=float(totals.mean()), sd=float(totals.std()),
                     max_points=float(points.sum()), alpha=cronbach_alpha(weighted), kr20=kr20(binary),
                     items=tuple(items))


def flag(stats: ItemStats) -> str:
    """A short verdict for the report: which items deserve a second look."""
    if math.isnan(stats.point_biserial):
        return "no variance"
    if stats.point_biserial < 0:
        return "negative discrimination: check the key"
    if stats.difficulty > 0.9:
        return "very easy"
    if stats.difficulty < 0.2:
        return "very hard"
    if stats.point_biserial < 0.2:
        return "weak discrimination"
    return ""
