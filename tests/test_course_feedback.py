"""Feedback pages respect check visibility; the class report and a feedback page render in Chromium."""

from __future__ import annotations

import base64
import re
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from autograder.gradebook import Gradebook, grade_course, load_course
from autograder.reports.classreport import write_report
from autograder.reports.feedback import write_feedback
from cli import main
from tests.course_helpers import SECRET_HIDDEN, SECRET_LATER, fake_grader, make_course, submit

DUE = datetime(2025, 10, 6, 23, 59, tzinfo=timezone.utc)
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def fake_course(tmp_path):
    """s1 perfect, s2 failing everything failable, s3 failing with a 1-day extension; all submitted 1 h late."""
    root = make_course(tmp_path / "c", ["s1", "s2", "s3"], ["residual"], due={"residual": "2025-10-06T23:59:00Z"},
                       late="percent_per_day = 10\ngrace_minutes = 0\nmax_days = 5",
                       toml_extra="s3 = { residual = 1 }\n")
    (root / "submissions" / "residual" / "manifest.csv").write_text(
        "student_id,submitted_at\ns1,2025-10-07T00:59:00Z\ns2,2025-10-07T00:59:00Z\ns3,2025-10-07T00:59:00Z\n")
    for s in ("s1", "s2", "s3"):
        submit(root, "residual", s)
    course = load_course(root)
    grade_course(course, grader=fake_grader(good={"s1"}))
    return course


def _page(course, student, now):
    with Gradebook.open(course.db_path) as book:
        paths = write_feedback(course, book, student=student, topic="residual", now=now)
    html, md = (p.read_text() for p in paths)
    return html, md


def test_before_the_deadline_hidden_and_after_due_checks_are_withheld(fake_course):
    html, md = _page(fake_course, "s2", DUE - timedelta(hours=1))
    for text in (html, md):
        assert "visible check with a message" in text and "Looks like you forgot the skip path" in text
        assert "Review: Lecture notes week 5, §3.4 The Residual Connection Breakthrough" in re.sub("<[^>]+>", "", text)
        assert SECRET_HIDDEN not in text and "the hidden edge case" not in text and "hidden_edge_case" not in text
        assert SECRET_LATER not in text and "inputs not mutated" not in text and "after_due_inputs" not in text
        assert "hidden test" in text and "shown after the due date" in text
        assert "/ 100" not in text  # the total would reveal the withheld checks
    assert "40 / 70" in html and "on the checks shown so far" in html
    assert "**40 / 70 on the checks shown so far.**" in md


def test_after_the_deadline_after_due_checks_show_and_hidden_stay_hidden(fake_course):
    html, md = _page(fake_course, "s2", DUE + timedelta(days=2))
    for text in (html, md):
        assert SECRET_LATER in text and "inputs not mutated (after due)" in text
        assert SECRET_HIDDEN not in text and "the hidden edge case" not in text
        assert "hidden test" in text and "Late by 1 day" in text and "10% off" in text
    assert "36 / 100" in html and "your checks earned 40 points" in html  # 40 raw, 10% off
    assert "**Score: 36 / 100** (36%)" in md


def test_an_extension_keeps_after_due_checks_withheld_until_the_students_own_deadline(fake_course):
    between = DUE + timedelta(hours=12)  # past the due date, before s3's extended deadline
    html, _ = _page(fake_course, "s3", between)
    assert SECRET_LATER not in html and "shown after the due date" in html and "extension of 1 day" in html
    html, _ = _page(fake_course, "s3", DUE + timedelta(days=1, seconds=1))
    assert SECRET_LATER in html and "Late by" not in html  # 1 h late is within the extension
    perfect, _ = _page(fake_course, "s1", DUE + timedelta(days=3))
    assert "90 / 100" in perfect and "Review:" not in perfect  # nothing failed: no pointers


