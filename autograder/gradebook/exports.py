"""The gradebook out: one row per student, a column per assignment and quiz, weighted totals.

Formats:
- ``csv``: student_id, name, email, one column per assignment/quiz (final points), total_points,
  max_points, weighted_percent;
- ``canvas``: Canvas's gradebook import layout: Student, ID, SIS User ID, SIS Login ID, Section,
  one column per assignment, and a "Points Possible" second row (new columns become new
  assignments; Canvas matches students by ID, SIS User ID or SIS Login ID);
- ``moodle``: Moodle's grade import layout (the same as its own export): First name, Last name,
  ID number, Institution, Department, Email address, one column per grade item; map users
  by "ID number" (useridnumber) or "Email address" (useremail) in the import form;
- ``json``: everything, nested, including raw scores and late days.

A student with no graded submission has an empty cell (an LMS import then leaves the grade
alone); totals count it as zero. Canvas and Moodle files leave out items nothing was graded
for yet (their points possible are not known).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from autograder.gradebook.course import Course
from autograder.gradebook.store import Gradebook, Graded, Override, Student
from autograder.names import printable
from autograder.results import atomic_write, csv_text

FORMATS = ("csv", "canvas", "moodle", "json")
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_COLUMNS = ["First name", "Last name", "ID number", "Institution", "Department", "Email address"]


@dataclass(frozen=True)
class Column:
    """One graded item: an assignment (topic) or a quiz."""

    key: str
    title: str
    kind: str  # "assignment" or "quiz"
    possible: float  # points the column is out of (after scaling)
    weight: float


@dataclass
class Row:
    """One student's line of the gradebook."""

    student: Student
    cells: dict[str, float | None] = field(default_factory=dict)  # column key -> points (None: nothing graded)
    detail: dict[str, dict] = field(default_factory=dict)  # column key -> raw score, late days, ...

    def total_points(self, columns: list[Column]) -> float:
        return round(sum(self.cells.get(c.key) or 0.0 for c in columns), 4)

    def weighted_percent(self, columns: list[Column]) -> float:
        weighted = [(c.weight, (self.cells.get(c.key) or 0.0) / c.possible) for c in columns if c.possible > 0]
        total_weight = sum(w for w, _ in weighted)
        return round(100.0 * sum(w * f for w, f in weighted) / total_weight, 2) if total_weight else 0.0


def gradebook_table(course: Course, book: Gradebook) -> tuple[list[Column], list[Row]]:
    """Columns (assignments, then quizzes) and one row per student, in student id order."""
    current = book.current()  # staff overrides already applied to the counted scores
    by_cell: dict[tuple[str, str], Graded] = {(g.student_id, g.topic): g for g in current}
    # An override can stand where nothing was graded (a lost upload, an exemption): it still counts.
    lone = {(o.student_id, o.topic): o for o in book.overrides() if (o.student_id, o.topic) not in by_cell}
    columns = []
    for topic, a in course.assignments.items():
        maxima = [g.max_score for g in current if g.topic == topic] + \
            [o.max_score for o in lone.values() if o.topic == topic]
        graders_max = max(maxima) if maxima else 0.0
        columns.append(Column(topic, a.title, "assignment", a.points or graders_max, a.weight))
    quiz_rows = {(r["student_id"], r["quiz"]): r for r in book.quiz_scores()}
    for name, q in course.quizzes.items():
        maxima = [r["max_score"] for (sid, quiz), r in quiz_rows.items() if quiz == name]
        columns.append(Column(name, q.title, "quiz", q.points or (max(maxima) if maxima else 0.0), q.weight))
    rows = []
    for student in book.students():
        row = Row(student)
        for col in columns:
            if col.kind == "assignment":
                g = by_cell.get((student.student_id, col.key))
                o = lone.get((student.student_id, col.key))
                if g is None and o is not None:
                    row.cells[col.key] = round(o.score * col.possible / o.max_score, 4) if o.max_score else 0.0
                    row.detail[col.key] = {"override": _override_detail(o)}
                    continue
                if g is None:
                    row.cells[col.key] = None
                    continue
                scale = col.possible / g.max_score if g.max_score else 0.0
                row.cells[col.key] = round(g.final_score * scale, 4)
                row.detail[col.key] = {
                    "raw_score": g.raw_score, "max_score": g.max_score, "final_score": g.final_score,
                    "late_days": g.late_days, "penalty_percent": round(100 * g.penalty, 2),
                    "submitted_at": g.submitted_at.isoformat(), "time_source": g.time_source,
                    "graded_at": g.graded_at.isoformat(), "grader_version": g.grader_version,
                    "gradings": g.gradings,
                }
                if g.override is not None:
                    row.detail[col.key]["override"] = _override_detail(g.override)
            else:
                r = quiz_rows.get((student.student_id, col.key))
                if r is None:
                    row.cells[col.key] = None
                    continue
                scale = col.possible / r["max_score"] if r["max_score"] else 0.0
                row.cells[col.key] = round(r["score"] * scale, 4)
                row.detail[col.key] = {"raw_score": r["score"], "max_score": r["max_score"],
                                       "graded_at": r["graded_at"]}
        rows.append(row)
    return columns, rows


def _override_detail(o: Override) -> dict:
    return {"score": o.score, "max_score": o.max_score, "reason": o.reason, "set_by": o.set_by,
            "set_at": o.set_at.isoformat()}


