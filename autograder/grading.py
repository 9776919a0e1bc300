"""Grade submissions: hidden pytest graders run in this process, student code in the sandbox.

``grade_file`` grades one file; ``grade_jobs`` grades many (student, topic) jobs, in
parallel processes, each running one pytest session whose ``submission`` fixture is
parametrized over its students. Results flow out as ``SubmissionResult`` objects.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import select
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _pytest.runner import runtestprotocol

from autograder import __version__
from autograder.dependencies import apply_requirements
from autograder.results import VISIBILITIES, CheckResult, SubmissionResult
from autograder.sandbox import Limits, Sandbox, Submission, SubmissionError
from autograder.sandbox.proxy import Budget, Meter, PendingWorker
from autograder.sandbox.wire import WireError

if TYPE_CHECKING:
    from autograder.calibration import CallLimits

GRADERS_DIR = Path(__file__).resolve().parent / "graders"
GRADING_INI = GRADERS_DIR / "grading.ini"
MAX_FILE_BYTES = 1_000_000
DEFAULT_CALL_TIMEOUT = 2.0
DEFAULT_CHECK_TIMEOUT = 10.0


def available_topics() -> list[str]:
    """Topics that have hidden graders, in curriculum order."""
    order = ["activations", "initialization", "normalization", "residual", "clipping", "optimizers",
             "regularization"]
    found = {p.stem.removeprefix("test_") for p in GRADERS_DIR.glob("test_*.py")}
    return [t for t in order if t in found] + sorted(found - set(order))


def grader_version(topic: str) -> str:
    """A short content hash of a topic's graders and reference (changes when either does)."""
    import hashlib

    h = hashlib.sha256()
    for path in (GRADERS_DIR / f"test_{topic}.py", GRADERS_DIR / "conftest.py"):
        if path.exists():
            h.update(path.read_bytes())
    ref = GRADERS_DIR.parents[1] / "solutions" / f"{topic}.py"
    if ref.exists():
        h.update(ref.read_bytes())
    return h.hexdigest()[:12]


@dataclass(frozen=True)
class Job:
    """One student's submission for one topic."""

    student_id: str
    topic: str
    files: dict = field(hash=False, compare=False)  # file name -> bytes (the topic file and its siblings)
    note: str = ""


def read_student_files(folder: Path, topic: str | None = None, *, root: Path | None = None
                       ) -> tuple[dict[str, bytes], str]:
    """The modules of one student's folder (siblings may import each other), and notes.

    Read by ``autograder.intake``: only regular files directly in the folder, never through
    a link; anything else is named in the notes and left out (a topic file that could not be
    read becomes a module whose import says why). A notebook ``<name>.ipynb`` stands in for
    ``<name>.py`` (converted out of process, see ``autograder.notebooks``); when both exist
    the .py wins. Notes about notebooks other than ``topic``'s are left out of that topic's
    result. ``root``: the folder must lie inside it (the folder itself may be a link).
    """
    from autograder.intake import IntakeError, read_folder, student_modules

    try:
        intake = read_folder(folder, root=root, max_bytes=MAX_FILE_BYTES)
    except IntakeError as exc:
        files = {f"{topic}.py": failing_module(str(exc))} if topic else {}
        return files, str(exc)
    files, notes = student_modules(intake, topic)
    return files, "; ".join(notes)


def failing_module(reason: str) -> bytes:
    """Module source whose import fails with ``reason`` (see ``autograder.intake``)."""
    from autograder.intake import failing_module as make

    return make(reason)


