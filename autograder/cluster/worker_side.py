"""What runs on a Dask worker: a plugin that owns deepgrade's sandbox, and the grading task.

The plugin starts the sandbox's fork server once, when the worker starts (never from a task
thread), and stops it with the worker. A task carries the submissions' bytes (no shared
filesystem is assumed) and returns plain result dictionaries.
"""

from __future__ import annotations

from typing import Any

from autograder import __version__

PLUGIN_NAME = "deepgrade-sandbox"
_state: dict[str, Any] = {"sandbox": None, "error": None}


def engine_fingerprint() -> dict:
    """What must match between client and workers: deepgrade's version and every topic's graders."""
    from autograder.grading import available_topics, grader_version

    return {"version": __version__, "graders": {t: grader_version(t) for t in available_topics()}}


class WorkerMismatch(RuntimeError):
    """This worker's deepgrade differs from the client's."""


class SandboxRefused(RuntimeError):
    """This worker cannot confine student code, so it does not grade."""


def _describe(sandbox: Any) -> dict:
    from autograder.sandbox import tiers

    return {"tier": tiers.NAMES.get(sandbox.tier, str(sandbox.tier)), "isolation": sandbox.isolation,
            "confined": sandbox.tier != tiers.UNCONFINED}


try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # the cluster extra is not installed; nothing here is used then
    WorkerPlugin = object  # type: ignore[assignment,misc]


class SandboxPlugin(WorkerPlugin):
    """Start the fork server when a worker starts; close it when the worker closes."""

    name = PLUGIN_NAME

    def setup(self, worker: Any = None) -> None:
        from autograder.sandbox import Limits, Sandbox

        one_blas_thread_now()
        try:
            sandbox = Sandbox(Limits())
            # Tier 2 hides the installed references and graders by mode only: check them now, as a
            # fresh worker uid, so a worker that would expose them refuses when the client connects.
            sandbox.check_hidden(sandbox.hide)
            _state["sandbox"], _state["error"] = sandbox, None
        except Exception as exc:  # noqa: BLE001 - reported to the client by worker_status
            _state["sandbox"], _state["error"] = None, f"{type(exc).__name__}: {exc}"

    def teardown(self, worker: Any = None) -> None:
        sandbox, _state["sandbox"] = _state["sandbox"], None
        if sandbox is not None:
            sandbox.close()


def one_blas_thread_now() -> None:
    """One BLAS thread in this worker process, as ``deepgrade`` grades (``autograder.one_blas_thread``).
    `dask worker` loaded NumPy before any of our code ran, so the environment is too late here:
    threadpoolctl sets the loaded libraries' own limit. Without it, OpenBLAS's idle threads spin
    on the cores the sandbox workers need after every matrix product the graders compute."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an older [cluster] install: slower, never wrong
        return
    threadpool_limits(1)


def worker_status() -> dict:
    """Run on each worker when the client connects: its deepgrade and its sandbox tier."""
    sandbox = _state["sandbox"]
    status = {"fingerprint": engine_fingerprint(), "error": _state["error"]}
    status.update(_describe(sandbox) if sandbox is not None else {"tier": "none", "isolation": "",
                                                                     "confined": False})
    return status


def grade_task(jobs: list[dict], options: dict, fingerprint: dict) -> list[dict]:
    """Grade one student's submissions in this worker's sandbox; plain result dicts back."""
    from autograder.grading import Job, run_session

    mine = engine_fingerprint()
    if mine != fingerprint:
        raise WorkerMismatch(f"worker has deepgrade {mine['version']} (graders {mine['graders']}), "
                             f"client has {fingerprint['version']} (graders {fingerprint['graders']})")
    sandbox = _state["sandbox"]
    if sandbox is None or sandbox.proc.poll() is not None:
        # The fork server died (or the plugin could not start one): start a fresh one here.
        SandboxPlugin().setup()
        sandbox = _state["sandbox"]
    if sandbox is None:
        raise SandboxRefused(f"this worker could not start deepgrade's sandbox: {_state['error']}")
    if not _describe(sandbox)["confined"]:
        raise SandboxRefused(f"this worker would grade unconfined ({sandbox.isolation}); it refuses")
    results: list[dict] = []
    run_session([Job(j["student_id"], j["topic"], j["files"], j.get("note", "")) for j in jobs],
                lambda r: results.append(r.to_dict()), sandbox=sandbox, **options)
    return results
