"""`deepgrade report`: the class report, one self-contained HTML page for the instructor.

Per assignment: the distribution of final scores, each check's pass rate (so a common
misconception stands out) and the most frequent failure messages; then lateness, quiz item
analysis (``quizzes.analysis``, the quiz report's own statistics) and the gradebook.
"""

from __future__ import annotations

import math
import os
import re
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from autograder.gradebook.course import Course
from autograder.gradebook.exports import gradebook_table
from autograder.gradebook.store import Gradebook, Graded
from autograder.render import render
from autograder.reports import plots
from autograder.results import atomic_write

TOP_FAILURES = 8
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


@dataclass(frozen=True)
class CheckRate:
    check_id: str
    name: str
    visibility: str
    max_score: float
    passed: int
    total: int

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 0.0


@dataclass(frozen=True)
class Failure:
    message: str
    students: tuple[str, ...]
    checks: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.students)


def diagnosis(message: str) -> str:
    """The part of a failure message that names the misconception ("Looks like ..."), else its
    first line; numbers are what differ between students, so they do not split a group."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("Looks like", "Hint")):
            return line
    return lines[0] if lines else "(no message)"


def check_rates(graded: list[Graded]) -> list[CheckRate]:
    """Pass counts per check, in the graders' order."""
    order: dict[str, CheckRate] = {}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for g in graded:
        for c in g.result.checks:
            if c.check_id not in order:
                order[c.check_id] = CheckRate(c.check_id, c.name, c.visibility, c.max_score, 0, 0)
            counts[c.check_id][0] += c.passed
            counts[c.check_id][1] += 1
    return [CheckRate(r.check_id, r.name, r.visibility, r.max_score, *counts[r.check_id]) for r in order.values()]


def frequent_failures(graded: list[Graded], top: int = TOP_FAILURES) -> list[Failure]:
    """The diagnoses most students hit, each with the students and the checks that reported it.

    Grouping by message rather than by check keeps one misconception (or one crashing
    submission) that fails several checks as one line; named misconceptions ("Looks like
    ...") rank before crashes hit by as many students.
    """
    students: dict[str, set[str]] = defaultdict(set)
    checks: dict[str, list[str]] = defaultdict(list)
    shown: dict[str, str] = {}
    for g in graded:
        for c in g.result.checks:
            if c.passed:
                continue
            text = diagnosis(c.output)
            key = _NUMBER.sub("#", text)
            students[key].add(g.student_id)
            if c.check_id not in checks[key]:
                checks[key].append(c.check_id)
            shown.setdefault(key, text)
    ranked = sorted(students, key=lambda k: (-len(students[k]), not shown[k].startswith(("Looks like", "Hint")),
                                             -len(checks[k]), k))
    return [Failure(shown[k], tuple(sorted(students[k])), tuple(checks[k])) for k in ranked[:top]]


def _late_summary(course: Course, topic: str, graded: list[Graded], roster_ids: set[str]) -> dict:
    policy = course.assignments[topic].late
    on_time = sum(1 for g in graded if g.late_days == 0)
    zero = sum(1 for g in graded if g.late_days > policy.max_days)
    late = len(graded) - on_time - zero
    in_grace = sum(1 for g in graded if g.late_days == 0 and g.late_seconds > 0)
    missing = len(roster_ids - {g.student_id for g in graded})
    late_days = [g.late_days for g in graded if g.late_days]
    return {"topic": topic, "title": course.assignments[topic].title, "on_time": on_time, "in_grace": in_grace,
            "late": late, "zero": zero, "missing": missing,
            "mean_days": statistics.mean(late_days) if late_days else 0.0,
            "extensions": sum(1 for (s, t) in course.extensions if t == topic), "policy": policy.describe()}


def quiz_analysis(book: Gradebook, quiz: str) -> dict | None:
    """Item statistics for a graded quiz, from its per-question scores in the gradebook."""
    import numpy as np

    from quizzes.analysis import analyze, flag

    rows = book.quiz_items(quiz)
    if not rows:
        return None
    students = sorted({r["student_id"] for r in rows})
    positions: dict[str, list[int]] = defaultdict(list)
    points: dict[str, float] = {}
    for r in rows:
        positions[r["qid"]].append(r["position"])
        points[r["qid"]] = r["points"]
    qids = sorted(positions, key=lambda q: (statistics.mean(positions[q]), q))
    fractions = np.zeros((len(students), len(qids)))
    s_index, q_index = {s: i for i, s in enumerate(students)}, {q: j for j, q in enumerate(qids)}
    for r in rows:
        fractions[s_index[r["student_id"]], q_index[r["qid"]]] = r["score"] / r["points"] if r["points"] else 0.0
    stats = analyze(fractions, np.array([points[q] for q in qids]))
    items = [{"n": j + 1, "qid": q, "points": points[q], "s": s, "flag": flag(s)}
             for j, (q, s) in enumerate(zip(qids, stats.items))]
    figure = plots.item_scatter([s.difficulty for s in stats.items], [s.point_biserial for s in stats.items]) \
        if len(students) >= 2 else ""
    alt = plots.scatter_alt(quiz, [s.difficulty for s in stats.items], [s.point_biserial for s in stats.items])
    return {"stats": stats, "items": items, "figure": figure, "figure_alt": alt}