def jobs_for_folder(submissions_dir: Path, topics: Iterable[str]) -> list[Job]:
    """One job per (student folder, topic); a missing topic file still yields a (zero) job.

    Student ids are the folder names (as valid UTF-8 text, see ``autograder.names``); a
    folder that is a link must resolve inside ``submissions_dir``.
    """
    from autograder.intake import IntakeError, read_folder, student_modules
    from autograder.names import student_id_from_folder

    jobs, seen = [], set()
    with os.scandir(submissions_dir) as entries:
        folders = sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir())
    for name in folders:
        student_id = student_id_from_folder(name)
        while student_id in seen:  # only a non-UTF-8 name can collide with a real one; keep both
            student_id += "~"
        seen.add(student_id)
        try:  # read once per student, whatever the number of topics
            intake = read_folder(Path(submissions_dir) / name, root=submissions_dir, max_bytes=MAX_FILE_BYTES)
        except IntakeError as exc:
            jobs += [Job(student_id, t, {f"{t}.py": failing_module(str(exc))}, str(exc)) for t in topics]
            continue
        for topic in topics:
            files, notes = student_modules(intake, topic)
            jobs.append(Job(student_id, topic, files, "; ".join(notes)))
    return jobs


# ---------------------------------------------------------------------------- pytest plugin

PLUGIN_KEY = pytest.StashKey["GradingPlugin"]()


