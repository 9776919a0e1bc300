"""deepgrade inside an nbgrader course.

``export`` writes ``source/<topic>/<topic>.ipynb`` for ``nbgrader generate_assignment``:
the instructions, one solution cell per function or class (the reference body between
``### BEGIN SOLUTION`` / ``### END SOLUTION``), and one autograder-tests cell per function
holding its public tests and worth the points deepgrade's hidden checks give it.

``grade`` grades what ``nbgrader collect`` put in ``submitted/<student>/<topic>/`` with
deepgrade's graders and sandbox (never in nbgrader's kernel), and writes the points into
nbgrader's gradebook with nbgrader's own API, so ``nbgrader export`` and formgrader show
them. The autograded notebook it leaves for formgrader has each tests cell's output
replaced by deepgrade's feedback for that function.

Points per function follow one documented rule (``owner_of``): a check belongs to the
function or class its name contains, else to the only one it calls on ``submission``,
else to a ``general`` tests cell. Each cell is worth the sum of its checks' points.
"""

from __future__ import annotations

import ast
import glob
import re
import shutil
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.grading import GRADERS_DIR, Job, grade_jobs, read_student_files
from autograder.notebooks import (
    GENERAL,
    KERNELSPEC,
    Part,
    assignment_parts,
    deepgrade_metadata,
    owner_of,
    public_names,
    write_notebook,
)
from autograder.results import SubmissionResult, write_results_json

SCHEMA_VERSION = 3


class NbgraderError(RuntimeError):
    """The course is not in a state deepgrade can work with (the message says what to run)."""


# ---------------------------------------------------------------------------- points per function


