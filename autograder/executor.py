"""Grading executors: hand out grading jobs, get results back as they complete.

An executor is what a long-running caller (the submission service) grades through: it never
grades in the caller's process. ``submit`` queues a job under a key of the caller's choosing;
``completed`` yields ``(key, result_or_error)`` pairs as grading finishes, in completion order,
so one slow submission never holds back the ones behind it.

``LocalExecutor`` is the default: a few worker processes, each with its own sandbox fork
server, fed from one queue (work is handed out, not pre-split) and recycled after a number of
jobs so a leak in a grader or in NumPy cannot grow without bound. A cluster executor (Dask)
implements the same protocol.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Protocol

from autograder.grading import DEFAULT_CALL_TIMEOUT, DEFAULT_CHECK_TIMEOUT, Job, run_session
from autograder.results import SubmissionResult


@dataclass(frozen=True)
class JobFailed:
    """Grading could not produce a result (a worker died, the graders crashed)."""

    message: str


Outcome = SubmissionResult | JobFailed


class Executor(Protocol):
    """Where grading runs. Implementations: ``LocalExecutor`` (processes on this machine)."""

    def submit(self, key: Hashable, job: Job) -> None:
        """Queue ``job``; its outcome comes back from ``completed`` under ``key``."""

    def completed(self, timeout: float | None = None) -> Iterator[tuple[Hashable, Outcome]]:
        """Outcomes that are ready, waiting up to ``timeout`` seconds for the first one."""

    def pending(self) -> int:
        """Jobs submitted whose outcome has not been yielded yet."""

    def close(self) -> None:
        """Stop the workers (queued jobs are dropped: the caller's queue still holds them)."""


def _worker(jobs: multiprocessing.Queue, out: multiprocessing.Queue, options: dict, batch: int,
            recycle_after: int) -> None:
    """One grading process: take up to ``batch`` queued jobs at a time, grade them in one session."""
    done = 0
    while done < recycle_after:
        first = jobs.get()
        if first is None:
            return
        taken = [first]
        while len(taken) < batch:
            try:
                more = jobs.get_nowait()
            except queue.Empty:
                break
            if more is None:
                jobs.put(None)  # leave the stop signal for a sibling, finish this batch first
                break
            taken.append(more)
        # A session grades each (student, topic) once; the same pair twice goes in the next batch.
        unique, again = [], []
        seen: set = set()
        for key, job in taken:
            (again if (job.student_id, job.topic) in seen else unique).append((key, job))
            seen.add((job.student_id, job.topic))
        for key, job in again:
            jobs.put((key, job))
        key_of = {(job.student_id, job.topic): key for key, job in unique}
        sent: set = set()

        def emit(result: SubmissionResult, key_of: dict = key_of, sent: set = sent) -> None:
            k = key_of[(result.student_id, result.topic)]
            sent.add(k)
            out.put((k, result.to_dict(), None))

        try:
            run_session([job for _, job in unique], emit, **options)
        except BaseException as exc:  # noqa: BLE001 - reported per job; the caller decides
            for key, _ in unique:
                if key not in sent:
                    out.put((key, None, f"{type(exc).__name__}: {exc}"))
        done += len(unique)
    out.put(("__recycled__", None, None))


class LocalExecutor:
    """``workers`` grading processes on this machine, recycled every ``recycle_after`` jobs."""

    def __init__(self, workers: int | None = None, *, call_timeout: float = DEFAULT_CALL_TIMEOUT,
                 check_timeout: float = DEFAULT_CHECK_TIMEOUT, hide: list[str] | None = None, batch: int = 2,
                 recycle_after: int = 200, job_timeout: float = 300.0) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.options = {"call_timeout": call_timeout, "check_timeout": check_timeout, "hide": list(hide or [])}
        self.batch, self.recycle_after, self.job_timeout = batch, recycle_after, job_timeout
        # spawn, not fork: the caller is a threaded server, and a fork would copy its locks mid-use.
        self.ctx = multiprocessing.get_context("spawn")
        self.jobs: multiprocessing.Queue = self.ctx.Queue()
        self.out: multiprocessing.Queue = self.ctx.Queue()
        self.procs: list = []
        self.waiting: dict[Hashable, tuple[Job, float]] = {}
        self.lock = threading.Lock()
        self._top_up()

    def _top_up(self) -> None:
        self.procs = [p for p in self.procs if p.is_alive()]
        while len(self.procs) < self.workers:
            p = self.ctx.Process(target=_worker, args=(self.jobs, self.out, self.options, self.batch,
                                                       self.recycle_after), daemon=True)
            p.start()
            self.procs.append(p)

    def submit(self, key: Hashable, job: Job) -> None:
        with self.lock:
            self.waiting[key] = (job, time.monotonic())
        self.jobs.put((key, job))

    def pending(self) -> int:
        with self.lock:
            return len(self.waiting)

    def completed(self, timeout: float | None = None) -> Iterator[tuple[Hashable, Outcome]]:
        deadline = time.monotonic() + (timeout or 0.0)
        while True:
            wait = max(0.0, deadline - time.monotonic())
            try:
                key, payload, error = self.out.get(timeout=wait) if wait else self.out.get_nowait()
            except queue.Empty:
                self._top_up()
                yield from self._overdue()
                return
            if key == "__recycled__":
                self._top_up()
                continue
            with self.lock:
                if self.waiting.pop(key, None) is None:
                    continue  # already reported (timed out) or never ours
            yield key, (SubmissionResult.from_dict(payload) if payload is not None else JobFailed(error))
            deadline = time.monotonic()  # drain what is ready, then return

    def _overdue(self) -> Iterator[tuple[Hashable, Outcome]]:
        """Jobs a dead or stuck worker will never report (their worker is replaced by _top_up)."""
        now = time.monotonic()
        with self.lock:
            late = [k for k, (_, t) in self.waiting.items() if now - t > self.job_timeout]
            for k in late:
                del self.waiting[k]
        for k in late:
            yield k, JobFailed(f"no result within {self.job_timeout:g} s (the grading process died or hung)")

    def close(self) -> None:
        for _ in self.procs:
            self.jobs.put(None)
        for p in self.procs:
            p.join(timeout=2)
            if p.is_alive():
                p.kill()
        self.procs = []
