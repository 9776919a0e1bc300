"""The gradebook: init, schema migrations, grading what is new, --force, history, exports."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from autograder.gradebook import Gradebook, grade_course, load_course
from autograder.gradebook.exports import CANVAS_COLUMNS, MOODLE_COLUMNS, export
from autograder.gradebook.schema import MIGRATIONS, SCHEMA_VERSION, SchemaError, connect, migrate
from cli import main
from tests.course_helpers import fake_grader, make_course, submit


def test_init_scaffolds_a_course_that_loads(tmp_path):
    root = tmp_path / "term"
    result = CliRunner().invoke(main, ["init", str(root), "--topics", "residual,clipping", "--name", "DL 2025",
                                       "--timezone", "Europe/Berlin"])
    assert result.exit_code == 0, result.output
    course = load_course(root)
    assert course.name == "DL 2025" and course.topics == ["residual", "clipping"]
    assert course.assignments["residual"].due < course.assignments["clipping"].due
    assert course.assignments["residual"].due.tzinfo is not None and course.late.grace_minutes == 15
    assert (root / "roster.csv").read_text().startswith("student_id,name,email")
    assert (root / "submissions" / "residual" / "s1001").is_dir()
    again = CliRunner().invoke(main, ["init", str(root)])
    assert again.exit_code == 1 and "already exists" in again.output


def test_course_commands_explain_a_missing_course(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for args in (["report"], ["export"], ["feedback"], ["student", "x"], ["grade", "--course", str(tmp_path)]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1 and "deepgrade init" in result.output, (args, result.output)
    legacy = CliRunner().invoke(main, ["grade", "residual"])
    assert legacy.exit_code == 2 and "SUBMISSIONS" in legacy.output


def test_schema_migrates_forward_keeping_data_and_refuses_newer(tmp_path):
    path = tmp_path / "gb.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, path, target=1)  # a gradebook from the first release
    conn.execute("INSERT INTO students (student_id, name) VALUES ('s1', 'Ada')")
    conn.close()
    conn = connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
    assert conn.execute("SELECT name FROM students").fetchone()[0] == "Ada"
    assert conn.execute("SELECT COUNT(*) FROM quiz_items").fetchone()[0] == 0
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaError, match="newer than this deepgrade"):
        connect(path)


def test_regrade_only_what_changed_and_force(tmp_path):
    """Real grading: the reference and a buggy student on the fastest topic."""
    root = make_course(tmp_path / "c", ["ada", "ben", "zoe"], ["residual"])
    submit(root, "residual", "ada")
    ben = submit(root, "residual", "ben", sample="ben")
    course = load_course(root)  # zoe's folder is empty: not a submission

    first = grade_course(course, workers=1, call_timeout=1.0)
    assert sorted(r.student_id for r in first.graded) == ["ada", "ben"] and first.skipped == 0
    again = grade_course(course, workers=1)
    assert again.graded == [] and again.skipped == 2 and again.run_id is None

    ben.write_text(ben.read_text() + "\n# resubmitted\n")  # new content: a new submission
    third = grade_course(course, workers=1, call_timeout=1.0)
    assert [r.student_id for r in third.graded] == ["ben"] and third.skipped == 1

    forced = grade_course(course, workers=1, call_timeout=1.0, force=True)
    assert sorted(r.student_id for r in forced.graded) == ["ada", "ben"]
    with Gradebook.open(course.db_path) as book:
        current = {g.student_id: g for g in book.current()}
        assert current["ada"].final_score == 100 and current["ben"].final_score < 100
        assert current["ada"].gradings == 2 and current["ben"].gradings == 2
        assert book.counts()["submissions"] == 3 and book.counts()["gradings"] == 5
        assert [r["status"] for r in book.runs()] == ["finished"] * 3
        assert current["ben"].result.check("backward_dx").status == "failed"

    history = CliRunner().invoke(main, ["student", "ben", "--course", str(root)])
    assert history.exit_code == 0, history.output
    lines = history.output.splitlines()
    assert sum("submission " in line for line in lines) == 2 and sum("<- current" in line for line in lines) == 1
    assert sum(line.strip().startswith("regraded") for line in lines) == 1
    assert "Ben Tester" in lines[0]


def test_grade_course_cli_prints_the_gradebook(tmp_path, monkeypatch):
    root = make_course(tmp_path / "c", ["ada"], ["residual"])
    submit(root, "residual", "ada")
    submit(root, "residual", "stranger")
    monkeypatch.chdir(root)  # inside a course folder, plain `deepgrade grade` means the course
    result = CliRunner().invoke(main, ["grade", "--workers", "1", "--timeout", "1"])
    assert result.exit_code == 0, result.output
    assert "ada" in result.output and "100" in result.output and "not on the roster: stranger" in result.output
    again = CliRunner().invoke(main, ["grade", "--json"])
    data = json.loads(again.output[again.output.index("{"):])
    assert data["graded"] == 0 and data["skipped"] == 2


# ---------------------------------------------------------------------------- exports


@pytest.fixture
def exported_course(tmp_path):
    root = make_course(tmp_path / "c", ["s1", "s2", "s3"], ["residual", "clipping"],
                       toml_extra='\n[quizzes.week5]\ntitle = "Week 5 quiz"\nkey = "k"\nresponses = "r.csv"\n'
                                  "weight = 2\npoints = 10\n")
    (root / "roster.csv").write_text("student_id,name,email,canvas_id,sis_login_id,section\n"
                                     "s1,Ada Lovelace,ada@x.edu,101,ada,A\n"
                                     "s2,Alan Turing,alan@x.edu,102,alan,B\n"
                                     "s3,Grace Hopper,grace@x.edu,,,\n")
    text = (root / "deepgrade.toml").read_text().replace('title = "Residual"', 'title = "A1: residual"')
    (root / "deepgrade.toml").write_text(text.replace("# points = 10", "points = 10", 1))
    for s in ("s1", "s2"):
        submit(root, "residual", s)
    submit(root, "clipping", "s1")
    course = load_course(root)
    grade_course(course, grader=fake_grader(good={"s1"}))
    with Gradebook.open(course.db_path) as book:
        item = SimpleNamespace(qid="q-a", score=1.0, points=2.0, response="B")
        book.record_quiz("week5", [SimpleNamespace(student_id="s1", score=6.0, max_score=8.0, items=[item])],
                         "hash", ["q-a"])
    return course


def _rows(text):
    return list(csv.reader(io.StringIO(text)))


def test_export_csv_columns_and_weighted_totals(exported_course):
    with Gradebook.open(exported_course.db_path) as book:
        rows = _rows(export(exported_course, book, "csv").read_text())
    assert rows[0] == ["student_id", "name", "email", "residual", "clipping", "week5", "total_points", "max_points",
                       "weighted_percent"]
    s1, s2, s3 = rows[1:]
    # residual scaled to 10 points; s2 failed 60 of 100 raw points; the quiz (6/8) scaled to 10 with weight 2.
    assert s1[:6] == ["s1", "Ada Lovelace", "ada@x.edu", "10", "100", "7.5"]
    assert s1[6:] == ["117.5", "120", str(round(100 * (1 + 1 + 2 * 0.75) / 4, 2)).rstrip("0").rstrip(".")]
    assert s2[3:6] == ["4", "", ""] and s2[8] == "10"
    assert s3[3:] == ["", "", "", "0", "120", "0"]


def test_export_canvas_layout(exported_course):
    with Gradebook.open(exported_course.db_path) as book:
        rows = _rows(export(exported_course, book, "canvas").read_text())
    assert rows[0] == [*CANVAS_COLUMNS, "A1: residual", "Clipping", "Week 5 quiz"]
    assert CANVAS_COLUMNS == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert rows[1] == ["    Points Possible", "", "", "", "", "10", "100", "10"]
    assert rows[2] == ["Lovelace, Ada", "101", "s1", "ada", "A", "10", "100", "7.5"]
    assert rows[4][:5] == ["Hopper, Grace", "", "s3", "", ""]


def test_export_moodle_layout(exported_course):
    with Gradebook.open(exported_course.db_path) as book:
        rows = _rows(export(exported_course, book, "moodle").read_text())
    assert rows[0] == [*MOODLE_COLUMNS, "A1: residual", "Clipping", "Week 5 quiz"]
    assert MOODLE_COLUMNS == ["First name", "Last name", "ID number", "Institution", "Department", "Email address"]
    assert rows[1] == ["Ada", "Lovelace", "s1", "", "", "ada@x.edu", "10", "100", "7.5"]
    assert rows[2][6:] == ["4", "", ""]


def test_export_json_has_details(exported_course, tmp_path):
    result = CliRunner().invoke(main, ["export", "--course", str(exported_course.root), "--format", "json",
                                       "--out", str(tmp_path / "g.json")])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "g.json").read_text())
    assert [c["key"] for c in data["columns"]] == ["residual", "clipping", "week5"]
    assert data["columns"][0]["points_possible"] == 10 and data["columns"][2]["weight"] == 2
    s2 = data["students"][1]
    assert s2["student_id"] == "s2" and s2["scores"] == {"residual": 4.0, "clipping": None, "week5": None}
    assert s2["detail"]["residual"]["raw_score"] == 40 and s2["detail"]["residual"]["late_days"] == 0
    assert {"total_points", "weighted_percent", "on_roster"} <= set(s2)
