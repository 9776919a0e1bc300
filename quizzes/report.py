"""Grading outputs: scores CSV, item analysis CSV, per-student feedback and the HTML report.

Plots are drawn with matplotlib (Agg) and embedded as base64 PNG, so report.html is one
self-contained file that can be mailed or archived.
"""

from __future__ import annotations

import base64
import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .analysis import QuizStats, analyze, flag
from .exports.common import safe_name
from .fsutil import atomic_dir
from .grading import Grading, StudentResult, grade
from .model import LETTERS
from .render import fmt_num
from .templating import render


@dataclass(frozen=True)
class OptionCount:
    """How many students marked one option (or, for numeric questions, fell in one category)."""

    label: str
    count: int
    correct: bool


@dataclass(frozen=True)
class GradeOutcome:
    """What a grading run wrote, and the headline numbers."""

    out: Path
    grading: Grading
    stats: QuizStats
    files: dict[str, Path]

    def summary(self) -> str:
        """A few lines for the terminal."""
        s = self.stats
        return "\n".join([
            f"graded {s.n_students} student(s) x {s.n_items} questions into {self.out}",
            f"  mean {s.mean:.2f} / {s.max_points:g} points (sd {s.sd:.2f}), "
            f"Cronbach's alpha {_fmt(s.alpha)}, KR-20 {_fmt(s.kr20)}",
            *(f"  {name:<14} {path}" for name, path in self.files.items()),
        ])


def _fmt(x: float, digits: int = 2) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def score_matrix(grading: Grading) -> tuple[np.ndarray, np.ndarray]:
    """(fractions of points per student and question in spec order, points per question)."""
    qids = grading.question_ids
    index = {q: j for j, q in enumerate(qids)}
    fractions = np.zeros((len(grading.results), len(qids)))
    for i, result in enumerate(grading.results):
        for item in result.items:
            fractions[i, index[item.qid]] = item.fraction
    points = np.array([float(q["points"]) for q in grading.key["questions"]])
    return fractions, points


def option_counts(grading: Grading) -> dict[str, list[OptionCount]]:
    """Per question, how often each option was marked (numeric: correct / each misconception / other)."""
    out: dict[str, list[OptionCount]] = {}
    variants = grading.key["variants"]
    by_student = [{i.qid: i for i in r.items} for r in grading.results]
    for q in grading.key["questions"]:
        qid = q["qid"]
        items = [items_of[qid] for items_of in by_student]
        first = variants[items[0].vid] if items else None
        blank = sum(1 for i in items if not i.response)
        if first is None:
            continue
        if q["type"] == "numeric":
            labels = [("correct", "correct", True)]
            labels += [(f"misconception:{k}", f"M{k + 1}: " + _short(m["feedback"], 30), False)
                       for k, m in enumerate(first.get("misconceptions", []))]
            labels.append(("other", "other wrong value", False))
            counts = [OptionCount(label, sum(1 for i in items if i.category == cat), ok) for cat, label, ok in labels]
        elif q["type"] in ("ordering", "matching"):  # partial credit: how many got it all, some or none
            labels = [("correct", "all right", True), ("partial", "partly right", False), ("wrong", "none right", False)]
            counts = [OptionCount(label, sum(1 for i in items if i.category == cat), ok) for cat, label, ok in labels]
        else:
            # Whether an option is the key can depend on the parameters (e.g. a diagnosis):
            # mark it correct when it is the key for most students and say for how many.
            keyed = [sum(1 for i in items if variants[i.vid]["choices"][k]["correct"])
                     for k in range(len(first["choices"]))]
            counts = []
            for k, c in enumerate(first["choices"]):
                label = _short(c["text"])
                if 0 < keyed[k] < len(items):
                    label += f" [key for {keyed[k]}]"
                counts.append(OptionCount(label, sum(1 for i in items if k in i.chosen), 2 * keyed[k] > len(items)))
        counts.append(OptionCount("(blank)", blank, False))
        out[qid] = counts
    return out