class GradingPlugin:
    """Parametrizes the graders' ``submission`` fixture and turns reports into results.

    What a submission prints, raises or returns can only carry what its worker has seen, so a
    submission's checks run by visibility class: visible, then after_due_date, then
    after_published, then hidden. Whatever a check shows the student was produced before any
    less visible check gave the worker an input, so nothing can carry such an input back (a
    fresh worker per class would add nothing to this, at twice the cost). Printed output goes
    where its class is shown: the import's and the visible checks' into the result's notes,
    read when the visible class ends; any other check's into that check's own output.
    """

    name = "deepgrade"

    def __init__(self, jobs: list[Job], sandbox: Sandbox, on_result: Callable[[SubmissionResult], None], *,
                 call_timeout: float, check_timeout: float, hide: list[str], budget: Budget | None = None,
                 call_limits: dict[str, CallLimits] | None = None, timings: dict[str, float] | None = None) -> None:
        self.jobs = jobs
        self.call_limits = call_limits or {}  # topic -> per-function CPU limits (None: flat call_timeout)
        self.timings = timings  # calibration: records each function's slowest call
        self.sandbox = sandbox
        self.on_result = on_result
        self.call_timeout = call_timeout
        self.check_timeout = check_timeout
        self.hide = hide
        self.budget = budget or Budget()
        self.current: tuple[int, str] | None = None  # (job key, visibility class) of the live worker
        self.live: Submission | None = None
        self.checks: dict[int, list[tuple[int, CheckResult]]] = {i: [] for i in range(len(jobs))}  # (grader order, check)
        self.order: dict[str, int] = {}
        self.meters: dict[int, Meter] = {}
        self.printed: dict[int, list[str]] = {i: [] for i in range(len(jobs))}  # shown in the result's notes
        self.import_shown: set[int] = set()
        self.remaining: dict[int, int] = {}
        self.item_class: str = "visible"
        self.done: set[int] = set()
        self.following: dict[int, int] = {}  # job key -> the key graded after it
        self.prestarted: dict[int, PendingWorker] = {}  # job key -> its first worker, started ahead
        self.direct = False  # every check is a plain function of ``submission``: call it directly

    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[PLUGIN_KEY] = self

    # --------------------------------------------------------------- collection
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "submission" not in metafunc.fixturenames:
            return
        topic = metafunc.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
        keys = [i for i, job in enumerate(self.jobs) if job.topic == topic]
        metafunc.parametrize("submission", keys, indirect=True, ids=[self.jobs[k].student_id for k in keys])

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        keyed = [(self._key(item), n, item) for n, item in enumerate(items)]
        keyed = [k for k in keyed if k[0] is not None]
        # One submission's checks together, by visibility class, each class in the graders' order.
        keyed.sort(key=lambda k: (k[0], VISIBILITY_ORDER[visibility(k[2])], k[1]))
        items[:] = [item for _, _, item in keyed]
        self.direct = all(self._plain(item) for item in items)
        self.order = {item.nodeid: n for _, n, item in keyed}
        self.remaining = {}
        for key, _, _ in keyed:
            self.remaining[key] = self.remaining.get(key, 0) + 1
        order = list(self.remaining)
        self.following = dict(zip(order, order[1:]))

    @staticmethod
    def _key(item: pytest.Item) -> int | None:
        callspec = getattr(item, "callspec", None)
        return callspec.params.get("submission") if callspec else None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool:
        """One check. When every check of the session asks for nothing but ``submission`` (as
        the graders do), the check function is called directly (``_run_direct``); otherwise
        pytest's own protocol runs (setup, call, teardown, each reported to
        ``pytest_runtest_makereport`` below) without the log hooks, which nothing here listens
        to (no terminal, no JUnit)."""
        key = self._key(item)
        self.item_class = visibility(item)
        try:
            if self.direct and key is not None:
                self._run_direct(item, key)
            else:
                runtestprotocol(item, nextitem=nextitem, log=False)
        finally:
            if key is not None:
                self.remaining[key] -= 1
                if self.remaining[key] == 0:  # the submission's last check
                    self.finish_current()
                    self._emit(key)
        return True

    @staticmethod
    def _plain(item: pytest.Item) -> bool:
        """Does ``item`` need nothing of pytest's protocol: a plain test function whose only
        fixture is ``submission``, with no marker that pytest itself acts on?"""
        return (type(item) is pytest.Function and set(item.fixturenames) <= {"submission", "request"}
                and item._fixtureinfo.argnames == ("submission",)
                and not any(m.name in PYTEST_ACTS_ON for m in item.iter_markers()))

    def _run_direct(self, item: pytest.Function, key: int) -> None:
        """The check without pytest's per-test machinery (fixture resolution, setup and
        teardown stacks, hook calls, the PYTEST_CURRENT_TEST variable), which cost about half
        a millisecond of the grading process's CPU per check, 40 ms per student: the
        ``submission`` fixture's value, then the function, each recorded as pytest's protocol
        would record it (``_on_phase``)."""
        reraise = (pytest.exit.Exception, KeyboardInterrupt)
        setup = pytest.CallInfo.from_call(lambda: self.submission_for(key), when="setup", reraise=reraise)
        if setup.excinfo is not None:
            self._on_phase(item, key, setup)
            return
        submission = setup.result
        self._on_phase(item, key, pytest.CallInfo.from_call(lambda: item.obj(submission=submission), when="call",
                                                            reraise=reraise))

    # --------------------------------------------------------------- the fixture's backend
    def submission_for(self, key: int) -> Submission:
        """The live worker for ``key``; where the visibility class changes, the class before ends."""
        if self.current is None or self.current[0] != key:
            self.finish_current()
            job = self.jobs[key]
            meter = self.meters.setdefault(key, Meter(self.budget))
            meter.resume()
            self.live = Submission(self.sandbox, job.topic, job.files, call_timeout=self.call_timeout,
                                   import_timeout=max(5.0, 2 * self.call_timeout), hide=self.hide, meter=meter,
                                   call_limits=self.call_limits.get(job.topic), timings=self.timings,
                                   prestarted=self.prestarted.pop(key, None))
            self._prestart(self.following.get(key))
        elif self.current[1] != self.item_class:
            self._end_class()
        self.current = (key, self.item_class)
        self.live.deadline = time.monotonic() + self.check_timeout
        return self.live

    def _prestart(self, key: int | None) -> None:
        """Have the fork server set up the next submission's worker while this one is graded
        (on the other core); it runs no student code before that submission's first check."""
        if key is None or key in self.prestarted or key in self.done \
                or f"{self.jobs[key].topic}.py" not in self.jobs[key].files:
            return
        try:
            self.prestarted[key] = self.sandbox.spawn_begin(self.jobs[key].files, self.hide)
        except (OSError, WireError):
            pass  # started when needed instead, where the error is reported against the submission

    def _end_class(self) -> None:
        """Keep what the class that ends may show of the printed output, before any input of the
        next class reaches the worker."""
        (key, cls), sub = self.current, self.live
        if key not in self.import_shown and sub._import_end:
            self.import_shown.add(key)
            self.printed[key].append(sub.import_output())
        if cls == "visible":
            self.printed[key].append(sub.take_output())
        # Other classes' printing was taken check by check; what is left (a teardown's) goes
        # with the next check, which is never more visible.

    def finish_current(self) -> None:
        """End the live class and close the worker."""
        if self.current is None:
            return
        key = self.current[0]
        if self.live is not None:
            self._end_class()
            self.live.close()
        self.meters[key].pause()
        self.current, self.live = None, None

    def _emit(self, key: int) -> None:
        if key in self.done:
            return
        self.done.add(key)
        job = self.jobs[key]
        notes = [self.sandbox.isolation]
        if job.note:
            notes.append(job.note)
        printed = "".join(self.printed[key])
        if printed.strip():
            notes.append("Your code printed:\n" + printed.rstrip())
        meter = self.meters.get(key)
        result = SubmissionResult(
            student_id=job.student_id, topic=job.topic, checks=apply_requirements(job.topic, [c for _, c in sorted(self.checks[key], key=lambda p: p[0])]),
            execution_time=meter.wall if meter else 0.0,
            output="\n".join(notes), engine_version=__version__, grader_version=grader_version(job.topic),
        )
        self.on_result(result)

    # --------------------------------------------------------------- reports
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport | None:
        """Record the check and return a light report (pytest's own formats whole tracebacks)."""
        key = self._key(item)
        if key is None:
            return None
        passed, skipped, message = self._on_phase(item, key, call)
        outcome = "passed" if passed else ("skipped" if skipped and call.when != "call" else "failed")
        # A location without a line number: finding the test's line (item.location) costs more
        # than the rest of the report, and no one here shows it.
        longrepr = None if passed else (str(item.path), 0, message or "failed")
        return pytest.TestReport(item.nodeid, (str(item.path), None, item.name), {}, outcome,
                                 longrepr if outcome != "passed" else None, call.when, (), call.duration,
                                 call.start, call.stop)

    def _on_phase(self, item: pytest.Item, key: int, call: pytest.CallInfo) -> tuple[bool, bool, str]:
        """Record the check when ``call`` (a phase of it) decides it; (passed, skipped, message)."""
        excinfo = call.excinfo
        skipped = excinfo is not None and excinfo.errisinstance(pytest.skip.Exception)
        passed = excinfo is None
        message = "" if passed else failure_message(call)
        if call.when == "call" or (call.when == "setup" and not passed):
            printed = ""
            if self.item_class != "visible" and self.live is not None and self.current == (key, self.item_class):
                printed = self.live.take_output()  # shown only where this check is shown
            if printed.strip():
                message = (message + "\n\n" if message else "") + "Your code printed during this check:\n" + printed.rstrip()
            self._record(item, key, passed and not skipped, message)
        return passed, skipped, message

    def _record(self, item: pytest.Item, key: int, passed: bool, message: str) -> None:
        points = item.get_closest_marker("points")
        max_score = float(points.args[0]) if points else 0.0
        func = getattr(item, "function", None)
        doc = (func.__doc__ or "").strip().splitlines() if func else []
        check_id = item.originalname.removeprefix("test_") if hasattr(item, "originalname") else item.name
        self.checks[key].append((self.order.get(item.nodeid, 0), CheckResult(
            check_id=check_id, name=doc[0] if doc else check_id.replace("_", " "), topic=self.jobs[key].topic,
            score=max_score if passed else 0.0, max_score=max_score,
            status="passed" if passed else "failed", output=message, visibility=visibility(item),
        )))

    def pytest_sessionfinish(self) -> None:
        self.finish_current()
        for pending in self.prestarted.values():
            pending.discard()
        self.prestarted.clear()
        for key in range(len(self.jobs)):
            self._emit(key)


