"""The dispatcher: a thread in the server that hands queued submissions to a grading executor
and commits each result the moment it arrives. It never grades in the server's process."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from autograder import __version__
from autograder.executor import Executor, JobFailed, LocalExecutor
from autograder.gradebook.course import Course
from autograder.gradebook.store import Gradebook
from autograder.grading import grader_version
from autograder.service import submissions
from autograder.service.settings import ServiceSettings

log = logging.getLogger("deepgrade.service")


class Dispatcher:
    """Feeds the gradebook's queue to ``executor`` (default: ``LocalExecutor(workers)``)."""

    def __init__(self, course: Course, settings: ServiceSettings, *, workers: int | None = None,
                 executor: Callable[[], Executor] | None = None, poll: float = 0.2) -> None:
        self.course, self.settings, self.poll = course, settings, poll
        self.make_executor = executor or (lambda: LocalExecutor(workers, hide=[str(course.root)]))
        # Jobs handed to the executor at once: enough that no worker waits for the next one, few enough
        # that a crash requeues little and a regrade of everything does not jump ahead of students.
        self.capacity = 3 * max(1, workers or os.cpu_count() or 1)
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.executor: Executor | None = None
        self.run_id: int | None = None
        self.regrade_run_id: int | None = None  # staff regrades go in a forced run: the regrade history
        self.reasons: dict[int, str] = {}
        self.recovered = 0

    def start(self) -> None:
        """Requeue what a previous server left running, open a run, start feeding workers."""
        with Gradebook.open(self.course.db_path) as book:
            book.mark_interrupted_runs()  # we hold the course lock: any "running" run is dead
            self.recovered = submissions.recover(book)
            self.run_id = book.start_run(__version__, {t: grader_version(t) for t in self.course.topics}, False)
        self.executor = self.make_executor()
        self.thread = threading.Thread(target=self._loop, name="deepgrade-dispatch", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
        if self.executor is not None:
            self.executor.close()
        with Gradebook.open(self.course.db_path) as book:
            for run_id in (self.run_id, self.regrade_run_id):
                if run_id is not None:
                    book.finish_run(run_id)

    def _loop(self) -> None:
        assert self.executor is not None and self.run_id is not None
        book = Gradebook.open(self.course.db_path)  # this thread's own connection
        try:
            while not self.stopping.is_set():
                try:
                    self._step(book)
                except Exception:  # noqa: BLE001 - a bad entry must not stop grading for everyone
                    log.exception("dispatcher step failed; continuing")
                    self.stopping.wait(1.0)
        finally:
            book.close()

    def _step(self, book: Gradebook) -> None:
        executor = self.executor
        assert executor is not None
        free = self.capacity - executor.pending()
        if free > 0:
            for row in submissions.claim(book, free):
                try:
                    job = submissions.job_for(self.course, row)
                except Exception as exc:  # noqa: BLE001 - the upload cannot be read: say so on the entry
                    submissions.fail(book, row["id"], f"could not read the upload: {exc}")
                    continue
                self.reasons[row["id"]] = row["reason"]
                executor.submit(row["id"], job)
        for key, outcome in executor.completed(timeout=self.poll):
            reason = self.reasons.pop(int(key), "submit")
            if isinstance(outcome, JobFailed):
                state = submissions.fail(book, int(key), outcome.message)
                log.warning("grading queue entry %s failed (%s): %s", key, state, outcome.message)
                continue
            run_id = self.run_id
            if reason == "regrade":
                if self.regrade_run_id is None:
                    versions = {t: grader_version(t) for t in self.course.topics}
                    self.regrade_run_id = book.start_run(__version__, versions, True)
                run_id = self.regrade_run_id
            submissions.complete(book, self.course, self.settings, run_id, int(key), outcome)