def _short(text: str, n: int = 38) -> str:
    text = " ".join(text.replace("`", "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96)  # fixed margins: no tight bbox, which would draw twice
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def plots(grading: Grading, stats: QuizStats, counts: dict[str, list[OptionCount]]) -> dict[str, str]:
    """The report's figures as base64 PNG: score histogram, difficulty vs discrimination, option shares."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    out = {}
    percents = [100 * r.score / r.max_score if r.max_score else 0 for r in grading.results]
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.17, top=0.95)
    ax.hist(percents, bins=np.linspace(0, 100, 11), color="#2557a7", edgecolor="white")
    ax.axvline(float(np.mean(percents)), color="#b3261e", linestyle="--", label=f"mean {np.mean(percents):.0f}%")
    ax.set_xlabel("score (%)")
    ax.set_ylabel("students")
    ax.set_xlim(0, 100)
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    out["histogram"] = _png(fig)

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    fig.subplots_adjust(left=0.12, right=0.98, bottom=0.15, top=0.96)
    ax.axhspan(-1, 0.2, color="#fbe9e7", zorder=0)
    ax.axvspan(0, 0.2, color="#eef1f6", zorder=0)
    ax.axvspan(0.9, 1.02, color="#eef1f6", zorder=0)
    xs = [s.difficulty for s in stats.items]
    ys = [0.0 if math.isnan(s.point_biserial) else s.point_biserial for s in stats.items]
    ax.scatter(xs, ys, color="#2557a7", zorder=3)
    for j in range(len(xs)):
        ax.annotate(str(j + 1), (xs[j], ys[j]), textcoords="offset points", xytext=(4, 3), fontsize=8)
    ax.set_xlim(0, 1.02)
    ax.set_ylim(min(-0.2, min(ys, default=0) - 0.05), 1)
    ax.set_xlabel("difficulty (proportion correct)")
    ax.set_ylabel("discrimination (point-biserial)")
    ax.axhline(0.2, color="#b3261e", lw=0.8, ls=":")
    ax.spines[["top", "right"]].set_visible(False)
    out["scatter"] = _png(fig)

    # One stacked bar per question: the correct share in green, distractors in shades of orange
    # (most chosen darkest), blanks in grey; the top distractor is named beside the bar.
    qids = list(counts)
    fig, ax = plt.subplots(figsize=(9.5, 0.9 + 0.34 * len(qids)))
    fig.subplots_adjust(left=0.26, right=0.62, bottom=0.5 / (0.9 + 0.34 * len(qids)) + 0.02, top=0.98)
    shades = ["#c2410c", "#ea7a2b", "#f5a462", "#f9c99c", "#fbe0c6", "#fdeede"]
    n_students = max(1, len(grading.results))
    for row, qid in enumerate(qids):
        y = len(qids) - 1 - row
        rows = counts[qid]
        right = sum(c.count for c in rows if c.correct)
        wrong = sorted((c for c in rows if not c.correct and c.label != "(blank)"), key=lambda c: -c.count)
        blank = next((c.count for c in rows if c.label == "(blank)"), 0)
        left = 0.0
        segments = [(right, "#1f7a3a")] + [(c.count, shades[min(k, len(shades) - 1)]) for k, c in enumerate(wrong)]
        segments.append((blank, "#c9ced8"))
        total = max(1, sum(n for n, _ in segments))
        for n, color in segments:
            if n:
                ax.barh(y, n / total, left=left, color=color, height=0.7, edgecolor="white", linewidth=0.5)
                left += n / total
        if wrong and wrong[0].count:
            ax.text(1.02, y, f"{wrong[0].label} ({100 * wrong[0].count / n_students:.0f}%)", va="center",
                    fontsize=7.5, transform=ax.get_yaxis_transform(), clip_on=False)
    ax.set_yticks(range(len(qids)), [f"{len(qids) - i}. {qids[len(qids) - 1 - i]}" for i in range(len(qids))],
                  fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1], ["0", "25%", "50%", "75%", "100%"], fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    out["options"] = _png(fig)
    return out


def plot_text(grading: Grading, stats: QuizStats, counts: dict[str, list[OptionCount]]) -> dict[str, Any]:
    """What each plot says in words (its alt text) and the histogram's counts as a table: screen readers
    hear the alt text, and the exact numbers sit in tables next to the plots."""
    from autograder.reports.plots import histogram_alt, histogram_table, scatter_alt

    percents = [100 * r.score / r.max_score if r.max_score else 0 for r in grading.results]
    title = grading.key.get("title", "the quiz")
    top_wrong = []
    number = {q["qid"]: n for n, q in enumerate(grading.key["questions"], start=1)}  # as in the item table
    for qid, rows in counts.items():
        n = number[qid]
        wrong = max((c for c in rows if not c.correct and c.label != "(blank)"), key=lambda c: c.count, default=None)
        if wrong is not None and wrong.count:
            top_wrong.append((wrong.count, n, wrong.label))
    options = (f"Stacked bar chart, one bar per question of {title}: the share of students who marked the correct "
               "option (green), each wrong option (orange) and nothing (grey).")
    if top_wrong:
        count, n, label = max(top_wrong)
        options += f" The most chosen wrong option is {label!r} in question {n} ({count} students)."
    return {
        "histogram_alt": histogram_alt(f"scores on {title}", percents),
        "histogram_table": histogram_table(percents),
        "scatter_alt": scatter_alt(title, [s.difficulty for s in stats.items], [s.point_biserial for s in stats.items]),
        "options_alt": options + " The counts per option are in the item analysis table above.",
    }


def write_scores(grading: Grading, path: Path) -> None:
    """scores.csv: one row per student, total and per-question points."""
    qids = grading.question_ids
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["student_id", "name", "paper_code", "score", "max_score", "percent", *qids])
        for r in grading.results:
            by_q = {i.qid: i.score for i in r.items}
            pct = 100 * r.score / r.max_score if r.max_score else 0.0
            w.writerow([r.student_id, r.name, r.code, f"{r.score:.4g}", f"{r.max_score:g}", f"{pct:.1f}",
                        *(f"{by_q[q]:.4g}" for q in qids)])


def write_item_analysis(grading: Grading, stats: QuizStats, counts: dict[str, list[OptionCount]],
                        path: Path) -> None:
    """item_analysis.csv: per question difficulty, discrimination and option frequencies."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["question", "topic", "type", "points", "difficulty", "point_biserial", "upper_lower_27",
                    "mean_points", "flag", "option_counts"])
        for q, s in zip(grading.key["questions"], stats.items, strict=True):
            options = "; ".join(f"{'*' if c.correct else ''}{c.label}: {c.count}" for c in counts[q["qid"]])
            w.writerow([q["qid"], q["topic"], q.get("kind", q["type"]), f"{q['points']:g}", _fmt(s.difficulty, 3),
                        _fmt(s.point_biserial, 3), _fmt(s.upper_lower, 3), _fmt(s.mean_points, 3), flag(s),
                        options])


