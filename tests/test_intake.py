"""The safe reader: what the grading process takes from a submission folder (issue 9 §1).

One test per class of hole. Each goes through the public entry points the engine used
before the safe reader existed (``read_student_files``, ``jobs_for_folder``, the
Gradescope runner, ``deepgrade grade``), so it fails on the code before it; a read that
would hang runs in a thread with a deadline, so a hang fails instead of stopping the suite.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from autograder.grading import jobs_for_folder, read_student_files
from tests.conftest import ROOT, SOLUTIONS

HOST_SECRET = "HOST-FILE-SECRET-7f3a"  # text of a file outside any submission


def within(seconds: float, func, *args, **kwargs):
    """``func(*args)`` or a test failure when it does not return in time (a FIFO read hangs forever)."""
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = func(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"{getattr(func, '__name__', func)} did not return within {seconds:g} s (it hangs)")
    if "error" in box:
        raise box["error"]
    return box["value"]


@pytest.fixture
def host_file(tmp_path: Path) -> Path:
    path = tmp_path / "host" / "secret.txt"
    path.parent.mkdir()
    path.write_text(HOST_SECRET + "\n")
    return path


def test_links_are_never_followed_and_are_named(tmp_path, host_file):
    folder = tmp_path / "subs" / "mallory"
    folder.mkdir(parents=True)
    (folder / "activations.py").symlink_to(SOLUTIONS / "activations.py")  # the reference, as the answer
    (folder / "leak.py").symlink_to(host_file)  # a host file, as a sibling the student may print
    (folder / "zero.py").symlink_to("/dev/zero")
    (folder / "gone.py").symlink_to(tmp_path / "nowhere.py")
    (folder / "helper.py").write_text("VALUE = 1\n")
    files, note = within(30, read_student_files, folder, "activations")
    assert files["helper.py"] == b"VALUE = 1\n"
    assert (SOLUTIONS / "activations.py").read_bytes() not in files.values()
    assert not any(HOST_SECRET.encode() in data for data in files.values())
    assert set(files) == {"activations.py", "helper.py"}
    assert b"symbolic link" in files["activations.py"]  # the topic file's import says why it scored 0
    for name in ("activations.py", "leak.py", "zero.py", "gone.py"):
        assert f"{name} was not read: it is a symbolic link" in note


def test_fifos_folders_and_devices_are_named_and_never_block(tmp_path):
    folder = tmp_path / "subs" / "eve"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "notes.py")
    (folder / "utils.py").mkdir()
    (folder / "activations.py").write_text("X = 1\n")
    files, note = within(30, read_student_files, folder, "activations")
    assert set(files) == {"activations.py"}
    assert "notes.py was not read: it is a named pipe (FIFO)" in note
    assert "utils.py was not read: it is a folder" in note


def test_too_big_and_undecodable_files_are_named(tmp_path):
    folder = tmp_path / "subs" / "dev"
    folder.mkdir(parents=True)
    (folder / "activations.py").write_bytes(b"x = '\xff\xfe'\n")  # not UTF-8, no coding line
    (folder / "latin.py").write_bytes(b"# -*- coding: latin-1 -*-\nx = '\xe9'\n")  # declared: fine
    (folder / "huge.py").write_bytes(b"#" * 1_000_001)
    files, note = within(30, read_student_files, folder, "activations")
    assert "latin.py" in files and "huge.py" not in files
    assert "huge.py was not read: it is larger than 1 MB" in note
    assert "activations.py was not read: it is not UTF-8 text" in note
    assert b"not UTF-8" in files["activations.py"]


def test_work_per_folder_is_bounded(tmp_path):
    from autograder.intake import MAX_FILES

    folder = tmp_path / "subs" / "many"
    folder.mkdir(parents=True)
    for i in range(MAX_FILES + 20):
        (folder / f"m{i:04d}.py").write_text("X = 1\n")
    files, note = within(60, read_student_files, folder, "activations")
    assert len(files) == MAX_FILES
    assert f"(and 19 more) was not read: the folder holds more than {MAX_FILES}" in note


def test_a_student_folder_may_be_a_link_but_only_inside_the_submissions(tmp_path):
    subs = tmp_path / "subs"
    (subs / "real").mkdir(parents=True)
    (subs / "real" / "activations.py").write_text("X = 1\n")
    (subs / "alias").symlink_to(subs / "real")  # an instructor's layout: fine
    (subs / "thief").symlink_to(SOLUTIONS)  # the references, as a student folder: not read
    jobs = {j.student_id: j for j in within(30, jobs_for_folder, subs, ["activations"])}
    assert jobs["alias"].files["activations.py"] == b"X = 1\n"
    assert (SOLUTIONS / "activations.py").read_bytes() not in jobs["thief"].files.values()
    assert "outside" in jobs["thief"].note


def _notebook(*sources: str) -> str:
    cells = [{"cell_type": "code", "source": s, "metadata": {}, "outputs": [], "execution_count": None}
             for s in sources]
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def test_hostile_notebooks_are_converted_out_of_process_in_bounded_time(tmp_path):
    subs = tmp_path / "subs"
    cases = {
        "spaces": _notebook(" " * 900_000 + "x = 1"),  # the magics cleaner's regexes were quadratic here
        "deep": _notebook("x = " + "+".join(["1"] * 300_000)),  # RecursionError when compiled in the parent
        "garbage": "{not json",
        "ok": _notebook("import math\n%matplotlib inline\nX = math.pi"),
    }
    for name, text in cases.items():
        (subs / name).mkdir(parents=True)
        (subs / name / "activations.ipynb").write_text(text)
    start = time.perf_counter()
    jobs = {j.student_id: j for j in within(120, jobs_for_folder, subs, ["activations"])}
    elapsed = time.perf_counter() - start
    assert set(jobs) == set(cases)
    assert b"X = math.pi" in jobs["ok"].files["activations.py"]
    assert b"pass  # (IPython) %matplotlib inline" in jobs["ok"].files["activations.py"]
    assert "not valid JSON" in jobs["garbage"].note
    for name in ("spaces", "deep"):  # converted (the sandbox import judges them) or named: never a hang
        assert "activations.py" in jobs[name].files
    assert elapsed < 60


def test_a_converter_that_runs_away_is_stopped(monkeypatch):
    from autograder import intake

    def forever(_):
        while True:
            pass

    start = time.perf_counter()
    with pytest.raises(ValueError, match="did not finish within 1 s"):
        intake.run_limited(forever, None, seconds=1.0)
    assert time.perf_counter() - start < 5
    with pytest.raises(ValueError, match="nested too deeply"):
        intake.run_limited(lambda n: compile("x = " + "+".join(["1"] * n), "<s>", "exec"), 300_000)


def test_gradescope_uploads_are_walked_without_following_links(tmp_path, host_file):
    from autograder.interop.gradescope import CONFIG_NAME, grade_submission

    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    (root / "source" / CONFIG_NAME).write_text(json.dumps({"topic": "activations", "call_timeout": 2.0}))
    upload = root / "submission"
    (upload / "work").mkdir(parents=True)
    (upload / "work" / "activations.py").symlink_to(SOLUTIONS / "activations.py")
    (upload / "work" / "leak.py").symlink_to(host_file)
    (upload / "linked").symlink_to(SOLUTIONS)  # a folder link: never entered
    data = within(120, grade_submission, root)
    assert data["score"] == 0
    text = json.dumps(data)
    assert "activations.py was not read: it is a symbolic link" in data["output"]
    assert HOST_SECRET not in text


FORGING = ["link", "leak", "fifo", "dirpy", "zero", "dangling", "thief", "deepnb", "spacenb", "ref_"]


def hostile_class(subs: Path, host_file: Path) -> None:
    """The reference plus one student per hostile intake case, in ``subs``."""
    reference = (SOLUTIONS / "activations.py").read_text()

    def student(name: str | bytes) -> Path:
        folder = Path(os.fsdecode(os.fsencode(subs) + b"/" + (os.fsencode(name))))
        folder.mkdir(parents=True)
        return folder

    (student("ref") / "activations.py").write_text(reference)
    (student("link") / "activations.py").symlink_to(SOLUTIONS / "activations.py")
    leak = student("leak")
    (leak / "leak.py").symlink_to(host_file)
    (leak / "ref.py").symlink_to(SOLUTIONS / "activations.py")
    (leak / "activations.py").write_text(
        "import os\nhere = os.path.dirname(os.path.abspath(__file__))\n"
        "for n in ('leak.py', 'ref.py'):\n"
        "    try:\n        print(open(os.path.join(here, n)).read())\n    except OSError as e:\n        print(e)\n")
    os.mkfifo(student("fifo") / "activations.py")
    (student("dirpy") / "activations.py").mkdir()
    (student("zero") / "activations.py").symlink_to("/dev/zero")
    (student("dangling") / "activations.py").symlink_to(subs.parent / "nowhere.py")
    (subs / "thief").symlink_to(SOLUTIONS)
    (student("deepnb") / "activations.ipynb").write_text(_notebook("x = " + "+".join(["1"] * 300_000)))
    (student("spacenb") / "activations.ipynb").write_text(_notebook(" " * 900_000 + "x = 1"))
    (student("grades.csv") / "activations.py").write_text(reference)
    (student("ref_") / "activations.py").write_text("raise SystemExit\n")
    (student(b"bad\xffname") / "activations.py").write_text("X = 1\n")
    (student("\x1b[2K\rref 100") / "activations.py").write_text("X = 1\n")


def check_hostile_outputs(done: subprocess.CompletedProcess, out: Path) -> dict:
    """The batch finished, wrote its files, scored the reference 100 and every forging case 0,
    escaped ids on the terminal, and leaked no reference or host text into results.json."""
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "\x1b" not in done.stdout and "\\x1b[2K\\x0dref 100" in done.stdout  # the class table escapes ids
    summary = json.loads((out / "summary.json").read_text())
    scores = {r["student_id"]: r["score"] for r in summary["results"]}
    maxima = {r["student_id"]: r["max_score"] for r in summary["results"]}
    assert scores["ref"] == scores["grades.csv"] == maxima["ref"] > 0
    assert all(scores[s] == 0 for s in FORGING), {s: scores[s] for s in FORGING}
    assert "bad\\xffname" in scores
    assert (out / "grades.csv").read_text().splitlines()[0].startswith("student_id,score,max_score")
    assert len({r["folder"] for r in summary["results"]}) == len(summary["results"])  # one folder per id
    solution_lines, inside = [], False  # the reference's solution code: never shown to students
    for line in (SOLUTIONS / "activations.py").read_text().splitlines():
        inside = ("BEGIN SOLUTION" in line) or (inside and "END SOLUTION" not in line)
        if inside and len(line.strip()) > 25 and not line.strip().startswith("#"):
            solution_lines.append(line.strip())
    assert solution_lines
    for path in out.rglob("results.json"):
        text = path.read_text()
        for secret in [HOST_SECRET, *solution_lines]:
            assert secret not in text, (path, secret)
    return scores


DEEPGRADE = str(Path(sys.executable).parent / "deepgrade")


@pytest.mark.slow
def test_a_hostile_class_is_graded_to_the_end(tmp_path, host_file):
    """The reference plus every hostile intake case in one `deepgrade grade`: it finishes, the
    reference scores 100, every forging case 0, and no student-visible file holds the
    reference's or a host file's text."""
    hostile_class(tmp_path / "subs", host_file)
    out = tmp_path / "graded"
    done = subprocess.run([DEEPGRADE, "grade", "activations", str(tmp_path / "subs"), "--out", str(out),
                           "--workers", "2"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    check_hostile_outputs(done, out)


@pytest.mark.slow
def test_a_hostile_class_is_graded_to_the_end_as_an_ordinary_user():
    """The same class graded by an instructor who is not root (CI creates the user), plus a
    file the instructor cannot read: named, scored 0, and the batch goes on."""
    from tests.nonroot import as_user, ensure_user, user_tempdir

    folder = user_tempdir()
    try:
        host_file = folder / "host" / "secret.txt"
        host_file.parent.mkdir()
        host_file.write_text(HOST_SECRET + "\n")  # the instructor's own file: readable by them
        hostile_class(folder / "subs", host_file)
        locked = folder / "subs" / "locked"
        locked.mkdir()
        (locked / "activations.py").write_text((SOLUTIONS / "activations.py").read_text())
        if os.geteuid() == 0:
            user = ensure_user()
            for path in [folder, *folder.rglob("*")]:
                os.lchown(path, user.pw_uid, user.pw_gid)
        (locked / "activations.py").chmod(0)
        out = folder / "graded"
        done = as_user([DEEPGRADE, "grade", "activations", str(folder / "subs"), "--out", str(out),
                        "--workers", "2"], cwd=folder, timeout=900)
        scores = check_hostile_outputs(done, out)
        assert scores["locked"] == 0
        locked_result = json.loads(next(out.glob("locked/results.json")).read_text())
        assert "activations.py was not read: it cannot be read (permission denied)" in locked_result["output"]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
