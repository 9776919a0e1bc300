"""`deepgrade serve --demo`: a small course to try the service on, with sign-in codes printed."""

from __future__ import annotations

import shutil
from pathlib import Path

from autograder.gradebook.course import COURSE_FILE, load_course, scaffold_course
from autograder.gradebook.store import Gradebook
from autograder.service import accounts

DEMO_TOPICS = ["activations", "clipping"]
DEMO_ROSTER = [
    ("s1001", "Ada Lovelace", "ada@example.edu"),
    ("s1002", "Alan Turing", "alan@example.edu"),
    ("s1003", "Grace Hopper", "grace@example.edu"),
]
SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "class"
SOLUTIONS = Path(__file__).resolve().parents[2] / "solutions"


def make_demo_course(folder: Path) -> dict:
    """A course in ``folder`` (made if new) with codes for every student and an instructor.

    Returns the codes issued now ({account: code}), the codes CSV and files to try uploading."""
    folder = Path(folder)
    if not (folder / COURSE_FILE).exists():
        scaffold_course(folder, name="deepgrade demo course", topics=DEMO_TOPICS, roster=DEMO_ROSTER)
        # Activations without a due date: every check, after-due ones included, shows at once (a fix
        # reads 100 / 100); clipping keeps its due date and shows what students see before one.
        toml = folder / COURSE_FILE
        text = toml.read_text(encoding="utf-8")
        start = text.index("[assignments.activations]")
        due = text.index("due = ", start)
        toml.write_text(text[:due] + "# due = (none: never late)\n" + text[text.index("\n", due) + 1:],
                        encoding="utf-8")
        with open(folder / COURSE_FILE, "a", encoding="utf-8") as f:
            f.write("\n[service]\ncounts = \"last\"      # or \"best\"\nmax_per_day = 0       # 0: no limit\n")
        examples = folder / "try"
        examples.mkdir(exist_ok=True)
        shutil.copy(SAMPLES / "ben" / "activations.py", examples / "activations_buggy.py")
        shutil.copy(SOLUTIONS / "activations.py", examples / "activations_fixed.py")
    course = load_course(folder)
    with Gradebook.open(course.db_path) as book:
        book.sync_roster(course.roster())
        wanted = [(e.student_id, "student") for e in course.roster()] + [("instructor", "staff")]
        issued = accounts.issue(book, wanted, rotate=True)  # a demo shows fresh codes every start
    names = {e.student_id: e for e in course.roster()}
    rows = [accounts.Issued(i.account, i.role, i.code, getattr(names.get(i.account), "name", ""),
                            getattr(names.get(i.account), "email", "")) for i in issued]
    csv_path = accounts.write_codes_csv(folder / "codes.csv", rows)
    return {"course": course, "codes": {i.account: i.code for i in issued}, "csv": csv_path,
            "buggy": folder / "try" / "activations_buggy.py", "fixed": folder / "try" / "activations_fixed.py"}
