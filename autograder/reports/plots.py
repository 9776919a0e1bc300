"""Every plot deepgrade draws for courses, in one style, as base64 PNG for self-contained pages.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot): no global state, no GUI
backend, nothing to close. Colours match the pages' CSS (``templates/base.html``).
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

ACCENT = "#2557a7"
OK = "#1f7a3a"
BAD = "#b3261e"
WARN = "#d98a1c"
MUTED = "#5b6475"
LINE = "#d4d9e2"
SOFT = "#eef1f6"
DPI = 110

_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.edgecolor": MUTED,
    "axes.labelcolor": "#1d2330",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "legend.frameon": False,
    "savefig.facecolor": "white",
}


@contextmanager
def _style() -> Any:
    import matplotlib

    with matplotlib.rc_context(_RC):
        yield


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI)


def png(fig: Any) -> str:
    """The figure as base64 PNG text for ``<img src="data:image/png;base64,...">``."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def score_histogram(percents: Sequence[float], *, mark: float | None = None, xlabel: str = "final score (%)",
                    width: float = 6.4, height: float = 2.6) -> str:
    """Distribution of scores in 10-point bins; ``mark`` draws one student's score ("you")."""
    with _style():
        fig = _figure(width, height)
        ax = fig.add_axes((0.09, 0.2, 0.88, 0.66))
        bins = [10 * i for i in range(11)]
        clipped = [min(max(p, 0.0), 100.0) for p in percents]
        ax.hist(clipped, bins=bins, color=ACCENT if mark is None else "#9db3da", edgecolor="white")
        if clipped:
            mean = sum(clipped) / len(clipped)
            ax.axvline(mean, color=MUTED, linestyle="--", linewidth=1, label=f"class mean {mean:.0f}%")
        if mark is not None:
            ax.axvline(min(max(mark, 0.0), 100.0), color=BAD, linewidth=2.2, label=f"you: {mark:.0f}%")
        ax.set_xlim(0, 100)
        ax.set_xticks(bins)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("students")
        ax.yaxis.get_major_locator().set_params(integer=True)
        # Above the axes: inside, the legend would cover the tallest bars.
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=8)
        return png(fig)


def pass_rate_bars(labels: Sequence[str], rates: Sequence[float], *, notes: Sequence[str] = (),
                   width: float = 7.2) -> str:
    """One horizontal bar per check: the share of students who passed it (red below 50%)."""
    n = max(1, len(labels))
    height = 0.7 + 0.27 * n
    with _style():
        fig = _figure(width, height)
        left = min(0.55, 0.1 + 0.0105 * max((len(lbl) for lbl in labels), default=10))
        ax = fig.add_axes((left, 0.45 / height + 0.02, 0.9 - left, 1 - (0.45 / height + 0.02) - 0.12 / height))
        ys = list(range(n))[::-1]
        colors = [BAD if r < 0.5 else (WARN if r < 0.8 else OK) for r in rates]
        ax.barh(ys, [100 * r for r in rates], color=colors, height=0.7)
        for y, r in zip(ys, rates):
            ax.text(min(100 * r + 1.5, 101), y, f"{100 * r:.0f}%", va="center", fontsize=7.5, color=MUTED)
        ax.set_yticks(ys, [f"{lbl}{notes[i] if i < len(notes) else ''}" for i, lbl in enumerate(labels)],
                      fontsize=7.5)
        ax.set_xlim(0, 108)
        ax.set_xticks([0, 25, 50, 75, 100], ["0", "25%", "50%", "75%", "100%"])
        ax.set_xlabel("students who passed")
        ax.axvline(50, color=LINE, linewidth=0.8, zorder=0)
        return png(fig)


def late_bars(topics: Sequence[str], series: dict[str, Sequence[int]], *, width: float = 7.2) -> str:
    """Stacked horizontal bars per assignment: on time, late, late beyond the limit, missing."""
    palette = {"on time": OK, "late": WARN, "zero (too late)": BAD, "missing": LINE}
    n = max(1, len(topics))
    height = 0.9 + 0.34 * n
    with _style():
        fig = _figure(width, height)
        ax = fig.add_axes((0.2, 0.55 / height + 0.08, 0.77, 1 - (0.55 / height + 0.08) - 0.3 / height))
        ys = list(range(n))[::-1]
        lefts = [0] * n
        for name, counts in series.items():
            ax.barh(ys, counts, left=lefts, color=palette.get(name, ACCENT), height=0.65, label=name,
                    edgecolor="white", linewidth=0.5)
            lefts = [a + b for a, b in zip(lefts, counts)]
        ax.set_yticks(ys, list(topics))
        ax.set_xlabel("students")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(series), fontsize=8)
        return png(fig)