def _fmt(x: float, digits: int = 2) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def late_warnings(course: Course, graded: list[Graded]) -> list[str]:
    """Why late penalties may be missing: no due date, a date-only due date, no submission times."""
    from autograder.gradebook.course import course_warnings

    warnings = course_warnings(course)
    for topic in course.assignments:
        untimed = sum(1 for g in graded if g.topic == topic and g.time_source == "none")
        if untimed and course.assignments[topic].due is not None:
            warnings.append(f"{untimed} submission(s) of {topic} have no submission time (no manifest row from the "
                            "LMS): no late penalty was applied to them")
    return warnings


def report_context(course: Course, book: Gradebook, *, out: Path, now: datetime | None = None) -> dict:
    """Everything the class report shows."""
    now = now or datetime.now(timezone.utc)
    roster_ids = {s.student_id for s in book.students() if s.in_roster}
    assignments, lates = [], []
    all_graded = book.current()
    for topic, a in course.assignments.items():
        graded = [g for g in all_graded if g.topic == topic]
        rates = check_rates(graded)
        percents = [g.percent for g in graded]
        raw = [100 * g.raw_score / g.max_score if g.max_score else 0.0 for g in graded]
        vis_note = {"hidden": " (hidden)", "after_due_date": " (after due)", "after_published": " (after due)"}
        assignments.append({
            "topic": topic, "title": a.title, "due": course.local(a.due), "graded": graded, "n": len(graded),
            "n_roster": len(roster_ids),
            "mean": statistics.mean(percents) if percents else 0.0,
            "median": statistics.median(percents) if percents else 0.0,
            "mean_raw": statistics.mean(raw) if raw else 0.0,
            "rates": rates, "failures": frequent_failures(graded),
            "histogram": plots.score_histogram(percents) if graded else "",
            "histogram_alt": plots.histogram_alt(f"final scores on {a.title}", percents),
            "histogram_table": plots.histogram_table(percents),
            "bars_alt": plots.pass_rate_alt(a.title, [r.check_id for r in rates], [r.rate for r in rates]),
            "bars": plots.pass_rate_bars([r.check_id for r in rates], [r.rate for r in rates],
                                         notes=[vis_note.get(r.visibility, "") for r in rates]) if rates else "",
        })
        lates.append(_late_summary(course, topic, graded, roster_ids))
    late_figure = plots.late_bars(
        [x["topic"] for x in lates],
        {"on time": [x["on_time"] for x in lates], "late": [x["late"] for x in lates],
         "zero (too late)": [x["zero"] for x in lates], "missing": [x["missing"] for x in lates]},
    ) if any(a["n"] for a in assignments) else ""
    late_alt = plots.late_alt([x["topic"] for x in lates], {
        "on time": [x["on_time"] for x in lates], "late": [x["late"] for x in lates],
        "zeroed (too late)": [x["zero"] for x in lates], "missing": [x["missing"] for x in lates]})
    quizzes = []
    for name, q in course.quizzes.items():
        analysis = quiz_analysis(book, name)
        detail = course.root / "reports" / f"quiz_{name}" / "report.html"
        link = os.path.relpath(detail, out.parent) if detail.exists() else ""
        quizzes.append({"name": name, "title": q.title, "analysis": analysis, "link": link})
    columns, rows = gradebook_table(course, book)
    totals = [r.weighted_percent(columns) for r in rows if r.student.in_roster or r.cells]
    return {
        "course": course, "generated": course.local(now), "assignments": assignments, "lates": lates,
        "late_figure": late_figure, "late_alt": late_alt, "quizzes": quizzes, "columns": columns, "rows": rows, "fmt": _fmt,
        "n_students": len(roster_ids) or len(rows), "n_graded": len(all_graded),
        "mean_total": statistics.mean(totals) if totals else 0.0,
        "n_late": sum(x["late"] + x["zero"] for x in lates),
        "late_warnings": late_warnings(course, all_graded),
        # Similar submissions, for review (autograder.similarity: compares the current submissions).
        "similarity": _similarity_section(course, out),
    }


def _similarity_section(course: Course, out: Path) -> dict:
    from autograder.similarity.course import report_section

    return report_section(course, out)


def write_report(course: Course, book: Gradebook, out: Path | None = None, *, now: datetime | None = None) -> Path:
    """Write the class report (default: <course>/reports/class_report.html); return its path."""
    out = Path(out) if out else course.root / "reports" / "class_report.html"
    atomic_write(out, render("course_report.html", **report_context(course, book, out=out, now=now)))
    return out
