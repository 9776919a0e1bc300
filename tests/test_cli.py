"""`deepgrade grade` and friends, end to end through the CLI."""

from __future__ import annotations

import csv
import json
import shutil

from click.testing import CliRunner

from cli import main
from tests.conftest import SAMPLES, SOLUTIONS


def make_class(tmp_path):
    root = tmp_path / "subs"
    (root / "ada").mkdir(parents=True)
    shutil.copy(SOLUTIONS / "activations.py", root / "ada" / "activations.py")
    (root / "ben").mkdir()
    shutil.copy(SAMPLES / "ben" / "activations.py", root / "ben" / "activations.py")
    (root / "nobody").mkdir()  # a student who submitted nothing
    return root


def test_grade_writes_gradescope_results_csv_and_a_table(tmp_path):
    subs, out = make_class(tmp_path), tmp_path / "out"
    result = CliRunner().invoke(main, ["grade", "activations", str(subs), "--out", str(out), "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "ada" in result.output and "100" in result.output
    data = json.loads((out / "ada" / "results.json").read_text())
    assert data["score"] == 100 and isinstance(data["execution_time"], float)
    assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(data["tests"][0])
    ben = json.loads((out / "ben" / "results.json").read_text())
    assert ben["score"] < 100 and any(t["status"] == "failed" and t["output"] for t in ben["tests"])
    nobody = json.loads((out / "nobody" / "results.json").read_text())
    assert nobody["score"] == 0 and "no activations.py" in nobody["tests"][0]["output"]
    with open(out / "grades.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["student_id"] for r in rows] == ["ada", "ben", "nobody"]
    assert {"student_id", "score", "max_score", "sigmoid_values", "diagnose_gradients_boundaries"} <= set(rows[0])
    assert rows[0]["score"] == "100"


def test_grade_json_summary(tmp_path):
    subs = make_class(tmp_path)
    result = CliRunner().invoke(main, ["grade", "activations", str(subs), "--out", str(tmp_path / "o"),
                                       "--workers", "1", "--json"])
    assert result.exit_code == 0
    summary = json.loads(result.output[result.output.index("{"):])
    scores = {r["student_id"]: r["score"] for r in summary["results"]}
    assert scores["ada"] == 100 and scores["nobody"] == 0


def test_bad_topic_and_missing_folder_give_one_line_errors(tmp_path):
    runner = CliRunner()
    bad = runner.invoke(main, ["grade", "nonsense", str(tmp_path)])
    assert bad.exit_code != 0 and "unknown topic" in bad.output and len(bad.output.strip().splitlines()) == 1
    missing = runner.invoke(main, ["grade", "activations", str(tmp_path / "nope")])
    assert missing.exit_code != 0 and "does not exist" in missing.output
    (tmp_path / "activations.py").write_text("x = 1\n")
    a_file = runner.invoke(main, ["grade", "activations", str(tmp_path / "activations.py")])
    assert a_file.exit_code != 0 and "is a file" in a_file.output and "one folder per student" in a_file.output
    assert "deepgrade check activations" in a_file.output and len(a_file.output.strip().splitlines()) == 1


def test_same_submission_same_score_every_run(tmp_path):
    subs = make_class(tmp_path)
    runs = []
    for i in range(2):
        out = tmp_path / f"run{i}"
        CliRunner().invoke(main, ["grade", "activations", str(subs), "--out", str(out), "--workers", "1"])
        runs.append((out / "grades.csv").read_text())
    assert runs[0] == runs[1]


def test_help_teaches():
    result = CliRunner().invoke(main, ["grade", "--help"])
    assert "Example" in result.output and "--timeout" in result.output


def test_check_runs_public_tests_on_a_students_file(tmp_path):
    good = tmp_path / "activations.py"
    good.write_text((SOLUTIONS / "activations.py").read_text())
    import subprocess
    import sys

    ok = subprocess.run([sys.executable, "-m", "cli", "check", "activations", str(good)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    stub = tmp_path / "stub" / "activations.py"
    stub.parent.mkdir()
    stub.write_text((SOLUTIONS.parent / "assignments" / "activations" / "activations.py").read_text())
    bad = subprocess.run([sys.executable, "-m", "cli", "check", "activations", str(stub)], capture_output=True, text=True)
    assert bad.returncode != 0 and "NotImplementedError" in bad.stdout


def test_grade_one_submission_from_the_command_line_prints_and_writes_everything(tmp_path):
    """The real program (its fork server started before its imports, its exit skipping the
    interpreter's teardown): every output file written, every line printed into a pipe."""
    import subprocess
    import sys

    subs, out = tmp_path / "subs", tmp_path / "out"
    (subs / "ada").mkdir(parents=True)
    shutil.copy(SOLUTIONS / "activations.py", subs / "ada" / "activations.py")
    done = subprocess.run([sys.executable, "-m", "cli", "grade", "activations", str(subs), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[2].split() == ["ada", "100", "100.0%"]
    assert lines[-2].startswith("1 submission(s) graded in") and lines[-1].startswith("sandbox: tier")
    assert json.loads((out / "ada" / "results.json").read_text())["score"] == 100
    assert (out / "grades.csv").read_text().startswith("student_id,score,max_score")
    assert json.loads((out / "summary.json").read_text())["students"] == ["ada"]
    assert "Traceback" not in done.stderr


def test_the_fork_server_starts_early_only_for_a_grade_that_may_run_here(monkeypatch):
    from autograder import prestart

    started = []
    monkeypatch.setattr(prestart, "start_early", lambda: started.append(1))

    def early(*argv: str) -> bool:
        started.clear()
        answer = prestart.start_early_for(list(argv))
        assert answer == bool(started)
        return answer

    assert early("/venv/bin/deepgrade", "grade", "activations", "subs")
    assert early("/repo/cli.py", "grade", "activations", "subs", "--out", "o", "--workers", "1")
    assert early("deepgrade", "grade", "all", "subs", "--workers=1", "--json")
    assert not early("deepgrade", "grade", "activations", "subs", "--workers", "2")  # each process starts its own
    assert not early("deepgrade", "grade", "activations", "subs", "--workers=4")
    assert not early("deepgrade", "grade", "activations", "--course", "c")
    assert not early("deepgrade", "grade", "activations", "subs", "--scheduler=tls://h:8786")
    assert not early("deepgrade", "grade", "activations", "--help")
    assert not early("deepgrade", "grade", "activations")  # a course folder, or a usage error
    assert early("deepgrade", "check", "activations", "activations.py")  # a student's check grades here too
    assert early("deepgrade", "check", "activations")
    assert not early("deepgrade", "check", "--help")
    assert not early("deepgrade", "topics")
    assert not early("deepgrade")
    assert not early("/venv/bin/pytest", "grade", "activations", "subs")  # another program importing the CLI


def test_an_unused_early_fork_server_is_stopped():
    from autograder import prestart

    prestart.start_early()
    proc = prestart._early[1][0]
    prestart.cancel_early()
    assert proc.poll() is not None and prestart.take_early() is None
    prestart.cancel_early()  # nothing left to stop


def test_the_program_computes_with_one_blas_thread_unless_told_otherwise():
    import os
    import subprocess
    import sys

    probe = ("import sys; sys.argv[0] = {prog!r}; import cli, os, numpy; "
             "print(os.environ.get('OPENBLAS_NUM_THREADS'), len(os.listdir('/proc/self/task')))")

    def run(prog: str, **env: str) -> list[str]:
        clean = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
        done = subprocess.run([sys.executable, "-c", probe.format(prog=prog)], capture_output=True, text=True,
                              env={**clean, **env}, cwd=SOLUTIONS.parent, check=True)
        return done.stdout.split()

    assert run("/venv/bin/deepgrade") == ["1", "1"]  # no BLAS thread pool started
    assert run("/venv/bin/deepgrade", OPENBLAS_NUM_THREADS="3")[0] == "3"  # the user's setting stands
    assert run("/venv/bin/pytest")[0] == "None"  # importing the CLI from another program changes nothing


def test_a_first_grading_says_it_is_timing_the_limits_once(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPGRADE_CACHE", str(tmp_path / "cache"))  # a machine that never graded
    subs = make_class(tmp_path)
    said = []
    for n in range(2):
        result = CliRunner().invoke(main, ["grade", "activations", str(subs), "--out", str(tmp_path / f"o{n}"),
                                           "--workers", "1"])
        assert result.exit_code == 0, result.output
        said.append("first grading of activations on this machine" in result.stderr)
    assert said == [True, False]
    flat = CliRunner().invoke(main, ["grade", "clipping", str(subs), "--out", str(tmp_path / "o2"),
                                     "--timeout", "1"])
    assert flat.exit_code == 0 and "first grading" not in flat.stderr  # flat limits: nothing to time
