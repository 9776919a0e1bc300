"""`deepgrade feedback`: one page per student and assignment, as self-contained HTML and Markdown.

What a student sees follows each check's visibility (Gradescope's semantics):
- ``visible``: name, points, status and the grader's teaching message;
- ``hidden``: only that a hidden test exists; its name, score and message are withheld;
- ``after_due_date`` (and ``after_published``): like hidden until the student's own deadline
  (due date plus extension) has passed, then like visible.
Before the deadline the headline shows only the points of the checks shown, so a withheld
check cannot be inferred from the total.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from autograder.gradebook.course import Course, CourseError
from autograder.gradebook.store import Gradebook, Graded
from autograder.render import render
from autograder.reports import plots
from autograder.reports.material import Material
from autograder.results import atomic_write

MIN_CLASS_FOR_DISTRIBUTION = 5  # fewer graded students: the histogram would reveal classmates' scores
MAX_PRINTED = 2000


@dataclass(frozen=True)
class ShownCheck:
    """One row of a feedback page, after visibility is applied."""

    state: str  # "shown", "hidden" (never shown) or "later" (shown after the deadline)
    name: str
    score: float | None
    max_score: float | None
    passed: bool | None
    message: str
    material: str  # where to review a failed check ("" when passed or unknown)
    material_url: str = ""  # an http(s) link for it, when the course gives one


def visibility_state(visibility: str, now: datetime, deadline: datetime | None) -> str:
    """'shown', 'hidden' or 'later' for a check with this visibility, seen at ``now``."""
    if visibility == "hidden":
        return "hidden"
    if visibility in ("after_due_date", "after_published"):
        return "shown" if deadline is None or now >= deadline else "later"
    return "shown"


def md_code(text: str, indent: str = "") -> str:
    """``text`` as a Markdown fenced code block that nothing inside it can end.

    The fence is longer than any backtick run in the text, and every line is indented like
    the first, so a line cannot fall out of a list item; CR and the like become plain line
    breaks (CommonMark ends a line at CR too). Inside a code block, Markdown renders HTML
    and links as text.
    """
    text = re.sub(r"\r\n?|[\x0b\x0c\x85\u2028\u2029]", "\n", text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    lines = [fence + "text", *text.split("\n"), fence]
    return "\n".join(indent + line for line in lines)


# What can start inline markup: emphasis, code, links and images, raw HTML, entities, GFM
# strikethrough and tables. (Parentheses and ! mean nothing once [ is escaped.)
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>&~|])")


def md_text(text: str) -> str:
    """``text`` shown literally in Markdown prose: punctuation escaped, on one line."""
    return _MD_SPECIAL.sub(r"\\\1", re.sub(r"\s+", " ", text))


def safe_name(text: str) -> str:
    """A student id as a file name: one to one, never merging two ids (``autograder.names``)."""
    from autograder.names import output_name

    return output_name(text)


def _review(material: Material, topic: str, check_id: str, passed: bool) -> tuple[str, str]:
    """(text, url) of where to review a failed check, from the course's [material] (or the defaults)."""
    ref = None if passed else material.pointer(topic, check_id)
    return (ref.text, ref.url) if ref else ("", "")