# Markers pytest's own protocol acts on: a check carrying one runs through that protocol.
PYTEST_ACTS_ON = frozenset({"skip", "skipif", "xfail", "usefixtures", "filterwarnings"})

VISIBILITY_ORDER = {"visible": 0, "after_due_date": 1, "after_published": 2, "hidden": 3}


def visibility(item: pytest.Item) -> str:
    """A check's visibility marker (visible when absent or unknown)."""
    vis = item.get_closest_marker("visibility")
    return vis.args[0] if vis and vis.args and vis.args[0] in VISIBILITIES else "visible"


def failure_message(call: pytest.CallInfo) -> str:
    """The teaching message for a failed check."""
    excinfo = call.excinfo
    if excinfo is None:
        return "check failed"
    exc = excinfo.value
    if isinstance(exc, SubmissionError):
        return exc.teaching_message()
    if isinstance(exc, AssertionError):
        return str(exc).split("\nassert ")[0].strip() or "the answer is not correct"
    if isinstance(exc, pytest.skip.Exception):
        return f"check skipped: {exc}"
    # A grader that crashed on this answer: the answer is not credited, and the
    # instructor sees the grader's traceback in the output.
    tail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return f"the grader could not judge this answer ({tail})"


# ---------------------------------------------------------------------------- sessions