def item_scatter(difficulty: Sequence[float], discrimination: Sequence[float], *, width: float = 6.4,
                 height: float = 3.4) -> str:
    """Quiz items: difficulty (proportion correct) against discrimination (point-biserial)."""
    ys = [0.0 if math.isnan(d) else d for d in discrimination]
    with _style():
        fig = _figure(width, height)
        ax = fig.add_axes((0.11, 0.15, 0.86, 0.8))
        ax.axhspan(-1, 0.2, color="#fbe9e7", zorder=0)
        ax.axvspan(0, 0.2, color=SOFT, zorder=0)
        ax.axvspan(0.9, 1.02, color=SOFT, zorder=0)
        ax.axhline(0.2, color=BAD, linewidth=0.8, linestyle=":")
        ax.scatter(difficulty, ys, color=ACCENT, zorder=3)
        for j, (x, y) in enumerate(zip(difficulty, ys)):
            ax.annotate(str(j + 1), (x, y), textcoords="offset points", xytext=(4, 3), fontsize=8)
        ax.set_xlim(0, 1.02)
        ax.set_ylim(min(-0.2, min(ys, default=0) - 0.05), 1)
        ax.set_xlabel("difficulty (proportion correct)")
        ax.set_ylabel("discrimination")
        return png(fig)


# ---------------------------------------------------------------------------- the words and numbers behind a plot
# A plot is an image: a screen reader hears only its alt text, and nobody can read exact values off
# bars. So each plot comes with a one-sentence alt text saying what it shows and what stands out, and
# the page puts the numbers it was drawn from in a table next to it (WCAG 1.1.1).

def histogram_table(percents: Sequence[float]) -> list[tuple[str, int]]:
    """The bars of ``score_histogram``: (score range, students) per 10-point bin; the last bin holds 100."""
    counts = [0] * 10
    for p in percents:
        counts[min(int(min(max(p, 0.0), 100.0) // 10), 9)] += 1
    return [(f"{10 * i}–{10 * i + 10}%" if i < 9 else "90–100%", n) for i, n in enumerate(counts)]


def histogram_bin(percent: float) -> str:
    """The range label of the bin ``percent`` falls in (to mark "you" in the table)."""
    return next(label for label, n in histogram_table([percent]) if n)


def histogram_alt(what: str, percents: Sequence[float], *, mark: float | None = None) -> str:
    """Alt text for ``score_histogram``: how many, the mean, the fullest bin, and "you" when marked."""
    if not percents:
        return f"Histogram of {what}: no scores yet."
    bins = histogram_table(percents)
    most = max(n for _, n in bins)
    fullest = [label for label, n in bins if n == most]  # ties: name them all, not just the first
    mean = sum(min(max(p, 0.0), 100.0) for p in percents) / len(percents)
    text = (f"Histogram of {what} for {len(percents)} student{'s' if len(percents) != 1 else ''}: "
            f"mean {mean:.0f}%, most in {' and '.join(fullest)} ({most} student{'s' if most != 1 else ''}"
            f"{' each' if len(fullest) > 1 else ''}).")
    if mark is not None:
        text += f" Your score, {mark:.0f}%, is marked in red."
    return text + " The counts per range are in the table after the plot."


def pass_rate_alt(what: str, labels: Sequence[str], rates: Sequence[float]) -> str:
    """Alt text for ``pass_rate_bars``: how many checks, the hardest and how many fewer than half passed."""
    if not labels:
        return f"Pass rates of the checks of {what}: none graded yet."
    low = min(range(len(rates)), key=lambda i: rates[i])
    under = sum(1 for r in rates if r < 0.5)
    return (f"Bar chart of the share of students who passed each of the {len(labels)} checks of {what}; "
            f"lowest: {labels[low]} at {100 * rates[low]:.0f}%; {under} check{'s' if under != 1 else ''} passed by "
            "fewer than half. The numbers are in the table after the plot.")


def late_alt(topics: Sequence[str], series: dict[str, Sequence[int]]) -> str:
    """Alt text for ``late_bars``: totals per category over all assignments."""
    totals = ", ".join(f"{sum(v)} {k}" for k, v in series.items())
    return (f"Stacked bar chart of submissions per assignment for {len(topics)} assignment"
            f"{'s' if len(topics) != 1 else ''} ({totals} in all). The numbers per assignment are in the "
            "table after the plot.")


def scatter_alt(what: str, difficulty: Sequence[float], discrimination: Sequence[float]) -> str:
    """Alt text for ``item_scatter``: how many questions, and which sit below the 0.2 discrimination line."""
    weak = [str(i + 1) for i, d in enumerate(discrimination) if not math.isnan(d) and d < 0.2]
    told = f"questions {', '.join(weak)} are below 0.2" if weak else "none is below 0.2"
    return (f"Scatter plot of the {len(difficulty)} questions of {what}: difficulty (proportion correct) against "
            f"discrimination (point-biserial); {told}. The numbers are in the item table after the plot.")