def test_feedback_cli_filters_and_rejects_unknowns(fake_course):
    root = str(fake_course.root)
    ok = CliRunner().invoke(main, ["feedback", "--course", root, "--topic", "residual"])
    assert ok.exit_code == 0 and "wrote 3 feedback page(s)" in ok.output
    assert sorted(p.name for p in (fake_course.root / "feedback" / "residual").iterdir()) == [
        "s1.html", "s1.md", "s2.html", "s2.md", "s3.html", "s3.md"]
    bad = CliRunner().invoke(main, ["feedback", "--course", root, "--student", "nobody"])
    assert bad.exit_code == 1 and "no student 'nobody'" in bad.output
    bad = CliRunner().invoke(main, ["feedback", "--course", root, "--topic", "clipping"])
    assert bad.exit_code == 1 and "not an assignment" in bad.output


# ---------------------------------------------------------------------------- rendered in a browser


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    """Real grading: five students on residual (past due, one late), and the sample quiz."""
    from quizzes.build import build_quiz
    from quizzes.demo import SAMPLE_SPEC
    from quizzes.simulate import write_responses

    root = tmp_path_factory.mktemp("course") / "c"
    students = ["ada", "ben", "chloe", "dev", "fay"]
    make_course(root, students, ["residual"], due={"residual": "2025-10-06T23:59:00Z"},
                toml_extra='\n[quizzes.week5]\ntitle = "Week 5 quiz"\nkey = "quiz"\nresponses = "responses.csv"\n')
    for s in students:
        submit(root, "residual", s, sample=s if s in ("ben", "chloe", "dev") else None)
    (root / "submissions" / "residual" / "manifest.csv").write_text(
        "student_id,submitted_at\n" + "".join(f"{s},2025-10-06T20:00:00Z\n" for s in students if s != "chloe")
        + "chloe,2025-10-08T09:00:00Z\n")
    built = build_quiz(SAMPLE_SPEC, root / "quiz", roster=root / "roster.csv", formats="key")
    write_responses(built.quiz, root / "responses.csv", seed="test")
    course = load_course(root)
    report = grade_course(course, workers=2, call_timeout=1.0)
    assert len(report.graded) == 5 and report.quizzes == {"week5": 5}
    return course


def test_class_report_content(graded_course):
    with Gradebook.open(graded_course.db_path) as book:
        html = write_report(graded_course, book).read_text()
    images = re.findall(r'<img class="plot"[^>]*src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 4  # histogram, pass rates, lateness, quiz items
    assert all(base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n" for b in images)
    assert "Looks like you forgot the skip path" in html  # ben's misconception, with who hit it
    assert "Week 5 quiz" in html and "Cronbach" in html and "quiz_week5/report.html" in html
    assert (graded_course.root / "reports" / "quiz_week5" / "report.html").exists()


def _screenshot(page: Path, png: Path, tmp_path: Path, size: str = "1200,1600") -> np.ndarray:
    """Chromium's screenshot of ``page`` as an (H, W, 3) array of floats in [0, 1]."""
    import matplotlib.image as mpimg

    profile = tmp_path / f"chromium-{png.stem}"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={size}",
                    page.resolve().as_uri()], capture_output=True, timeout=90, check=False)
    assert png.exists() and png.stat().st_size > 10_000, f"no screenshot of {page}"
    return mpimg.imread(str(png))[..., :3]


def _share_near(pixels, hex_color: str, tol: float = 0.08) -> float:
    target = np.array([int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    return float((np.abs(pixels - target).max(axis=-1) < tol).mean())


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (.ci/run installs it)")
def test_report_and_feedback_render_in_chromium(graded_course, tmp_path):
    with Gradebook.open(graded_course.db_path) as book:
        report = write_report(graded_course, book, tmp_path / "report.html")
        pages = write_feedback(graded_course, book, student="chloe", out=tmp_path / "feedback")
    feedback = next(p for p in pages if p.suffix == ".html")

    for page, plot_color in ((report, "#2557a7"), (feedback, "#9db3da")):
        pixels = _screenshot(page, tmp_path / f"{page.stem}.png", tmp_path)
        assert pixels.std() > 0.05, f"{page.name} rendered blank"
        background = np.abs(pixels - pixels.reshape(-1, 3).mean(axis=0)).max(axis=-1) > 0.1
        assert background.mean() > 0.05, f"{page.name} is almost empty"
        assert _share_near(pixels, plot_color) > 0.002, f"no plot visible in {page.name}"
    text = feedback.read_text()
    assert "Late by 2 days" in text and "Review:" in text and "data:image/png;base64," in text
