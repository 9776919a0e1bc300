"""The `quiz` click group and the demo, end to end."""

from __future__ import annotations

import time
from pathlib import Path

from click.testing import CliRunner
from quiz_helpers import tiny_spec, write

from quizzes.cli import quiz
from quizzes.demo import SAMPLE_ROSTER, SAMPLE_SPEC, run_quiz_demo


def test_help_teaches_with_examples():
    runner = CliRunner()
    for args in ([], ["check"], ["build"], ["grade"]):
        result = runner.invoke(quiz, [*args, "--help"])
        assert result.exit_code == 0
        assert "deepgrade quiz" in result.output
    assert "right-minus-wrong" in runner.invoke(quiz, ["grade", "--help"]).output


def test_check_default_bank_from_another_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the bank is found through the package, not the cwd
    result = CliRunner().invoke(quiz, ["check", "--seeds", "20"])
    assert result.exit_code == 0, result.output
    assert " questions in " in result.output and result.output.rstrip().endswith("OK")


def test_check_reports_a_bad_bank_with_exit_status_1(tmp_path):
    bad = write(tmp_path / "bad.yaml", "topic: bad\nquestions:\n  - id: x1\n    type: single\n    stem: [oops\n")
    result = CliRunner().invoke(quiz, ["check", str(bad)])
    assert result.exit_code == 1
    assert f"Error: {bad}:" in result.output and "invalid YAML" in result.output
    assert "Traceback" not in result.output


def test_build_then_grade(tmp_path):
    runner = CliRunner()
    out = tmp_path / "build"
    result = runner.invoke(quiz, ["build", str(SAMPLE_SPEC), "--roster", str(SAMPLE_ROSTER), "--out", str(out),
                                  "--format", "html,key"])
    assert result.exit_code == 0, result.output
    assert (out / "html" / "all_students.html").exists() and not (out / "gift").exists()
    responses = Path(SAMPLE_SPEC).parent.parent / "samples" / "responses.csv"
    result = runner.invoke(quiz, ["grade", str(out), str(responses), "--out", str(tmp_path / "grades")])
    assert result.exit_code == 0, result.output
    assert "Cronbach's alpha" in result.output
    assert (tmp_path / "grades" / "report.html").exists()


def test_cli_errors_are_one_clear_line(tmp_path):
    runner = CliRunner()
    spec = tiny_spec(tmp_path)
    result = runner.invoke(quiz, ["build", str(spec), "--variants", "2", "--out", str(tmp_path / "o"),
                                  "--format", "docx"])
    assert result.exit_code == 1 and "unknown format 'docx'" in result.output
    result = runner.invoke(quiz, ["build", str(spec), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "--roster" in result.output
    runner.invoke(quiz, ["build", str(spec), "--variants", "2", "--out", str(tmp_path / "o"), "--format", "key"])
    bad = write(tmp_path / "r.csv", "student_id,q1,q2,q3,q4\nnobody,A,A,A,1\n")
    result = runner.invoke(quiz, ["grade", str(tmp_path / "o"), str(bad), "--out", str(tmp_path / "g")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: {bad}:2: unknown student 'nobody' (not in the answer key)"]
    assert not (tmp_path / "g").exists()


def test_demo_runs_quickly_and_reports(tmp_path):
    start = time.perf_counter()
    text = run_quiz_demo(tmp_path)
    assert time.perf_counter() - start < 10
    assert "mean score" in text and "Cronbach's alpha" in text
    assert (tmp_path / "quiz" / "qti" / "quiz_qti.zip").exists()
    assert (tmp_path / "quiz-grades" / "report.html").exists()
    assert len(list((tmp_path / "quiz-grades" / "feedback").iterdir())) == 8