def feedback_context(grading: Grading, result: StudentResult) -> dict[str, Any]:
    """What a student's feedback page shows: per question their answer, the right one, the explanation."""
    key = grading.key
    student = grading.key_students()[result.student_id]
    rows = []
    for item, ki in zip(result.items, student["items"], strict=True):
        v = key["variants"][ki["vid"]]
        yours = item.response or "(blank)"
        if v["type"] == "numeric":
            right = fmt_num(v["answer"])
        elif v["type"] in ("ordering", "matching"):
            shown = {i: LETTERS[k] for k, i in enumerate(ki["order"])}
            if v["type"] == "ordering":
                right = " → ".join(f"{shown[i]}: {_short(c['text'], 40)}" for i, c in enumerate(v["choices"]))
            else:
                right = "; ".join(f"{n}. {_short(p, 30)} → {shown[m]}: {_short(v['choices'][m]['text'], 40)}"
                                  for n, (p, m) in enumerate(zip(v["prompts"], v["matches"], strict=True), start=1))
        else:
            order = ki["order"]
            shown = {i: LETTERS[k] for k, i in enumerate(order)}

            def label(i: int, v: dict[str, Any] = v, shown: dict[int, str] = shown) -> str:
                return f"{shown[i]}: {_short(v['choices'][i]['text'], 60)}"

            right = "; ".join(label(i) for i in order if v["choices"][i]["correct"])
            if item.chosen:
                yours = "; ".join(label(i) for i in sorted(item.chosen, key=order.index))
        rows.append({"item": item, "variant": v, "right": right, "yours": yours})
    return {"title": key["title"], "result": result, "rows": rows}


def write_grading(grading: Grading, out: Path, with_plots: bool = True) -> GradeOutcome:
    """Write every grading output into out, atomically."""
    fractions, points = score_matrix(grading)
    stats = analyze(fractions, points)
    counts = option_counts(grading)
    figures = plots(grading, stats, counts) if with_plots else {}
    with atomic_dir(out, "grade") as tmp:
        write_scores(grading, tmp / "scores.csv")
        write_item_analysis(grading, stats, counts, tmp / "item_analysis.csv")
        fb_dir = tmp / "feedback"
        fb_dir.mkdir()
        for result in grading.results:
            (fb_dir / f"{safe_name(result.student_id)}.html").write_text(
                render("feedback.html.j2", **feedback_context(grading, result)), encoding="utf-8")
        rows = [{"n": j + 1, "q": q, "s": s, "flag": flag(s), "counts": counts[q["qid"]]}
                for j, (q, s) in enumerate(zip(grading.key["questions"], stats.items, strict=True))]
        (tmp / "report.html").write_text(render(
            "report.html.j2", key=grading.key, stats=stats, rows=rows, figures=figures, fmt=_fmt,
            plot_text=plot_text(grading, stats, counts) if figures else {},
            results=sorted(grading.results, key=lambda r: -r.score)), encoding="utf-8")
    out = Path(out).resolve()
    files = {"scores": out / "scores.csv", "item analysis": out / "item_analysis.csv",
             "feedback": out / "feedback", "report": out / "report.html"}
    return GradeOutcome(out, grading, stats, files)


def grade_to_dir(key_dir: str | Path, responses: str | Path, out: str | Path) -> GradeOutcome:
    """Grade a responses CSV and write scores, feedback, item analysis and the report."""
    return write_grading(grade(key_dir, responses), Path(out))
