"""The client side of cluster grading: connect, check the workers, hand out work, stream results.

A task is one student's submissions (all the topics of this run), so each task is one pytest
session on a worker. Results come back in completion order (``as_completed``), and the caller
commits each the moment it arrives, so a client killed mid-batch loses nothing it was told.
A worker that dies mid-task has its task rerun elsewhere by the scheduler; a submission that
kills workers again and again (``KilledWorker``) becomes that student's result, not a crash.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Hashable, Iterator
from dataclasses import replace
from typing import Any

from autograder.cluster.settings import ClusterError, ClusterSettings
from autograder.cluster.worker_side import SandboxPlugin, engine_fingerprint, grade_task, worker_status
from autograder.grading import Job
from autograder.results import SubmissionResult

ENGINE_NAME = "dask"


def _job_payload(job: Job) -> dict:
    return {"student_id": job.student_id, "topic": job.topic, "files": dict(job.files), "note": job.note}


class ClusterConnection:
    """A checked connection to a Dask scheduler whose workers run deepgrade's sandbox."""

    def __init__(self, settings: ClusterSettings, *, min_workers: int = 1) -> None:
        settings.validate()
        try:
            from distributed import Client
        except ImportError:
            raise ClusterError("grading on a cluster needs Dask: pip install 'deepgrade[cluster]'") from None
        self.settings = settings
        try:
            self.client = Client(settings.scheduler, security=settings.security(),
                                 timeout=settings.connect_timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot reach the scheduler at {settings.scheduler}: {exc}") from None
        try:
            self.client.wait_for_workers(min_workers, timeout=settings.connect_timeout)
            self.client.register_plugin(SandboxPlugin(), name=SandboxPlugin.name)
            self.fingerprint = engine_fingerprint()
            self.workers = self.check_workers()
        except BaseException:
            self.client.close()
            raise

    def check_workers(self) -> dict[str, dict]:
        """Every worker's deepgrade and sandbox tier; refuse mismatched or unconfined workers."""
        try:
            statuses = self.client.run(worker_status)
        except TimeoutError as exc:
            raise ClusterError(f"the workers did not answer: {exc}") from None
        if not statuses:
            raise ClusterError(f"no workers are connected to {self.settings.scheduler}")
        for address, status in sorted(statuses.items()):
            theirs = status["fingerprint"]
            if theirs != self.fingerprint:
                differs = sorted(t for t in set(theirs["graders"]) | set(self.fingerprint["graders"])
                                 if theirs["graders"].get(t) != self.fingerprint["graders"].get(t))
                raise ClusterError(
                    f"worker {address} runs deepgrade {theirs['version']}, this client {self.fingerprint['version']}"
                    + (f"; graders differ for {', '.join(differs)}" if differs else "")
                    + ": install the same deepgrade (and graders) on every worker")
            if status["error"] or not status["confined"]:
                why = status["error"] or status["isolation"]
                raise ClusterError(f"worker {address} cannot confine student code ({why}); it would grade "
                                   "unconfined, so the cluster is refused (run `deepgrade doctor` on that machine)")
        return statuses

    @property
    def description(self) -> str:
        tiers = sorted({s["tier"] for s in self.workers.values()})
        return f"dask cluster {self.settings.scheduler}: {len(self.workers)} worker(s), sandbox {', '.join(tiers)}"

    def close(self) -> None:
        self.client.close(timeout=10)


def failed_result(job: Job, message: str) -> SubmissionResult:
    """Every check of ``job``'s topic at 0, each saying why (the graders ran no student code)."""
    from autograder.grading import run_session

    class _NotGraded:  # no student code runs: the graders only list their checks
        isolation = "not graded"

        def check_hidden(self, paths: object) -> None:
            pass

    got: list[SubmissionResult] = []
    run_session([Job(job.student_id, job.topic, {}, job.note)], got.append, sandbox=_NotGraded())  # type: ignore[arg-type]
    result = got[0]
    result.checks = [replace(c, output=message, score=0.0, status="failed") for c in result.checks]
    result.output = message
    return result


def grade_on_cluster(jobs: list[Job], settings: ClusterSettings, options: dict,
                     on_result: Callable[[SubmissionResult], None] | None = None) -> list[SubmissionResult]:
    """Grade ``jobs`` on the cluster, one task per student, results handed over as they complete."""
    from distributed import as_completed
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    conn = ClusterConnection(settings)
    results: list[SubmissionResult] = []
    futures: dict = {}
    try:
        by_student: dict[str, list[Job]] = {}
        for job in jobs:
            by_student.setdefault(job.student_id, []).append(job)
        for student, group in sorted(by_student.items()):
            payload = [_job_payload(j) for j in group]
            # pure=False: a regrade of the same bytes is real work, not a cached answer.
            future = conn.client.submit(grade_task, payload, options, conn.fingerprint, pure=False,
                                        key=f"deepgrade-{student}-{id(payload)}")
            futures[future] = group
        for future in as_completed(list(futures), loop=conn.client.loop):
            group = futures[future]
            try:
                batch = [SubmissionResult.from_dict(d) for d in future.result()]
            except (KilledWorker, FutureCancelledError) as exc:
                why = ("grading this submission stopped the grading worker again and again "
                       f"({type(exc).__name__}); it was not graded")
                batch = [failed_result(j, why) for j in group]
            except Exception as exc:  # noqa: BLE001 - a worker's refusal stops the batch; anything else is this student's
                name = type(exc).__name__
                if name in ("WorkerMismatch", "SandboxRefused"):
                    raise ClusterError(str(exc)) from None
                batch = [failed_result(j, f"grading failed on the cluster ({name}: {exc}); ask your instructor")
                         for j in group]
            for result in batch:
                results.append(result)
                if on_result:
                    on_result(result)
    finally:
        if futures:
            conn.client.cancel(list(futures))  # an interrupted batch leaves no work queued on the cluster
        conn.close()
    return results


class DaskExecutor:
    """The service's executor protocol (``autograder.executor``) on a Dask cluster."""

    def __init__(self, settings: ClusterSettings, *, options: dict | None = None) -> None:
        self.conn = ClusterConnection(settings)
        self.options = dict(options or {})
        self._done: queue.Queue = queue.Queue()
        self._waiting: dict[Hashable, object] = {}
        self._lock = threading.Lock()

    def submit(self, key: Hashable, job: Job) -> None:
        future = self.conn.client.submit(grade_task, [_job_payload(job)], self.options, self.conn.fingerprint,
                                         pure=False)
        with self._lock:
            self._waiting[key] = future
        future.add_done_callback(lambda f, key=key, job=job: self._done.put((key, job, f)))

    def pending(self) -> int:
        with self._lock:
            return len(self._waiting)

    def completed(self, timeout: float | None = None) -> Iterator[tuple[Hashable, object]]:
        from autograder.executor import JobFailed

        block = timeout is not None and timeout > 0
        while True:
            try:
                key, job, future = self._done.get(timeout=timeout) if block else self._done.get_nowait()
            except queue.Empty:
                return
            block = False
            with self._lock:
                self._waiting.pop(key, None)
            try:
                yield key, SubmissionResult.from_dict(future.result()[0])
            except Exception as exc:  # noqa: BLE001 - the caller records it as a failed job
                yield key, JobFailed(f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        self.conn.close()


def dask_executor_factory(settings: ClusterSettings, course: Any) -> Callable[[], DaskExecutor]:
    """What ``deepgrade serve`` grades through on a cluster: a ``DaskExecutor`` with the course's limits."""
    from autograder.grading import DEFAULT_CALL_TIMEOUT, DEFAULT_CHECK_TIMEOUT

    options = {"call_timeout": DEFAULT_CALL_TIMEOUT, "check_timeout": DEFAULT_CHECK_TIMEOUT, "hide": [],
               "budget": getattr(course, "budget", None)}
    return lambda: DaskExecutor(settings, options=options)