_shared_sandbox: Sandbox | None = None


def die_with_parent() -> None:
    """In a grading process started by multiprocessing: exit when the process that started it
    dies, even by SIGKILL (``daemon=True`` only helps on a clean exit). Its fork server and
    workers follow, each set to die with its own parent (PR_SET_PDEATHSIG).

    A pidfd watched by a thread rather than PR_SET_PDEATHSIG here: that signal fires when the
    parent *thread* ends, and a server may start grading processes from short-lived threads.
    """
    global _watching
    parent = multiprocessing.parent_process()
    if parent is None or _watching:  # the user's own process: its life is the user's to decide
        return
    _watching = True
    try:
        pidfd = os.pidfd_open(parent.pid)
    except (AttributeError, OSError):
        pidfd = None
    if os.getppid() != parent.pid:  # it died before we looked (or its pid was reused)
        os._exit(1)

    def watch() -> None:
        if pidfd is not None:
            select.select([pidfd], [], [])  # readable once the parent has exited
        else:
            while os.getppid() == parent.pid:
                time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="deepgrade-parent-watch", daemon=True).start()


_watching = False


def shared_sandbox() -> Sandbox:
    """One fork server per process, started on first use."""
    global _shared_sandbox
    if _shared_sandbox is None or _shared_sandbox.proc.poll() is not None:
        _shared_sandbox = Sandbox(Limits())
    return _shared_sandbox


