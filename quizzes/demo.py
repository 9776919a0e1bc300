"""The quiz part of `deepgrade demo`: build the sample quiz for the sample roster, grade the sample
responses, and write the report."""

from __future__ import annotations

import math
from pathlib import Path

from .assemble import assemble
from .build import write_formats
from .report import grade_to_dir
from .simulate import write_responses

PACKAGE_DIR = Path(__file__).resolve().parent
SAMPLE_SPEC = PACKAGE_DIR / "specs" / "sample.yaml"
SAMPLE_ROSTER = PACKAGE_DIR / "samples" / "roster.csv"
SAMPLE_RESPONSES = PACKAGE_DIR / "samples" / "responses.csv"


def run_quiz_demo(out_dir: Path) -> str:
    """Build the sample quiz in every format under out_dir/quiz, grade responses into
    out_dir/quiz-grades, and return a short summary for the terminal."""
    out_dir = Path(out_dir)
    quiz = assemble(SAMPLE_SPEC, roster=SAMPLE_ROSTER)
    build_dir, grade_dir = out_dir / "quiz", out_dir / "quiz-grades"
    files = write_formats(quiz, build_dir)
    # The shipped responses match the shipped spec and roster; simulate if someone changed those.
    responses = SAMPLE_RESPONSES
    if not responses.exists():
        responses = write_responses(quiz, out_dir / "quiz-responses.csv", seed="demo")
    try:
        outcome = grade_to_dir(build_dir, responses, grade_dir)
    except ValueError:
        responses = write_responses(quiz, out_dir / "quiz-responses.csv", seed="demo")
        outcome = grade_to_dir(build_dir, responses, grade_dir)
    s = outcome.stats
    alpha = "n/a" if math.isnan(s.alpha) else f"{s.alpha:.2f}"
    return "\n".join([
        f"quiz: {len(quiz.students)} students x {len(quiz.questions)} questions, formats {', '.join(files)}",
        f"  printable quiz  {files['html'][0]}",
        f"  answer key      {files['html'][1]}",
        f"  LMS imports     {files['moodle'][0]}, {files['gift'][0]}, {files['qti'][0]}",
        f"  report          {outcome.files['report']}",
        f"  mean score {s.mean:.2f} / {s.max_points:g}, Cronbach's alpha {alpha}",
    ])
