"""deepgrade in a real nbgrader course: export, generate_assignment, grade, nbgrader export."""

from __future__ import annotations

import copy
import csv
import re
import shutil
import subprocess
import sys

import nbformat
import pytest
from click.testing import CliRunner

from autograder.grading import grade_jobs, jobs_for_folder
from autograder.interop.nbgrader import check_owners, function_points
from autograder.notebooks import answered_notebook, release_notebook
from cli import main
from tests.conftest import SAMPLES, SOLUTIONS

pytest.importorskip("nbgrader")
TOPIC = "activations"
STUDENTS = {"ada": SOLUTIONS / f"{TOPIC}.py", "ben": SAMPLES / "ben" / f"{TOPIC}.py",
            "chloe": SAMPLES / "chloe" / f"{TOPIC}.py"}
NBGRADER = [sys.executable, "-m", "nbgrader"]


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> dict:
    """One course for every test: exported, generated, collected, graded, exported again."""
    root = tmp_path_factory.mktemp("course")
    (root / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.course_id = "dl101"\n')
    runner = CliRunner()
    result = runner.invoke(main, ["nbgrader", "export", TOPIC, "--course", str(root)])
    assert result.exit_code == 0, result.output
    gen = subprocess.run([*NBGRADER, "generate_assignment", TOPIC], cwd=root, capture_output=True, text=True)
    assert gen.returncode == 0, gen.stdout + gen.stderr
    released = nbformat.read(str(root / "release" / TOPIC / f"{TOPIC}.ipynb"), as_version=4)
    # Where `nbgrader collect` puts submissions: submitted/<student>/<topic>/, with timestamp.txt.
    for student, path in STUDENTS.items():
        folder = root / "submitted" / student / TOPIC
        folder.mkdir(parents=True)
        nbformat.write(answered_notebook(released, path.read_text()), str(folder / f"{TOPIC}.ipynb"))
        (folder / "timestamp.txt").write_text("2026-11-20 10:00:00.000000 UTC")
    # A student whose notebook would leave a mark if nbgrader's kernel ever ran it.
    marker = copy.deepcopy(released)
    marker.cells.append(nbformat.v4.new_code_cell("open('kernel_ran_here.txt', 'w').write('x')\nprint('ran in sandbox')"))
    (root / "submitted" / "dan" / TOPIC).mkdir(parents=True)
    nbformat.write(marker, str(root / "submitted" / "dan" / TOPIC / f"{TOPIC}.ipynb"))
    result = runner.invoke(main, ["nbgrader", "grade", TOPIC, "--course", str(root), "--workers", "2"])
    assert result.exit_code == 0, result.output
    exported = subprocess.run([*NBGRADER, "export"], cwd=root, capture_output=True, text=True)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    with open(root / "grades.csv") as fh:
        grades = {row["student_id"]: row for row in csv.DictReader(fh)}
    return {"root": root, "released": released, "grades": grades, "grade_output": result.output}


def test_source_notebook_has_nbgrader_metadata_and_deepgrades_points(course):
    from nbgrader.nbgraderformat import MetadataValidator

    nb = nbformat.read(str(course["root"] / "source" / TOPIC / f"{TOPIC}.ipynb"), as_version=4)
    MetadataValidator().validate_nb(nb)
    meta = [c.metadata["nbgrader"] for c in nb.cells if "nbgrader" in c.metadata]
    assert {m["schema_version"] for m in meta} == {3}
    solutions = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert all("### BEGIN SOLUTION" in c.source and "### END SOLUTION" in c.source for c in solutions)
    assert [c.metadata["nbgrader"]["grade_id"] for c in solutions] == \
        [c.metadata["deepgrade"]["name"] for c in release_notebook(TOPIC).cells
         if c.metadata["deepgrade"]["role"] == "function"]
    points = {m["grade_id"].removeprefix("test_"): m["points"] for m in meta if m["grade"]}
    assert points == function_points(TOPIC) and sum(points.values()) == 100
    assert set(check_owners(TOPIC).values()) <= set(points)


def _stub_text(source: str) -> str:
    """A function cell with nbgrader's placeholder or deepgrade's, written the same way."""
    source = re.sub(r"^\s*# YOUR CODE HERE\n", "", source, flags=re.M)
    return re.sub(r"raise NotImplementedError\(.*\)", "raise NotImplementedError()", source)


def test_generate_assignment_gives_students_the_same_stubs_as_deepgrade_release(course):
    ours = {c.metadata["deepgrade"].get("name") or c.metadata["deepgrade"]["role"]: c.source
            for c in release_notebook(TOPIC).cells if c.metadata["deepgrade"]["role"] in ("function", "setup")}
    theirs = {c.metadata["deepgrade"].get("name") or c.metadata["deepgrade"]["role"]: c.source
              for c in course["released"].cells if c.metadata["deepgrade"]["role"] in ("function", "setup")}
    assert list(theirs) == list(ours)
    for name in ours:
        assert _stub_text(theirs[name]) == _stub_text(ours[name]), name
    assert not any("BEGIN SOLUTION" in c.source for c in course["released"].cells)


def test_nbgrader_export_shows_the_totals_deepgrade_computed(course, tmp_path):
    # The same answers as plain .py files, graded the ordinary way.
    for student, path in STUDENTS.items():
        (tmp_path / student).mkdir()
        shutil.copy(path, tmp_path / student / f"{TOPIC}.py")
    direct = {r.student_id: r.score for r in grade_jobs(jobs_for_folder(tmp_path, [TOPIC]), workers=2)}
    assert direct["ada"] == 100 and direct["ben"] < 100
    grades = course["grades"]
    for student, score in direct.items():
        assert float(grades[student]["raw_score"]) == pytest.approx(score), student
        assert float(grades[student]["max_score"]) == 100
        assert grades[student]["timestamp"].startswith("2026-11-20 10:00:00")
    assert float(grades["dan"]["raw_score"]) == 0  # the released notebook, unanswered
    for student, score in direct.items():
        assert re.search(rf"^{student}\s+{score:g} / 100$", course["grade_output"], re.M), course["grade_output"]


def test_student_code_never_runs_in_nbgraders_kernel_and_formgrader_gets_feedback(course):
    root = course["root"]
    assert not list(root.rglob("kernel_ran_here.txt"))
    dan = nbformat.read(str(root / "autograded" / "dan" / TOPIC / f"{TOPIC}.ipynb"), as_version=4)
    assert (root / "autograded" / "dan" / TOPIC / "results.json").exists()
    ben = nbformat.read(str(root / "autograded" / "ben" / TOPIC / f"{TOPIC}.ipynb"), as_version=4)
    feedback = [c.outputs[0]["text"] for c in ben.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert any("FAILED" in text for text in feedback) and all(text.startswith("deepgrade") for text in feedback)
    assert "ran in sandbox" in (root / "autograded" / "dan" / TOPIC / "results.json").read_text()
    assert dan.cells[-1].source.startswith("open(")


def test_grading_before_generate_assignment_says_what_to_run(tmp_path):
    result = CliRunner().invoke(main, ["nbgrader", "grade", TOPIC, "--course", str(tmp_path)])
    assert result.exit_code != 0 and "nbgrader generate_assignment activations" in result.output
