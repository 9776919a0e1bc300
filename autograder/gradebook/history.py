"""`deepgrade student <id>`: one student's whole history, as text for the terminal."""

from __future__ import annotations

import json

from autograder.gradebook.course import Course
from autograder.gradebook.store import Gradebook, parse_iso
from autograder.names import printable


def student_history(course: Course, book: Gradebook, student_id: str) -> str | None:
    """Every submission (oldest first), each grading and regrade, late days, quizzes and extensions."""
    student = book.student(student_id)
    if student is None:
        return None
    head = printable(student.student_id) + (f" · {printable(student.name)}" if student.name else "") + \
        (f" · {printable(student.email)}" if student.email else "") + \
        ("" if student.in_roster else "  (not on the roster)")
    lines = [head, "=" * len(head)]
    history = book.history(student_id)
    extensions = {r["topic"]: r for r in book.extensions(student_id)}
    overrides = {o.topic: o for o in book.overrides(student_id)}
    seen = {h["submission"]["topic"] for h in history} | {o.topic for o in book.overrides(student_id)}
    for topic in [*course.topics, *sorted(seen - set(course.topics))]:
        subs = [h for h in history if h["submission"]["topic"] == topic]
        a = course.assignments.get(topic)
        title = f"{a.title} ({topic})" if a and a.title != topic else topic
        due = f"due {course.local(a.due)}" if a and a.due else "no due date"
        ext = extensions.get(topic)
        if ext:
            due += f", extended by {ext['days']:g} day(s) to {course.local(course.deadline(student_id, topic))}"
        lines.append("")
        lines.append(f"{title}: {due}")
        o = overrides.get(topic)
        if o is not None:
            lines.append(f"  score set by staff: {o.score:g}/{o.max_score:g} (counts instead of the graded score) "
                         f"by {printable(o.set_by)} on {course.local(o.set_at)}; reason: {printable(o.reason)}")
        if not subs:
            lines.append("  no submission")
            continue
        for h in subs:
            s = h["submission"]
            late = f"{s['late_days']} late day(s)" if s["late_days"] else "on time"
            source = {"mtime": "file time", "first-seen": "first seen", "none": "no time recorded: never late"}.get(
                s["time_source"], s["time_source"])
            current = "  <- current" if s["is_current"] else ""
            lines.append(f"  submission {s['content_hash'][:8]}  submitted {course.local(parse_iso(s['submitted_at']))}"
                         f" ({source})  {late}{current}")
            if not h["gradings"]:
                lines.append("    not graded yet")
            for i, g in enumerate(h["gradings"]):
                kind = "graded  " if i == 0 else ("regraded" if g["forced"] else "regraded (graders changed)")
                penalty = f", -{100 * g['penalty']:g}% late" if g["penalty"] else ""
                lines.append(f"    {kind} {course.local(parse_iso(g['graded_at']))}  graders {g['grader_version']}"
                             f"  raw {g['raw_score']:g}/{g['max_score']:g}{penalty}  final {g['final_score']:g}")
    quizzes = book.quiz_scores(student_id=student_id)
    if quizzes:
        lines.append("")
        for q in quizzes:
            title = course.quizzes[q["quiz"]].title if q["quiz"] in course.quizzes else q["quiz"]
            lines.append(f"{title}: {q['score']:g}/{q['max_score']:g} (graded "
                         f"{course.local(parse_iso(q['graded_at']))})")
    extra = {k: v for k, v in student.extra.items()}
    if extra:
        lines.append("")
        lines.append("roster: " + printable(json.dumps(extra, sort_keys=True, ensure_ascii=False)))
    return "\n".join(lines)
