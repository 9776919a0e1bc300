"""`deepgrade similarity`: registered on the main command in cli.py; calls the library."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from autograder.similarity.detect import Report, Settings


def _settings(base: Settings, threshold: float | None, min_matched: int | None) -> Settings:
    """The course's (or default) settings with the command line's overrides."""
    changes = {k: v for k, v in (("threshold", threshold), ("min_matched", min_matched)) if v is not None}
    return replace(base, **changes)


def _echo_report(report: Report, index: Path | None) -> None:
    flagged = report.flagged
    click.echo(f"{report.topic}: {report.students} submission(s), {report.compared} pair(s) compared in "
               f"{report.seconds:.1f} s; {len(flagged)} pair(s) flagged for review")
    if flagged:
        width = max(len(p.a.name) for p in flagged[:20])
        for p in flagged[:20]:
            ref = " (reference)" if p.b.reference else ""
            click.echo(f"  {p.a.name:<{width}}  {p.b.name}{ref}  {100 * p.similarity_a:3.0f}% / "
                       f"{100 * p.similarity_b:3.0f}%  {p.matched} tokens")
        if len(flagged) > 20:
            click.echo(f"  ... and {len(flagged) - 20} more")
    for c in report.clusters:
        click.echo(f"  group of {len(c)}: {', '.join(c)}")
    for note in report.notes:
        click.echo(f"  not compared: {note}", err=True)
    if index is not None:
        click.echo(f"-> {index}")


@click.command()
@click.argument("topic", required=False)
@click.argument("submissions", required=False, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for index.html, pairs/, similarity.csv and .json  "
                   "[default: similarity/TOPIC; in a course: <course>/reports/similarity/TOPIC]")
@click.option("--reference", "references", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="A folder compared against but not reported on its own (last term, solutions found "
                   "online): <id>/TOPIC.py folders, TOPIC/<id>/ or loose .py/.ipynb files. Repeatable.")
@click.option("--solution", "include_solution", is_flag=True,
              help="Also compare against the instructor's reference solution (a leaked answer key).")
@click.option("--threshold", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Flag a pair when one holds at least this share of the other's code  [default: 0.65]")
@click.option("--min-matched", type=click.IntRange(0), default=None,
              help="...and at least this many tokens match  [default: 120]")
@click.option("--json", "as_json", is_flag=True, help="Print the pairs as JSON instead of the summary.")
@click.option("--course", "course_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Compare a course's submissions  [default: the current folder if it has deepgrade.toml]")
def similarity(topic: str | None, submissions: Path | None, out_dir: Path | None, references: tuple[Path, ...],
               include_solution: bool, threshold: float | None, min_matched: int | None, as_json: bool,
               course_dir: Path | None) -> None:
    """Flag pairs of submissions that share code, for a person to review.

    Compares every submission of TOPIC in SUBMISSIONS (<student_id>/TOPIC.py or .ipynb,
    code cells only) with every other, offline, after removing the starter code everyone
    was given. Writes a ranked table of pairs with both similarity figures, groups of three
    or more, a side-by-side page for each flagged pair, similarity.csv and similarity.json.
    A flag is a reason to look, not a finding.

    In a course (--course, or inside a course folder without SUBMISSIONS) every assignment
    is compared, or only TOPIC; thresholds and reference folders come from the
    [similarity] table of deepgrade.toml.

    \b
    Examples: deepgrade similarity activations submissions/ --out similarity/
              deepgrade similarity clipping submissions/ --reference last-term/ --solution
              deepgrade similarity --course mycourse
    """
    from autograder.similarity import SimilarityError, compare_folder
    from autograder.similarity.detect import Settings
    from autograder.similarity.pages import summary, write_report

    in_course = course_dir is not None or (submissions is None and (Path.cwd() / "deepgrade.toml").is_file())
    try:
        if in_course:
            from autograder.gradebook import CourseError, load_course
            from autograder.similarity.course import course_settings, inputs_digest

            try:
                course = load_course(course_dir)
            except CourseError as exc:
                raise SimilarityError(str(exc)) from None
            base, refs, with_solution = course_settings(course)
            topics = [topic] if topic else course.topics
            unknown = [t for t in topics if t not in course.assignments]
            if unknown:
                raise SimilarityError(f"{unknown[0]!r} is not an assignment of this course ({', '.join(course.topics)})")
            jobs = [(t, course.submissions_dir / t, out_dir / t if out_dir and len(topics) > 1 else
                     out_dir or course.root / "reports" / "similarity" / t) for t in topics]
            refs = refs + [Path(r) for r in references]
            with_solution = with_solution or include_solution
        else:
            if topic is None or submissions is None:
                raise click.UsageError(f"Missing argument '{'TOPIC' if topic is None else 'SUBMISSIONS'}' "
                                       "(or pass --course DIR for a course).")
            base, refs, with_solution = Settings(), list(references), include_solution
            jobs = [(topic, submissions, out_dir or Path("similarity") / topic)]
        settings = _settings(base, threshold, min_matched).check()
        results = []
        for t, folder, out in jobs:
            if in_course and not folder.is_dir():
                click.echo(f"{t}: no submissions folder {folder}; skipped", err=True)
                continue
            report = compare_folder(t, folder, references=refs, settings=settings, include_solution=with_solution)
            digest = inputs_digest(t, [folder, *refs], settings, with_solution) if in_course else ""
            index = write_report(report, out, inputs=digest)
            results.append((report, index))
    except SimilarityError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        data = [dict(summary(r), report=str(i)) for r, i in results]
        click.echo(json.dumps(data[0] if len(data) == 1 and not in_course else data, indent=2))
        return
    for report, index in results:
        _echo_report(report, index)


def register(main: click.Group) -> None:
    """Add `deepgrade similarity` to the main command."""
    main.add_command(similarity)
