"""Course commands as a new user meets them, and the late policy's time source (issue 9 §4, §7).

Bookkeeping tests use the fake grader (instant); the sibling import and `deepgrade check`
run the real sandbox.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from autograder.gradebook import CourseError, Gradebook, grade_course, load_course
from autograder.gradebook.course import read_roster
from cli import main
from tests.conftest import SOLUTIONS
from tests.course_helpers import fake_grader, make_course, submit

PAST_DUE = "2025-10-06 23:59"  # long past: anything submitted now is late


def graded(root: Path, calls: list | None = None):
    course = load_course(root)
    report = grade_course(course, grader=fake_grader(calls))
    with Gradebook.open(course.db_path) as book:
        return report, {(g.student_id, g.topic): g for g in book.current()}


def set_course(root: Path, line: str) -> None:
    toml = root / "deepgrade.toml"
    toml.write_text(toml.read_text().replace('submission_time = "manifest"', line, 1))


# ---------------------------------------------------------------------------- roster and --out


def test_a_roster_row_with_a_trailing_comma_is_read(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name,email\ns1,Ada Lovelace,ada@example.edu,\ns2,Alan Turing,alan@example.edu\n")
    assert [e.student_id for e in read_roster(roster)] == ["s1", "s2"]
    roster.write_text("student_id,name,email\ns1,Ada Lovelace,ada@example.edu,surprise\n")
    with pytest.raises(CourseError, match=r"roster.csv:2: 1 more cell\(s\) than the header"):
        read_roster(roster)


def test_grade_with_a_trailing_comma_roster_grades(tmp_path):
    root = make_course(tmp_path / "c", ["s1"], ["residual"])
    (root / "roster.csv").write_text("student_id,name,email\ns1,Ada Lovelace,ada@example.edu,\n")
    submit(root, "residual", "s1")
    report, rows = graded(root)
    assert ("s1", "residual") in rows and not report.unknown_students


@pytest.mark.parametrize("where", ["file", "under_file"])
def test_grade_out_at_a_file_is_one_clear_line_before_grading(tmp_path, where):
    subs = tmp_path / "subs" / "s1"
    subs.mkdir(parents=True)
    (subs / "activations.py").write_text("X = 1\n")
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    out = blocker if where == "file" else blocker / "graded"
    result = CliRunner().invoke(main, ["grade", "activations", str(tmp_path / "subs"), "--out", str(out)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and str(blocker) in lines[0], result.output
    assert blocker.read_text() == "not a folder"


def test_export_out_at_a_folder_path_is_one_clear_line(tmp_path):
    root = make_course(tmp_path / "c", ["s1"], ["residual"])
    submit(root, "residual", "s1")
    graded(root)
    blocker = tmp_path / "taken"
    blocker.write_text("x")
    result = CliRunner().invoke(main, ["export", "--course", str(root), "--out", str(blocker / "grades.csv")])
    assert result.exit_code == 1 and result.output.startswith("Error: cannot write"), result.output
    assert len(result.output.strip().splitlines()) == 1


# ---------------------------------------------------------------------------- extensions and due dates


def test_an_extension_for_an_id_not_on_the_roster_is_refused_with_the_closest_ids(tmp_path):
    with pytest.raises(CourseError, match=r"\[extensions\]: 's1010' is not on the roster; did you mean .*s1001"):
        make_course(tmp_path / "c", ["s1001", "s1002", "s2001"], ["residual"],
                    toml_extra="s1010 = { residual = 2 }\n")


def test_no_due_date_and_date_only_due_dates_warn_at_grade_and_in_the_report(tmp_path):
    root = make_course(tmp_path / "c", ["s1"], ["residual", "clipping"], due={"clipping": "2025-10-06"})
    toml = root / "deepgrade.toml"
    lines = toml.read_text().splitlines()
    start = lines.index("[assignments.residual]")
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("due = "))
    toml.write_text("\n".join(lines[:end] + lines[end + 1:]) + "\n")  # residual: no due date
    course = load_course(root)
    assert course.assignments["residual"].due is None
    # A date without a time is the start of that day, and says so.
    assert course.assignments["clipping"].due == datetime(2025, 10, 6, 0, 0, tzinfo=timezone.utc)
    runner = CliRunner()
    result = runner.invoke(main, ["grade", "--course", str(root)])  # nothing submitted yet: still warned
    assert result.exit_code == 0, result.output
    assert "warning: [assignments.residual] has no due date: no late penalty" in result.output
    assert ("warning: [assignments.clipping] due date has no time: it means 2025-10-06 00:00 UTC, the start of "
            "that day") in result.output
    result = runner.invoke(main, ["report", "--course", str(root)])
    assert result.exit_code == 0, result.output
    page = (root / "reports" / "class_report.html").read_text()
    assert "has no due date" in page and "the start of that day" in page


# ---------------------------------------------------------------------------- submission times


def test_without_a_manifest_no_late_penalty_is_applied_and_grade_says_so(tmp_path):
    root = make_course(tmp_path / "c", ["s1"], ["residual"], due={"residual": PAST_DUE})
    path = submit(root, "residual", "s1")
    backdated = datetime(2025, 10, 1, tzinfo=timezone.utc).timestamp()
    os.utime(path, (backdated, backdated))  # the student's own claim: five days early
    report, rows = graded(root)
    g = rows[("s1", "residual")]
    assert g.time_source == "none" and g.late_days == 0 and g.final_score == g.raw_score
    assert any("no submission time (no manifest row): no late penalty" in w for w in report.warnings)


def test_a_manifest_wins_over_a_backdated_file(tmp_path):
    root = make_course(tmp_path / "c", ["s1"], ["residual"], due={"residual": PAST_DUE},
                       late="percent_per_day = 10\ngrace_minutes = 0\nmax_days = 20")
    path = submit(root, "residual", "s1")
    backdated = datetime(2025, 10, 1, tzinfo=timezone.utc).timestamp()
    os.utime(path, (backdated, backdated))
    (root / "submissions" / "residual" / "manifest.csv").write_text("student_id,submitted_at\ns1,2025-10-17 23:00\n")
    _, rows = graded(root)
    g = rows[("s1", "residual")]
    assert g.time_source.endswith("manifest.csv") and g.late_days == 11 and g.final_score == 0


@pytest.mark.parametrize("source", ["first-seen", "mtime"])
def test_first_seen_and_file_times_are_opt_in(tmp_path, source):
    root = make_course(tmp_path / "c", ["s1"], ["residual"], due={"residual": PAST_DUE},
                       late="percent_per_day = 10\ngrace_minutes = 0\nmax_days = 1000")
    set_course(root, f'submission_time = "{source}"')
    path = submit(root, "residual", "s1")
    backdated = datetime(2025, 10, 1, tzinfo=timezone.utc).timestamp()
    os.utime(path, (backdated, backdated))
    _, rows = graded(root)
    g = rows[("s1", "residual")]
    assert g.time_source == source
    # first-seen: graded now, long after the due date, so late; mtime: the backdated file is believed.
    assert (g.late_days > 0) == (source == "first-seen")


def test_an_unknown_submission_time_source_is_refused(tmp_path):
    root = make_course(tmp_path / "c", ["s1"], ["residual"])
    set_course(root, 'submission_time = "whenever"')
    with pytest.raises(CourseError, match="submission_time = 'whenever': expected one of 'manifest'"):
        load_course(root)


# ---------------------------------------------------------------------------- sibling topics


def test_a_students_other_topics_come_along_and_count_in_the_hash(tmp_path):
    root = make_course(tmp_path / "c", ["s1"], ["optimizers", "regularization"])
    submit(root, "optimizers", "s1")
    submit(root, "regularization", "s1", "import optimizers\nX = optimizers.SGD\n")
    seen: list = []

    def grader(jobs, **kwargs):
        seen.extend(jobs)
        return fake_grader()(jobs, **kwargs)

    course = load_course(root)
    grade_course(course, grader=grader)
    reg = next(j for j in seen if j.topic == "regularization")
    assert reg.files["optimizers.py"] == (SOLUTIONS / "optimizers.py").read_bytes()
    assert reg.files["regularization.py"].startswith(b"import optimizers")
    opt = next(j for j in seen if j.topic == "optimizers")
    assert "regularization.py" not in opt.files or opt.files["regularization.py"].startswith(b"import optimizers")
    seen.clear()
    assert grade_course(course, grader=grader).skipped == 2 and not seen
    # The student fixes optimizers.py: regularization, which imports it, is graded again too.
    (root / "submissions" / "optimizers" / "s1" / "optimizers.py").write_text("SGD = 1\n")
    report = grade_course(course, grader=grader)
    assert sorted(j.topic for j in seen) == ["optimizers", "regularization"] and report.skipped == 0


@pytest.mark.slow
def test_a_sibling_topic_import_works_in_a_real_course_grading(tmp_path):
    root = make_course(tmp_path / "c", ["s1"], ["optimizers", "regularization"])
    submit(root, "optimizers", "s1")
    submit(root, "regularization", "s1", (SOLUTIONS / "regularization.py").read_text()
           + "\nimport optimizers  # the student's own, from the other topic\n")
    course = load_course(root)
    report = grade_course(course, ["regularization"], workers=1)
    [result] = report.graded
    assert "No module named" not in json.dumps(result.to_dict())
    assert result.score == result.max_score > 0, result.failures_text()


# ---------------------------------------------------------------------------- deepgrade check


def _check(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    deepgrade = Path(sys.executable).parent / "deepgrade"
    return subprocess.run([str(deepgrade), "check", *args], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)


@pytest.mark.slow
def test_check_runs_in_the_sandbox_with_time_limits(tmp_path):
    source = (SOLUTIONS / "activations.py").read_text().replace("def sigmoid(z", "def _reference_sigmoid(z", 1)
    (tmp_path / "activations.py").write_text(source + "\n\ndef sigmoid(z):\n    while True:\n        pass\n")
    done = _check(tmp_path, "activations", "activations.py", "--timeout", "1")
    assert done.returncode == 1
    assert "sigmoid(...) did not finish within 1 s" in done.stdout
    assert "3 passed" in done.stdout


@pytest.mark.slow
def test_check_accepts_a_notebook(tmp_path):
    import nbformat

    from autograder.notebooks import notebook_from_source

    nb = notebook_from_source((SOLUTIONS / "activations.py").read_text())
    nb.cells.append(nbformat.v4.new_code_cell("%matplotlib inline\nprint('hello from the notebook')"))
    nbformat.write(nb, str(tmp_path / "activations.ipynb"))
    done = _check(tmp_path, "activations")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 passed" in done.stdout and "hello from the notebook" in done.stdout


def test_check_refuses_a_linked_file_in_one_line(tmp_path):
    (tmp_path / "activations.py").symlink_to(SOLUTIONS / "activations.py")
    result = CliRunner().invoke(main, ["check", "activations", str(tmp_path / "activations.py")])
    assert result.exit_code == 1 and "symbolic link" in result.output
    assert len(result.output.strip().splitlines()) == 1