def run_session(jobs: list[Job], on_result: Callable[[SubmissionResult], None], *,
                call_timeout: float | None = None, check_timeout: float = DEFAULT_CHECK_TIMEOUT,
                hide: Iterable[str | Path] = (), sandbox: Sandbox | None = None,
                budget: Budget | None = None, timings: dict[str, float] | None = None) -> None:
    """Grade ``jobs`` in one pytest session in this process.

    ``call_timeout``: the wall seconds every call into student code may take (the instructor's
    override). None: each function's calls are held to CPU-time limits derived from the
    reference's own calls (``autograder.calibration``), at most ``DEFAULT_CALL_TIMEOUT`` each.
    ``budget`` caps what each job may cost in total (default ``Budget()``); when it is spent
    the job's remaining checks fail with a message saying so. ``timings``: filled with each
    function's slowest call (how calibration measures the reference).
    """
    if not jobs:
        return
    die_with_parent()
    topics = sorted({j.topic for j in jobs})
    missing = [t for t in topics if not (GRADERS_DIR / f"test_{t}.py").exists()]
    if missing:
        raise ValueError(f"no graders for topic(s) {', '.join(missing)}; available: {', '.join(available_topics())}")
    sandbox = sandbox or shared_sandbox()
    sandbox.check_hidden(hide)  # sandbox tier 2 hides by mode: refuse before any student byte if one is open
    limits: dict[str, CallLimits] = {}
    if call_timeout is None:
        from autograder.calibration import call_limits

        call_timeout = DEFAULT_CALL_TIMEOUT
        for topic in topics:
            found = call_limits(topic, DEFAULT_CALL_TIMEOUT, sandbox)
            if found is not None:
                limits[topic] = found
    plugin = GradingPlugin(jobs, sandbox, on_result, call_timeout=call_timeout,
                           check_timeout=check_timeout, hide=[str(Path(h).resolve()) for h in hide],
                           budget=budget, call_limits=limits, timings=timings)
    args = [str(GRADERS_DIR / f"test_{t}.py") for t in topics]
    args += ["-c", str(GRADING_INI), "--rootdir", str(GRADERS_DIR.parents[1]), "-p", "no:terminal",
             "-p", "no:cacheprovider", "-p", "no:stepwise", "-p", "no:logging", "-p", "no:capture",
             "-p", "no:faulthandler", "-p", "no:unraisableexception", "-p", "no:threadexception",
             "-p", "no:warnings", "-p", "no:doctest", "-p", "no:junitxml", "-p", "no:pastebin",
             "-p", "no:nose", "-p", "no:legacypath", "-p", "no:tmpdir", "-p", "no:monkeypatch",
             # nor these (no grader uses recwarn, subtests or a TestCase): ~7 ms of CPU per session
             "-p", "no:debugging", "-p", "no:unittest", "-p", "no:recwarn", "-p", "no:subtests",
             "-p", "no:setuponly", "-p", "no:setupplan", "-p", "no:reports"]
    saved = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # graders need no third-party plugins
    try:
        code = pytest.main(args, plugins=[plugin])
    finally:
        if saved is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = saved
    if code in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        raise RuntimeError(f"the grading session failed (pytest exit code {int(code)})")
    if len(plugin.done) != len(jobs):
        raise RuntimeError("the grading session ended before every submission was graded")


def grade_file(topic: str, path: str | Path, *, student_id: str | None = None,
               call_timeout: float | None = None, check_timeout: float = DEFAULT_CHECK_TIMEOUT
               ) -> SubmissionResult:
    """Grade one file as the submission for ``topic`` (its folder's other .py files come along).

    The file and its siblings are read by the safe reader: a link or a FIFO is named in the
    result and scores 0, it is never followed. A ``.ipynb`` file is graded as its code cells.
    """
    from autograder.intake import read_folder, student_modules

    path = Path(path)
    intake = read_folder(path.parent, max_bytes=MAX_FILE_BYTES)
    files, notes = student_modules(intake, path.stem)
    name = path.name
    if name in intake.problems:
        files[f"{topic}.py"] = failing_module(f"{name} was not graded: {intake.problems[name]}")
    elif path.suffix == ".ipynb":
        files[f"{topic}.py"] = files.pop(f"{path.stem}.py")
    elif name in intake.files:
        files[f"{topic}.py"] = intake.files[name]
    else:
        files[f"{topic}.py"] = failing_module(f"{name} was not graded: it is not a .py or .ipynb file")
    results: list[SubmissionResult] = []
    job = Job(student_id or path.parent.name, topic, files, "; ".join(notes))
    run_session([job], results.append, call_timeout=call_timeout, check_timeout=check_timeout,
                hide=[path.parent])
    return results[0]


