"""Grade a folder of submissions and write what instructors and LMSs read.

Layout written to ``out_dir`` for one topic::

    <out_dir>/<student folder>/results.json   Gradescope schema
    <out_dir>/grades.csv                      student_id, score, max_score, one column per check
    <out_dir>/summary.json                    the same, for machines

With several topics each gets its own sub-folder ``<out_dir>/<topic>/``. A student's
folder is named ``autograder.names.output_name(student_id)``: the id itself when it is a
plain file name, otherwise an encoded name (``_<readable>-<hash>``) that never collides with
another student's or with grades.csv / summary.json; summary.json maps ids to folders.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autograder.cluster.settings import ClusterSettings
from autograder.grading import (
    DEFAULT_CHECK_TIMEOUT,
    Job,
    available_topics,
    grade_jobs,
    jobs_for_folder,
)
from autograder.names import output_name, printable
from autograder.results import SubmissionResult, atomic_write, write_grades_csv, write_results_json
from autograder.sandbox.proxy import Budget


class BatchError(ValueError):
    """deepgrade itself cannot run this batch (bad topic, missing folder)."""


@dataclass
class BatchReport:
    """What one ``grade`` run produced."""

    topics: list[str]
    results: list[SubmissionResult]
    out_dir: Path
    isolation: str = ""

    def by_topic(self, topic: str) -> list[SubmissionResult]:
        return sorted((r for r in self.results if r.topic == topic), key=lambda r: r.student_id)

    def summary(self) -> dict:
        return {
            "topics": self.topics,
            "out_dir": str(self.out_dir),
            "students": sorted({r.student_id for r in self.results}),
            "results": [
                {"student_id": r.student_id, "folder": output_name(r.student_id), "topic": r.topic,
                 "score": r.score, "max_score": r.max_score,
                 "failed_checks": [c.check_id for c in r.checks if not c.passed]}
                for r in sorted(self.results, key=lambda r: (r.topic, r.student_id))
            ],
        }


def resolve_topics(spec: str) -> list[str]:
    """'all', one topic, or a comma-separated list -> validated topic names."""
    known = available_topics()
    wanted = known if spec == "all" else [t.strip() for t in spec.split(",") if t.strip()]
    unknown = [t for t in wanted if t not in known]
    if unknown or not wanted:
        raise BatchError(f"unknown topic {', '.join(unknown) or spec!r}; choose from: {', '.join(known)} or 'all'")
    return wanted


def grade_folder(topic_spec: str, submissions_dir: Path, out_dir: Path, *, workers: int | None = None,
                 call_timeout: float | None = None, check_timeout: float = DEFAULT_CHECK_TIMEOUT,
                 on_result: Callable[[SubmissionResult], None] | None = None,
                 jobs: list[Job] | None = None, budget: Budget | None = None,
                 cluster: ClusterSettings | None = None) -> BatchReport:
    """Grade every student folder in ``submissions_dir`` and write the outputs.

    ``budget``: what one submission may cost per topic (default ``Budget()``). ``cluster``: grade on
    that Dask scheduler instead of local processes.
    """
    topics = resolve_topics(topic_spec)
    submissions_dir = Path(submissions_dir)
    check_submissions_dir(submissions_dir, topics)
    if jobs is None:
        jobs = jobs_for_folder(submissions_dir, topics)
    if not jobs:
        raise BatchError(f"no student folders in {submissions_dir} (expected <student_id>/<topic>.py)")
    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    results = grade_jobs(jobs, workers=workers, call_timeout=call_timeout, check_timeout=check_timeout,
                         hide=[submissions_dir, out_dir], on_result=on_result, budget=budget, cluster=cluster)
    report = BatchReport(topics, results, out_dir)
    write_outputs(report)
    return report


def check_submissions_dir(submissions_dir: Path, topics: list[str]) -> None:
    """A clear error unless ``submissions_dir`` is a folder (a file given there is named as such)."""
    if submissions_dir.is_file():
        topic = topics[0] if len(topics) == 1 else "TOPIC"
        raise BatchError(f"{submissions_dir} is a file, but SUBMISSIONS is a folder with one folder per student "
                         f"(<student_id>/<topic>.py): put it in one (e.g. subs/<student_id>/{submissions_dir.name}) "
                         f"and grade subs/; `deepgrade check {topic} {submissions_dir}` runs the public tests on it")
    if not submissions_dir.is_dir():
        raise BatchError(f"submissions folder {submissions_dir} does not exist")


def check_out_dir(out_dir: Path) -> None:
    """Create ``out_dir`` and make sure files can be written in it, before anything is graded."""
    if out_dir.exists() and not out_dir.is_dir():
        raise BatchError(f"--out {out_dir} is a file, not a folder; choose a folder for the results")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as exc:
        raise BatchError(f"cannot write results into {out_dir}: {exc.strerror or exc}") from None


def write_outputs(report: BatchReport) -> None:
    """results.json per student, grades.csv and summary.json per topic."""
    for topic in report.topics:
        folder = report.out_dir if len(report.topics) == 1 else report.out_dir / topic
        results = report.by_topic(topic)
        for r in results:
            write_results_json(r, folder / output_name(r.student_id) / "results.json")
        write_grades_csv(results, folder / "grades.csv")
    atomic_write(report.out_dir / "summary.json", json.dumps(report.summary(), indent=2) + "\n")


def class_table(report: BatchReport) -> str:
    """A plain-text table: one row per student, one column per topic, then the total."""
    students = sorted({r.student_id for r in report.results})
    cells = {(r.student_id, r.topic): r for r in report.results}
    shown = {s: printable(s) for s in students}  # an id may hold terminal escape sequences
    width = max([len("student"), *map(len, shown.values())])
    cols = [max(len(t), 7) for t in report.topics]
    head = "student".ljust(width) + "  " + "  ".join(t.rjust(w) for t, w in zip(report.topics, cols)) + "    total"
    lines = [head, "-" * len(head)]
    for s in students:
        row, total, total_max = [], 0.0, 0.0
        for t, w in zip(report.topics, cols):
            r = cells.get((s, t))
            row.append(f"{r.score:g}".rjust(w) if r else "-".rjust(w))
            if r:
                total, total_max = total + r.score, total_max + r.max_score
        pct = f"{100 * total / total_max:5.1f}%" if total_max else "   -  "
        lines.append(shown[s].ljust(width) + "  " + "  ".join(row) + f"   {pct}")
    return "\n".join(lines)