def _num(x: float | None) -> str:
    if x is None:
        return ""
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def _split_name(student: Student) -> tuple[str, str]:
    first, last = student.extra.get("first_name", ""), student.extra.get("last_name", "")
    if first or last:
        return first, last
    parts = student.name.rsplit(" ", 1)
    return (parts[0], parts[1]) if len(parts) == 2 else (student.name, "")


def _csv(header: list[str], rows: list[list[str]]) -> str:
    """Text cells starting with = + - @ tab or CR are neutralized (``results.csv_cell``); numbers never."""
    return csv_text(header, rows, lineterminator="\n")


def to_csv(columns: list[Column], rows: list[Row]) -> str:
    header = ["student_id", "name", "email", *(c.key for c in columns), "total_points", "max_points",
              "weighted_percent"]
    max_points = _num(sum(c.possible for c in columns))
    return _csv(header, [[r.student.student_id, r.student.name, r.student.email,
                          *(_num(r.cells.get(c.key)) for c in columns), _num(r.total_points(columns)), max_points,
                          _num(r.weighted_percent(columns))] for r in rows])


def _gradable(columns: list[Column]) -> list[Column]:
    """Columns an LMS can import: nothing graded yet means no points possible, so no column."""
    return [c for c in columns if c.possible > 0]


def to_canvas(columns: list[Column], rows: list[Row]) -> str:
    columns = _gradable(columns)
    header = [*CANVAS_COLUMNS, *(c.title for c in columns)]
    # Canvas's own export puts the points possible in the second row; its import reads it back.
    possible = ["    Points Possible", "", "", "", "", *(_num(c.possible) for c in columns)]
    lines = [possible]
    for r in rows:
        first, last = _split_name(r.student)
        sortable = f"{last}, {first}" if last else first or r.student.student_id
        extra = r.student.extra
        lines.append([sortable, extra.get("canvas_id", ""), r.student.student_id,
                      extra.get("sis_login_id", extra.get("login", "")), extra.get("section", ""),
                      *(_num(r.cells.get(c.key)) for c in columns)])
    return _csv(header, lines)


def to_moodle(columns: list[Column], rows: list[Row]) -> str:
    columns = _gradable(columns)
    header = [*MOODLE_COLUMNS, *(c.title for c in columns)]
    lines = []
    for r in rows:
        first, last = _split_name(r.student)
        extra = r.student.extra
        lines.append([first, last, r.student.student_id, extra.get("institution", ""),
                      extra.get("department", ""), r.student.email, *(_num(r.cells.get(c.key)) for c in columns)])
    return _csv(header, lines)


def to_json(course: Course, columns: list[Column], rows: list[Row]) -> str:
    data = {
        "course": course.name,
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "columns": [{"key": c.key, "title": c.title, "kind": c.kind, "points_possible": c.possible,
                     "weight": c.weight,
                     "due": (course.assignments[c.key].due.isoformat()
                             if c.kind == "assignment" and course.assignments[c.key].due else None)}
                    for c in columns],
        "students": [{"student_id": r.student.student_id, "name": r.student.name, "email": r.student.email,
                      "on_roster": r.student.in_roster,
                      "scores": {c.key: r.cells.get(c.key) for c in columns},
                      "detail": r.detail,
                      "total_points": r.total_points(columns),
                      "weighted_percent": r.weighted_percent(columns)} for r in rows],
    }
    return json.dumps(data, indent=2) + "\n"


def export(course: Course, book: Gradebook, fmt: str, out: Path | None = None) -> Path:
    """Write the gradebook in ``fmt`` (csv, canvas, moodle, json); return the file written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    columns, rows = gradebook_table(course, book)
    text = {"csv": lambda: to_csv(columns, rows), "canvas": lambda: to_canvas(columns, rows),
            "moodle": lambda: to_moodle(columns, rows), "json": lambda: to_json(course, columns, rows)}[fmt]()
    out = Path(out) if out else course.root / "exports" / f"grades_{fmt}.{'json' if fmt == 'json' else 'csv'}"
    atomic_write(out, text)
    return out


def text_table(course: Course, book: Gradebook) -> str:
    """The terminal's view: final points per student and item (``*``: late), then the weighted total."""
    columns, rows = gradebook_table(course, book)
    shown = {r.student.student_id: printable(r.student.student_id) for r in rows}  # ids may hold escapes
    width = max([len("student"), *map(len, shown.values())])
    widths = [max(len(c.key), 7) for c in columns]
    head = "student".ljust(width) + "  " + "  ".join(c.key.rjust(w) for c, w in zip(columns, widths)) + "    total"
    lines = [head, "-" * len(head)]
    for r in rows:
        cells = []
        for c, w in zip(columns, widths):
            value = r.cells.get(c.key)
            detail = r.detail.get(c.key, {})
            late = "!" if "override" in detail else "*" if detail.get("late_days") else " "
            cells.append(("-" if value is None else f"{value:g}{late}").rjust(w))
        lines.append(shown[r.student.student_id].ljust(width) + "  " + "  ".join(cells)
                     + f"   {r.weighted_percent(columns):5.1f}%")
    if any(r.detail.get(c.key, {}).get("late_days") for r in rows for c in columns):
        lines.append("(* late: the late penalty is applied)")
    if any("override" in r.detail.get(c.key, {}) for r in rows for c in columns):
        lines.append("(! score set by staff: see `deepgrade student <id>`)")
    return "\n".join(lines)
