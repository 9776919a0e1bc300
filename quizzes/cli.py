"""`deepgrade quiz …`: the command-line face of the quiz package. Each command only parses its
options and calls one library function (check_bank, build_quiz, grade_to_dir)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from .build import ALL_FORMATS, build_quiz
from .errors import QuizError
from .lint import LINT_SEEDS, check_bank
from .report import grade_to_dir

T = TypeVar("T")


def _run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call a library function; its QuizError becomes one clear line and exit status 1."""
    try:
        return fn(*args, **kwargs)
    except QuizError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group(name="quiz")
def quiz() -> None:
    """Quizzes from the question bank: lint the bank, build per-student variants, grade responses.

    \b
    A typical round:
      deepgrade quiz check
      deepgrade quiz build quizzes/specs/week5_quiz.yaml --roster roster.csv --out build/week5
      (print build/week5/html/all_students.html, or --format pdf for pdf/a4/ and pdf/letter/,
       or import moodle/, gift/ or qti/ into the LMS)
      deepgrade quiz grade build/week5 responses.csv --out build/week5-grades
    """


@quiz.command()
@click.argument("bank", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--seeds", default=LINT_SEEDS, show_default=True, help="Variants rendered per question.")
def check(bank: tuple[Path, ...], seeds: int) -> None:
    """Lint the question bank (default: the bank shipped in quizzes/bank/).

    Every question is rendered for many seeds: answers must be finite, distractors must
    differ from the answer (within tolerance) and from each other, tolerances must be sane,
    ids unique, and the correct option's position spread evenly. Errors name the file, the
    line and the question id.

    An examiner's rules on top: a parameterized key may not be constant, the same for most
    students, or a number printed in the stem; no key at or near 0 under an absolute
    tolerance; no parameter draw where a misconception falls within the key's tolerance;
    the tolerance must accept an answer rounded to the stem's `precision:`; no number in
    the stem exactly on one of the question's `thresholds:`; no float noise
    (0.04000000000000001), double signs (- -0.5) or unbracketed negative powers (-0.1^2)
    in any text; no count of 1 before a plural ("1 layers", "1 of the 6 norms are"); no
    matching answer that repeats a word only its own prompt has ("Group normalization" ->
    "one group of ..."); and across the bank, keys listed at varied positions. Warnings (advice):
    keys strictly the longest option in over 40% of single-choice questions, numeric
    questions that state no precision.

    \b
    Examples:
      deepgrade quiz check
      deepgrade quiz check quizzes/bank/initialization.yaml my_extra_bank/
    """
    report = _run(check_bank, list(bank) or None, seeds)
    click.echo(report.summary())
    if not report.ok:
        raise click.ClickException(f"{len(report.errors)} problem(s) in the bank")


@quiz.command()
@click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--roster", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV with a student_id column (and optionally name): one variant per student.")
@click.option("--variants", type=click.IntRange(min=1), help="Without a roster: N anonymous variants V001..VNNN.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (replaced as a whole; never half-written).")
@click.option("--format", "formats", default=",".join(ALL_FORMATS), show_default=True,
              help="Comma-separated formats: html, md, moodle, gift, qti, key, and pdf (printed papers, "
                   "A4 and Letter; needs Chromium).")
@click.option("--strict", is_flag=True,
              help="Fail instead of warning when a format cannot hold a question (GIFT and Canvas QTI "
                   "have no ordering questions).")
@click.option("--material", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A TOML file with a [material] table: its [material.documents] rename the course documents "
                   "quiz text mentions (default: the shipped names, e.g. 'the lecture').")
def build(spec: Path, roster: Path | None, variants: int | None, out: Path, formats: str, strict: bool,
          material: Path | None) -> None:
    """Build a quiz from SPEC: one variant per student, deterministic from (seed, student id).

    Rebuilding with the same spec and roster gives every student the same paper. Always
    include the key format if you want to grade the quiz later. A format that cannot hold a
    question type is written without it, with a warning naming both (--strict: an error).

    \b
    Examples:
      deepgrade quiz build quizzes/specs/sample.yaml --roster quizzes/samples/roster.csv --out build/sample
      deepgrade quiz build quizzes/specs/week5_quiz.yaml --variants 40 --out build/w5 --format moodle,qti,key
      deepgrade quiz build quizzes/specs/sample.yaml --roster quizzes/samples/roster.csv --out build/paper \\
          --format pdf,key     # pdf/a4/ and pdf/letter/: per student, all students, answer key
    """
    if roster is not None and variants is not None:
        raise click.UsageError("give either --roster or --variants, not both")
    result = _run(build_quiz, spec, out, roster=roster, variants=variants, formats=formats, strict=strict,
                  material=material)
    click.echo(result.summary())
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)


@quiz.command()
@click.argument("key_dir", type=click.Path(exists=True, path_type=Path))
@click.argument("responses", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder for scores.csv, item_analysis.csv, feedback/ and report.html.")
def grade(key_dir: Path, responses: Path, out: Path) -> None:
    """Grade RESPONSES (CSV) against the answer key in KEY_DIR (a build folder).

    RESPONSES has a header `student_id,q1,q2,…` (one column per question position) and one
    row per student: a letter for single-answer and true/false questions, letters separated
    by commas for select-all questions ("A,C"), a number for numeric ones, the letters in the
    student's order for ordering questions ("C,A,D,B"), one letter per prompt for matching
    ones ("B,A,C" or "1B,2A,3C"); blank scores 0. Select-all questions score right-minus-wrong:
    +1/k per correct option marked, -1/w per wrong option marked, floored at 0. Ordering
    questions score the longest subsequence in the right relative order / items (Moodle's
    "longest ordered subset"); matching questions the share of prompts matched.

    \b
    Example:
      deepgrade quiz grade build/sample quizzes/samples/responses.csv --out build/sample-grades
    """
    outcome = _run(grade_to_dir, key_dir, responses, out)
    click.echo(outcome.summary())
