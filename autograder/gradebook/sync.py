"""`deepgrade grade --course`: grade what is new or changed, record each result as it arrives.

A run, under the course lock:
1. roster, extensions and the submission folders are recorded (content hash, submission
   time from a manifest; without one, no late penalty unless deepgrade.toml opts in to
   first-seen or mtime times);
2. late days are recomputed from the current due dates, extensions and policies;
3. every current submission not yet graded by the current graders (or all, with force) is
   graded; each result is committed in its own transaction the moment it arrives;
4. quizzes whose answer key or responses changed are regraded.

Killed at any point, the next run grades exactly what has no committed result: nothing is
lost and nothing is graded twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from autograder import __version__
from autograder.cluster.settings import ClusterSettings
from autograder.gradebook.course import Course, CourseError, course_warnings
from autograder.gradebook.manifest import lookup, manifest_times
from autograder.gradebook.store import Gradebook, Scanned
from autograder.grading import Job, grade_jobs, grader_version
from autograder.intake import Intake, IntakeError, failing_module, read_folder, student_modules
from autograder.names import student_id_from_folder
from autograder.results import SubmissionResult
from autograder.sandbox.proxy import Budget

LOCK_FILE = ".deepgrade.lock"


class CourseBusy(RuntimeError):
    """Another grading run holds the course."""


class CourseLock:
    """An exclusive lock on a course folder, held for a whole grading run.

    POSIX record locks (``lockf``) are released by the kernel when the holder dies, even by
    SIGKILL, and are not inherited by forked grading processes, so a killed run never leaves
    a stale lock behind. Within one process a second holder is refused too.
    """

    _held: set[str] = set()
    _guard = threading.Lock()

    def __init__(self, root: Path, *, wait: float = 0.0) -> None:
        self.path = Path(root) / LOCK_FILE
        self.wait = wait
        self.fd: int | None = None

    def __enter__(self) -> CourseLock:
        import fcntl

        key = str(self.path.resolve())
        deadline = time.monotonic() + self.wait
        while True:
            # Open, lock and close only under the guard, and never while this process holds the
            # lock: closing any descriptor of the file would drop a POSIX lock we hold.
            with self._guard:
                if key in self._held:
                    holder = f"{os.getpid()} (this process)"
                else:
                    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                    try:
                        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError:
                        holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
                        os.close(fd)
                    else:
                        self._held.add(key)
                        self.fd = fd
                        break
            if time.monotonic() >= deadline:
                raise CourseBusy(self._busy_message(holder))
            time.sleep(0.1)
        stamp = datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()} {stamp}\n".encode(), 0)
        return self

    def _busy_message(self, holder: str) -> str:
        pid, _, started = holder.partition(" ")
        waited = f" (waited {self.wait:g} s)" if self.wait else ""
        if "deepgrade serve" in started:  # the submission service holds the course while it runs
            return (f"`deepgrade serve` is serving this course (pid {pid or '?'}){waited}; regrade from its "
                    "dashboard, or stop it first")
        return (f"another `deepgrade grade` is grading this course (pid {pid or '?'}, started {started or '?'})"
                f"{waited}; let it finish, or pass --wait SECONDS to queue behind it")

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            with self._guard:
                self._held.discard(str(self.path.resolve()))
                os.close(self.fd)  # closing releases the lockf lock
            self.fd = None


def content_hash(files: dict[str, bytes]) -> str:
    """sha256 over the folder's .py files, names included (a rename is a change)."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + len(files[name]).to_bytes(8, "big") + files[name])
    return h.hexdigest()


NO_TIME = "none"  # time_source of a submission whose time nobody trustworthy recorded: never late


def _read(course: Course, topic: str, folder: Path) -> Intake | None:
    """One student's folder for one topic, read safely; None when nothing was handed in."""
    try:
        intake = read_folder(folder, root=course.submissions_dir / topic)
    except IntakeError as exc:
        return Intake(problems={folder.name: str(exc)})
    return intake if intake.files or intake.problems else None