def _worker_main(tasks: multiprocessing.Queue, out: multiprocessing.Queue, options: dict) -> None:
    """A grading process: take the next task (a few students' jobs) from the shared queue and
    grade it in one session, until the queue says stop (None)."""
    from autograder.sandbox.proxy import spin_before_waiting

    options = dict(options)
    spin_before_waiting(options.pop("spin", True))
    try:
        while (jobs := tasks.get()) is not None:
            try:
                run_session(jobs, lambda r: out.put(("result", r.to_dict())), **options)
            except Exception as exc:  # noqa: BLE001 - reported to the parent, which decides
                out.put(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        out.put(("finished", None))


STUDENTS_PER_TASK = 8  # at most: a session's start-up (~0.1 s) is paid once per task


def student_tasks(jobs: list[Job], workers: int) -> list[list[Job]]:
    """``jobs`` cut into tasks of whole students (a student's topics stay together: their
    files import each other, and one worker then starts once per student), small enough
    that about four tasks per worker even out a slow student, at most STUDENTS_PER_TASK
    students each."""
    by_student: dict[str, list[Job]] = {}
    for job in jobs:
        by_student.setdefault(job.student_id, []).append(job)
    students = list(by_student.values())
    size = max(1, min(STUDENTS_PER_TASK, len(students) // (4 * workers)))
    return [[job for student in students[i:i + size] for job in student] for i in range(0, len(students), size)]


def grade_jobs(jobs: list[Job], *, workers: int | None = None, call_timeout: float | None = None,
               check_timeout: float = DEFAULT_CHECK_TIMEOUT, hide: Iterable[str | Path] = (),
               on_result: Callable[[SubmissionResult], None] | None = None,
               budget: Budget | None = None, cluster: Any = None) -> list[SubmissionResult]:
    """Grade many jobs, in ``workers`` parallel processes (default: one per core).

    ``budget``: the most each job may cost in total (see ``run_session``). ``cluster``: a
    ``ClusterSettings``; the jobs are then graded on that Dask cluster instead (Dask is only
    imported in that case).
    """
    if cluster is not None:
        from autograder.cluster.executor import grade_on_cluster

        options = {"call_timeout": call_timeout, "check_timeout": check_timeout, "hide": [], "budget": budget}
        return grade_on_cluster(jobs, cluster, options, on_result=on_result)
    workers = max(1, min(workers or os.cpu_count() or 1, len({j.student_id for j in jobs}) or 1))
    results: list[SubmissionResult] = []

    def collect(r: SubmissionResult) -> None:
        results.append(r)
        if on_result:
            on_result(r)

    options = {"call_timeout": call_timeout, "check_timeout": check_timeout, "hide": [str(h) for h in hide],
               "budget": budget}
    if workers == 1:
        run_session(jobs, collect, **options)
        return results
    if call_timeout is None:
        from autograder.calibration import call_limits, uncalibrated

        first = uncalibrated(sorted({j.topic for j in jobs if (GRADERS_DIR / f"test_{j.topic}.py").exists()}))
        if first:  # time the limits once, here, not in every grading process at the same time
            with Sandbox(Limits()) as sandbox:
                for topic in first:
                    call_limits(topic, DEFAULT_CALL_TIMEOUT, sandbox)
    # Work is handed out from a shared queue, a task (a few whole students) at a time, so a
    # worker that drew slow students does not hold back the others.
    ctx = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    tasks, out = ctx.Queue(), ctx.Queue()
    for task in student_tasks(jobs, workers):
        tasks.put(task)
    for _ in range(workers):
        tasks.put(None)
    # As many grading processes as cores: no core is free for polling (see spin_before_waiting).
    worker_options = {**options, "spin": workers < (os.cpu_count() or 1)}
    procs = [ctx.Process(target=_worker_main, args=(tasks, out, worker_options), daemon=True)
             for _ in range(workers)]
    for p in procs:
        p.start()
    finished, errors = 0, []
    while finished < len(procs):
        try:
            kind, payload = out.get(timeout=1.0)
        except queue.Empty:
            if all(not p.is_alive() for p in procs) and out.empty():
                break
            continue
        if kind == "result":
            collect(SubmissionResult.from_dict(payload))
        elif kind == "error":
            errors.append(payload)
        else:
            finished += 1
    for p in procs:
        p.join(timeout=5)
    if errors:
        raise RuntimeError("; ".join(errors))
    got = {(r.student_id, r.topic) for r in results}
    lost = [j for j in jobs if (j.student_id, j.topic) not in got]
    if lost:
        raise RuntimeError(f"{len(lost)} submission(s) were not graded (a grading process died)")
    return results