def feedback_context(course: Course, graded: Graded, *, now: datetime, class_percents: list[float],
                     name: str = "") -> dict:
    """Everything a feedback template shows for one student and assignment."""
    a = course.assignments[graded.topic]
    deadline = course.deadline(graded.student_id, graded.topic)
    rows = []
    for c in graded.result.checks:
        state = visibility_state(c.visibility, now, deadline)
        if state == "shown":
            rows.append(ShownCheck(state, c.name, c.score, c.max_score, c.passed, c.output,
                                   *_review(course.material, graded.topic, c.check_id, c.passed)))
        else:
            rows.append(ShownCheck(state, "hidden test" if state == "hidden" else "shown after the due date",
                                   None, None, None, "", ""))
    withheld = [c for c in graded.result.checks if visibility_state(c.visibility, now, deadline) == "later"]
    hidden = [c for c in graded.result.checks if visibility_state(c.visibility, now, deadline) == "hidden"]
    shown = [c for c in graded.result.checks if visibility_state(c.visibility, now, deadline) == "shown"]
    full = not withheld  # the whole score can be told
    printed = "\n".join(graded.result.output.splitlines()[1:]).strip()  # line 1 is the sandbox mode
    if len(printed) > MAX_PRINTED:
        printed = printed[:MAX_PRINTED] + "\n... (cut)"
    percent = graded.percent
    figure, figure_alt, figure_table, your_bin = "", "", [], ""
    if full and len(class_percents) >= MIN_CLASS_FOR_DISTRIBUTION:
        figure = _histogram(graded.topic, tuple(sorted(round(p, 1) for p in class_percents)), round(percent, 1))
        figure_alt = plots.histogram_alt(f"the class's final scores on {a.title}", class_percents, mark=percent)
        figure_table, your_bin = plots.histogram_table(class_percents), plots.histogram_bin(percent)
    return {
        "course": course, "assignment": a, "graded": graded, "student_name": name, "rows": rows,
        "full": full, "now": course.local(now),
        "deadline": course.local(deadline), "due": course.local(a.due),
        "extension_days": course.extension_days(graded.student_id, graded.topic),
        "submitted": course.local(graded.submitted_at),
        "shown_score": sum(c.score for c in shown), "shown_max": sum(c.max_score for c in shown),
        "n_hidden": len(hidden), "hidden_max": sum(c.max_score for c in hidden),
        "n_later": len(withheld), "later_max": sum(c.max_score for c in withheld),
        "penalty_percent": 100 * graded.penalty, "percent": percent, "policy": a.late.describe(),
        "printed": printed, "figure": figure, "figure_alt": figure_alt, "figure_table": figure_table,
        "your_bin": your_bin,
        "n_failed_shown": sum(1 for r in rows if r.state == "shown" and not r.passed),
        "md_code": md_code, "md_text": md_text,
    }


_HIST_CACHE: dict[tuple, str] = {}


def _histogram(topic: str, percents: tuple[float, ...], mark: float) -> str:
    """A class histogram with this student's mark (cached: many students share a score)."""
    key = (topic, percents, mark)
    if key not in _HIST_CACHE:
        if len(_HIST_CACHE) > 512:
            _HIST_CACHE.clear()
        _HIST_CACHE[key] = plots.score_histogram(percents, mark=mark)
    return _HIST_CACHE[key]


def write_feedback(course: Course, book: Gradebook, *, student: str | None = None, topic: str | None = None,
                   out: Path | None = None, now: datetime | None = None) -> list[Path]:
    """Write <out>/<topic>/<student>.html and .md for every graded (student, topic); return the paths."""
    if topic is not None and topic not in course.assignments:
        raise CourseError(f"{topic!r} is not an assignment of this course ({', '.join(course.topics)})")
    if student is not None and book.student(student) is None:
        raise CourseError(f"no student {student!r} in the gradebook")
    now = now or datetime.now(timezone.utc)
    out = Path(out) if out else course.root / "feedback"
    names = {s.student_id: s.name for s in book.students()}
    written = []
    for t in [topic] if topic else course.topics:
        everyone = book.current(topic=t)
        percents = [g.percent for g in everyone]
        for g in everyone:
            if student is not None and g.student_id != student:
                continue
            ctx = feedback_context(course, g, now=now, class_percents=percents, name=names.get(g.student_id, ""))
            html, md = out / t / f"{safe_name(g.student_id)}.html", out / t / f"{safe_name(g.student_id)}.md"
            atomic_write(html, render("course_feedback.html", **ctx))
            atomic_write(md, render("course_feedback.md.j2", **ctx))
            written += [html, md]
    return written