def scan(course: Course, topics: list[str]) -> list[Scanned]:
    """Every student folder that holds a submission, per topic (empty folders: not submitted).

    A student's latest files for the course's other topics come along, as in ``grade all``
    (``regularization.py`` may import the same student's ``optimizers.py``); the folder's own
    files win. The content hash is ``<own files>:<those sibling files>``, so a changed
    sibling regrades the topic while the first part still identifies the submission itself.
    Submission times come from the course's ``submission_time`` source (see ``_when``).
    """
    folders: dict[tuple[str, str], Path] = {}
    for topic in course.topics:
        base = course.submissions_dir / topic
        if base.is_dir():
            with os.scandir(base) as entries:
                for e in entries:
                    if not e.name.startswith(".") and e.is_dir():
                        folders[(topic, e.name)] = base / e.name
    intakes: dict[tuple[str, str], Intake | None] = {}
    modules: dict[tuple[str, str], tuple[dict[str, bytes], list[str]]] = {}

    def intake_of(topic: str, name: str) -> Intake | None:
        if (topic, name) not in intakes:
            intakes[(topic, name)] = _read(course, topic, folders[(topic, name)])
        return intakes[(topic, name)]

    def modules_of(topic: str, name: str, intake: Intake) -> tuple[dict[str, bytes], list[str]]:
        if (topic, name) not in modules:  # a folder is read and its notebooks converted once per scan
            modules[(topic, name)] = student_modules(intake, topic)
        return modules[(topic, name)]

    found = []
    for topic in topics:
        if not (course.submissions_dir / topic).is_dir():
            continue
        times, source = manifest_times(course.submissions_dir, topic, course.timezone)
        for name in sorted(n for t, n in folders if t == topic):
            own = intake_of(topic, name)
            if own is None:
                continue
            student = student_id_from_folder(name)
            files, notes = modules_of(topic, name, own)
            files = dict(files)
            if f"{topic}.py" not in files and own.problems.get(name):
                files[f"{topic}.py"] = failing_module(own.problems[name])
            siblings: dict[str, bytes] = {}
            for other in course.topics:
                if other == topic or (other, name) not in folders:
                    continue
                theirs = intake_of(other, name)
                if theirs is not None:
                    for file, data in modules_of(other, name, theirs)[0].items():
                        if file not in files and file not in siblings and file != f"{topic}.py":
                            siblings[file] = data
            digest = content_hash(files) + (f":{content_hash(siblings)}" if siblings else "")
            when, how = _when(course, times, source, student, topic, own)
            shown = student_id_from_folder(str(folders[(topic, name)].relative_to(course.root)))
            found.append(Scanned(student, topic, Path(shown),
                                 {**siblings, **files}, "; ".join(notes), digest, when, how))
    return found


def _when(course: Course, times: dict, source: str, student: str, topic: str, own: Intake) -> tuple[datetime, str]:
    """The submission time and where it came from.

    A manifest row (the LMS's record) always wins. Without one: ``manifest`` (the default)
    records no time and applies no late penalty; ``first-seen`` is when deepgrade first saw
    this content; ``mtime`` is the files' modification time, which the student controls.
    """
    when = lookup(times, student, topic)
    if when is not None:
        return when, source
    now = datetime.now(timezone.utc)
    if course.submission_time == "mtime" and own.mtime is not None:
        return datetime.fromtimestamp(own.mtime, timezone.utc), "mtime"
    if course.submission_time == "first-seen":
        return now, "first-seen"
    return now, NO_TIME


@dataclass
class SyncReport:
    """What one course grading run did."""

    graded: list[SubmissionResult] = field(default_factory=list)
    skipped: int = 0
    scanned: int = 0
    quizzes: dict[str, int] = field(default_factory=dict)  # quiz -> students graded (0: unchanged)
    run_id: int | None = None
    elapsed: float = 0.0
    unknown_students: list[str] = field(default_factory=list)  # submitted but not on the roster
    warnings: list[str] = field(default_factory=list)  # missing due dates and submission times


Grader = Callable[..., list[SubmissionResult]]


