"""Every plot has a descriptive alt text and the numbers behind it in a table (class report, feedback, quiz report)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from autograder.gradebook import Gradebook, grade_course, load_course
from autograder.reports import plots
from autograder.reports.classreport import write_report
from autograder.reports.feedback import write_feedback
from tests.course_helpers import fake_grader, make_course, submit

STUDENTS = ["s1", "s2", "s3", "s4", "s5", "s6"]


def test_histogram_table_counts_what_the_histogram_draws() -> None:
    percents = [0, 9.99, 10, 35, 35.5, 89.9, 90, 99.5, 100, 100, 120, -5]
    drawn, _ = np.histogram(np.clip(percents, 0, 100), bins=[10 * i for i in range(11)])  # matplotlib's bins
    assert [n for _, n in plots.histogram_table(percents)] == drawn.tolist()
    assert plots.histogram_bin(100) == "90–100%" and plots.histogram_bin(10) == "10–20%"
    alt = plots.histogram_alt("final scores on Clipping", [50, 55, 90], mark=55)
    assert "3 students" in alt and "mean 65%" in alt and "50–60% (2 students)" in alt and "55%" in alt


class _Tables(HTMLParser):
    """The alt texts of the page's images, and each <details class="plot-data"> table as rows of cell text."""

    def __init__(self) -> None:
        super().__init__()
        self.alts: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._in_details = self._cell = False
        self._row: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "img":
            self.alts.append(a.get("alt") or "")
        elif tag == "details" and "plot-data" in (a.get("class") or ""):
            self._in_details = True
            self.tables.append([])
        elif self._in_details and tag == "tr":
            self._row = []
        elif self._in_details and tag in ("td", "th"):
            self._cell = True
            self._row.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "details":
            self._in_details = False
        elif self._in_details and tag == "tr":
            self.tables[-1].append(self._row)
        elif tag in ("td", "th"):
            self._cell = False

    def handle_data(self, data: str) -> None:
        if self._cell:
            self._row[-1] += data.strip()


def _parse(html: str) -> _Tables:
    p = _Tables()
    p.feed(html)
    return p


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """Six students on residual: three pass every check, three fail the failable ones."""
    root = make_course(tmp_path_factory.mktemp("plots") / "c", STUDENTS, ["residual"],
                       due={"residual": "2025-10-06T23:59:00Z"})
    for s in STUDENTS:
        submit(root, "residual", s)
    course = load_course(root)
    grade_course(course, grader=fake_grader(good={"s1", "s2", "s3"}))
    return course


def test_class_report_plots_have_alt_text_and_their_numbers(course, tmp_path: Path) -> None:
    with Gradebook.open(course.db_path) as book:
        html = write_report(course, book, tmp_path / "report.html").read_text()
        graded = book.current(topic="residual")
    page = _parse(html)
    assert len(page.alts) >= 3 and all(len(alt) > 60 for alt in page.alts), page.alts  # descriptive, not a label
    assert any(alt.startswith("Histogram of final scores on") and "6 students" in alt for alt in page.alts)
    histogram, rates = page.tables[0], page.tables[1]
    counts = {row[0]: int(row[1]) for row in histogram[1:]}
    assert sum(counts.values()) == 6
    assert counts == dict(plots.histogram_table([g.percent for g in graded]))
    checks = graded[0].result.checks
    assert [row[0] for row in rates[1:]] == [c.check_id for c in checks]
    for row, check in zip(rates[1:], checks):
        passed = sum(1 for g in graded for c in g.result.checks if c.check_id == check.check_id and c.passed)
        assert (int(row[2]), int(row[3]), row[4]) == (passed, 6, f"{100 * passed / 6:.0f}%")
    # the lateness plot's numbers are the Lateness table, named by its caption
    assert "Submissions per assignment: on time" in html


def test_feedback_plot_has_alt_text_and_marks_the_student_in_its_table(course, tmp_path: Path) -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)  # after the due date: the whole score (and the plot) shown
    with Gradebook.open(course.db_path) as book:
        paths = write_feedback(course, book, student="s4", topic="residual", now=now, out=tmp_path)
        percent = book.current(topic="residual", student_id="s4")[0].percent
    page = _parse(next(p for p in paths if p.suffix == ".html").read_text())
    alt = next(a for a in page.alts if a.startswith("Histogram"))
    assert f"Your score, {percent:.0f}%, is marked" in alt and "6 students" in alt
    table = page.tables[0]
    assert sum(int(r[1]) for r in table[1:]) == 6
    assert [r[0] for r in table[1:] if r[2] == "your score"] == [plots.histogram_bin(percent)]


def test_quiz_report_plots_have_alt_text_and_their_numbers(tmp_path: Path) -> None:
    from quizzes.demo import run_quiz_demo

    run_quiz_demo(tmp_path)
    report = next(tmp_path.rglob("report.html"))
    html = report.read_text()
    page = _parse(html)
    plot_alts = [a for a in page.alts if a]
    assert len(plot_alts) == 3 and all(len(a) > 60 for a in plot_alts), plot_alts
    assert "questions of" in plot_alts[1] and "wrong option" in plot_alts[2]
    n_students = int(re.search(r"(\d+) students ·", html).group(1))
    assert f"for {n_students} students" in plot_alts[0]
    assert sum(int(r[1]) for r in page.tables[0][1:]) == n_students