def check_owners(topic: str) -> dict[str, str]:
    """check id -> the function or class it grades (or ``general``), from the graders' source."""
    names = public_names(topic)
    tree = ast.parse((GRADERS_DIR / f"test_{topic}.py").read_text())
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    direct: dict[str, set[str]] = {}  # function -> submission attributes it touches itself
    calls: dict[str, set[str]] = {}  # function -> module functions (helpers, fixtures) it relies on
    for name, node in functions.items():
        direct[name] = {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
                        and isinstance(n.value, ast.Name) and n.value.id == "submission"}
        # names looked up as strings (getattr(submission, name) over a table) count as used too
        direct[name] |= {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {a.arg for a in node.args.args}
        calls[name] = (used & functions.keys()) - {name}

    def reached(name: str, seen: set[str]) -> set[str]:
        seen.add(name)
        found = set(direct[name])
        for helper in calls[name] - seen:
            found |= reached(helper, seen)
        return found

    return {name.removeprefix("test_"): owner_of(name.removeprefix("test_"), reached(name, set()), names)
            for name in functions if name.startswith("test_")}


def owner_scores(result: SubmissionResult, owners: dict[str, str]) -> dict[str, tuple[float, float]]:
    """owner -> (score, max score) of one result."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for check in result.checks:
        total = totals[owners.get(check.check_id, GENERAL)]
        total[0] += check.score
        total[1] += check.max_score
    return {k: (round(v[0], 6), round(v[1], 6)) for k, v in totals.items()}


def function_points(topic: str) -> dict[str, float]:
    """Points per function, class and ``general``: what the graders give the reference, grouped."""
    from autograder.build import SOLUTIONS

    reference = Job("reference", topic, {f"{topic}.py": (SOLUTIONS / f"{topic}.py").read_bytes()})
    (result,) = grade_jobs([reference], workers=1)
    points = {owner: max_score for owner, (_, max_score) in owner_scores(result, check_owners(topic)).items()}
    if result.score != result.max_score:
        raise NbgraderError(f"the reference scores {result.score:g}/{result.max_score:g} on {topic}; "
                            "fix the graders before exporting")
    return points


# ---------------------------------------------------------------------------- export


def _nbgrader_meta(grade_id: str, *, grade: bool = False, solution: bool = False, locked: bool = False,
                   points: float | None = None) -> dict:
    meta = {"grade": grade, "solution": solution, "locked": locked, "task": False, "grade_id": grade_id,
            "schema_version": SCHEMA_VERSION}
    if grade:
        meta["points"] = points
    return meta


def source_notebook(topic: str, points: dict[str, float] | None = None) -> nbformat.NotebookNode:
    """The nbgrader source notebook for ``topic`` (``points`` computed when not given)."""
    points = function_points(topic) if points is None else points
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
    parts = assignment_parts(topic, solution=True)
    tested = {p.name for p in parts if p.role == "tests"}
    # A function whose checks have no public test still needs a tests cell to carry its points.
    names = [*public_names(topic), GENERAL]
    parts += [Part("tests", owner, "# No public test here.") for owner in names if owner in points and owner not in tested]
    parts.sort(key=lambda p: (p.role == "tests", names.index(p.name) if p.role == "tests" else 0))
    for n, part in enumerate(parts):
        meta = deepgrade_metadata(part)
        if part.role == "function":
            meta["nbgrader"] = _nbgrader_meta(part.name, solution=True)
        elif part.role == "tests":
            worth = points.get(part.name, 0.0)
            meta["nbgrader"] = _nbgrader_meta(f"test_{part.name}", grade=True, locked=True, points=worth)
            what = "checks that span several functions" if part.name == GENERAL else f"checks of {part.name}"
            part.text += f"\n# deepgrade grades this cell: its hidden {what} are worth {worth:g} points."
        elif part.role != "heading":
            meta["nbgrader"] = _nbgrader_meta(f"{part.role}_{n}" if part.role == "code" else part.role.replace("-", "_"),
                                              locked=True)
        make = nbformat.v4.new_markdown_cell if part.cell_type == "markdown" else nbformat.v4.new_code_cell
        nb.cells.append(make(part.text, metadata=meta))
    return nb


def export(topic: str, course: str | Path) -> Path:
    """Write ``<course>/source/<topic>/<topic>.ipynb``; validated with nbgrader's own checks when installed."""
    nb = source_notebook(topic)
    try:
        from nbgrader.nbgraderformat import MetadataValidator
    except ImportError:
        pass
    else:
        MetadataValidator().validate_nb(nb)
    return write_notebook(nb, Path(course) / "source" / topic / f"{topic}.ipynb")


# ---------------------------------------------------------------------------- grade


def course_directory(course: str | Path):
    """nbgrader's CourseDirectory for ``course``, with the course's nbgrader_config.py applied."""
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    course = Path(course).resolve()
    config = Config()
    if (course / "nbgrader_config.py").exists():
        config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    coursedir = CourseDirectory(config=config)
    coursedir.root = str(course)
    return coursedir


def submitted_folders(coursedir, topic: str) -> dict[str, Path]:
    """student id -> the folder `nbgrader collect` made for their ``topic`` submission."""
    step = coursedir.submitted_directory
    pattern = re.compile(coursedir.format_path(step, "(?P<student_id>[^/]+)", re.escape(topic), escape=True) + "$")
    found = {}
    for path in sorted(glob.glob(coursedir.format_path(step, "*", topic))):
        m = pattern.match(path)
        if m and Path(path).is_dir():
            found[m.group("student_id")] = Path(path)
    return found


@dataclass
class GradedStudent:
    """One student's notebook as written to the gradebook."""

    student_id: str
    score: float
    max_score: float
    result: SubmissionResult


def grade(topic: str, course: str | Path, *, workers: int | None = None) -> list[GradedStudent]:
    """Grade the collected notebooks of ``topic`` and write the scores into the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    coursedir = course_directory(course)
    folders = submitted_folders(coursedir, topic)
    owners = check_owners(topic)
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        try:
            cells = {c.name: c.max_score for c in gb.find_notebook(topic, topic).grade_cells}
        except MissingEntry:
            raise NbgraderError(f"nbgrader does not know assignment {topic!r}: run `deepgrade nbgrader export "
                                f"{topic}` and `nbgrader generate_assignment {topic}` first") from None
    if not folders:
        return []
    jobs = []
    for student, folder in folders.items():  # submitted/<student>/<topic>: a linked folder must stay in submitted/
        files, note = read_student_files(folder, topic, root=folder.parent.parent)
        jobs.append(Job(student, topic, files, note))
    results = grade_jobs(jobs, workers=workers, hide=[coursedir.root])
    graded = []
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb, warnings.catch_warnings():
        # nbgrader's own submission bookkeeping trips SQLAlchemy 2's autoflush warnings; they are harmless
        warnings.simplefilter("ignore", category=Warning)
        for result in sorted(results, key=lambda r: r.student_id):
            scores = owner_scores(result, owners)
            _check_cells(topic, cells, scores)
            student = result.student_id
            gb.update_or_create_student(student)
            timestamp = coursedir.get_existing_timestamp(str(folders[student]))
            gb.update_or_create_submission(topic, student, **({"timestamp": timestamp} if timestamp else {}))
            for owner, (score, _) in scores.items():
                cell = gb.find_grade(f"test_{owner}", topic, topic, student)
                cell.auto_score = score
                cell.needs_manual_grade = cell.manual_score is not None  # an instructor's override stays visible
            gb.db.commit()
            _write_autograded(coursedir, topic, folders[student], result, owners)
            graded.append(GradedStudent(student, result.score, result.max_score, result))
    return graded


def _check_cells(topic: str, cells: dict[str, float], scores: dict[str, tuple[float, float]]) -> None:
    """The gradebook's tests cells must carry the points the graders give now."""
    for owner, (_, max_score) in scores.items():
        points = cells.get(f"test_{owner}")
        if points is None or abs(points - max_score) > 1e-6:
            have = f"{points:g} points" if points is not None else "no cell"
            raise NbgraderError(f"the gradebook's test_{owner} cell has {have}, the graders give {max_score:g}: "
                                f"run `deepgrade nbgrader export {topic}` and `nbgrader generate_assignment {topic} "
                                "--force` again")


def _write_autograded(coursedir, topic: str, submitted: Path, result: SubmissionResult,
                      owners: dict[str, str]) -> None:
    """autograded/<student>/<topic>/: the submission, each tests cell showing deepgrade's feedback."""
    dest = Path(coursedir.format_path(coursedir.autograded_directory, result.student_id, topic))
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(submitted, dest)
    write_results_json(result, dest / "results.json")
    path = dest / f"{topic}.ipynb"
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable notebook stays as submitted; its score says why
        return
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        if cell.cell_type != "code" or not grade_id.startswith("test_"):
            continue
        owner = grade_id.removeprefix("test_")
        lines = [f"{'passed' if c.passed else 'FAILED'}  {c.score:g}/{c.max_score:g}  {c.name}"
                 + (f"\n        {c.output.strip()}" if c.output.strip() and c.visibility == "visible" else "")
                 for c in result.checks if owners.get(c.check_id, GENERAL) == owner]
        text = "deepgrade's checks:\n" + "\n".join(lines) + "\n" if lines else "no deepgrade checks\n"
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    nbformat.write(nb, str(path))