def grade_course(course: Course, topics: list[str] | None = None, *, force: bool = False,
                 workers: int | None = None, call_timeout: float | None = None, wait: float = 0.0,
                 grader: Grader = grade_jobs, on_plan: Callable[[int, int], None] | None = None,
                 on_result: Callable[[SubmissionResult], None] | None = None,
                 budget: Budget | None = None, cluster: ClusterSettings | None = None) -> SyncReport:
    """Grade the course's new and changed submissions into its gradebook (see the module docstring).

    ``budget``: what one submission may cost per topic (default: the course's [grading], else ``Budget()``).
    ``cluster``: grade on this Dask scheduler (default: the course's [cluster], else on this machine).
    """
    start = time.perf_counter()
    topics = topics or course.topics
    unknown = [t for t in topics if t not in course.assignments]
    if unknown:
        raise CourseError(f"{', '.join(unknown)} is not assigned in {course.root / 'deepgrade.toml'} "
                          f"(assigned: {', '.join(course.topics)})")
    report = SyncReport()
    with CourseLock(course.root, wait=wait), Gradebook.open(course.db_path) as book:
        book.mark_interrupted_runs()
        roster = course.roster()
        book.sync_roster(roster)
        book.sync_extensions(course)
        scanned = scan(course, topics)
        report.scanned = len(scanned)
        on_roster = {e.student_id for e in roster}
        report.unknown_students = sorted({s.student_id for s in scanned} - on_roster) if roster else []
        ids = book.record_submissions(scanned)
        report.warnings = grading_warnings(course, scanned)
        book.refresh_lateness(course)
        versions = {t: grader_version(t) for t in topics}
        todo = [s for s in scanned if force or not book.is_graded(ids[(s.student_id, s.topic)], versions[s.topic])]
        report.skipped = len(scanned) - len(todo)
        if on_plan:
            on_plan(len(todo), report.skipped)
        if todo:
            run_id = report.run_id = book.start_run(__version__, versions, force)

            def record(result: SubmissionResult) -> None:
                book.record_grading(run_id, ids[(result.student_id, result.topic)], result, course)
                report.graded.append(result)
                if on_result:
                    on_result(result)

            jobs = [Job(s.student_id, s.topic, s.files, s.note) for s in todo]
            try:
                budget = budget or course.budget
                grader(jobs, workers=workers, call_timeout=call_timeout, hide=[course.root], on_result=record,
                       **({"budget": budget} if budget else {}),
                       **({"cluster": cluster or course.cluster} if cluster or course.cluster else {}))
            except BaseException:
                book.finish_run(run_id, "failed")
                raise
            book.finish_run(run_id)
        report.quizzes = grade_quizzes(course, book, force=force)
    report.elapsed = time.perf_counter() - start
    return report


def grading_warnings(course: Course, scanned: list[Scanned]) -> list[str]:
    """Why late penalties may not be what the instructor expects (said at `grade` and in the report)."""
    warnings = course_warnings(course)
    untimed: dict[str, int] = {}
    for s in scanned:
        if s.time_source == NO_TIME and course.assignments[s.topic].due is not None:
            untimed[s.topic] = untimed.get(s.topic, 0) + 1
    for topic, n in untimed.items():
        warnings.append(f"{n} submission(s) of {topic} have no submission time (no manifest row): no late penalty "
                        f"is applied to them; add submissions/{topic}/manifest.csv from your LMS, or set "
                        "submission_time in deepgrade.toml (see the README)")
    return warnings


def grade_quizzes(course: Course, book: Gradebook, *, force: bool = False) -> dict[str, int]:
    """Grade each configured quiz whose answer key or responses changed; write its quiz report too."""
    from quizzes.errors import QuizError
    from quizzes.grading import grade, load_key
    from quizzes.report import write_grading

    done = {}
    for quiz in course.quizzes.values():
        if not quiz.responses.is_file():
            done[quiz.name] = 0  # not held yet
            continue
        try:
            key = load_key(quiz.key)
            h = hashlib.sha256(json.dumps(key, sort_keys=True).encode() + quiz.responses.read_bytes()).hexdigest()
            if not force and book.quiz_source_hash(quiz.name) == h:
                done[quiz.name] = 0
                continue
            grading = grade(quiz.key, quiz.responses)
        except QuizError as exc:
            raise CourseError(f"quiz {quiz.name}: {exc}") from None
        done[quiz.name] = book.record_quiz(quiz.name, grading.results, h, grading.question_ids)
        write_grading(grading, course.root / "reports" / f"quiz_{quiz.name}")
    return done
