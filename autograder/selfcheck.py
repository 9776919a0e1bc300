"""`deepgrade check`: a topic's public tests against a student's own file, through the sandbox.

The public tests are ordinary pytest files that import the student's module by name
(``from activations import sigmoid``). Here that name is a stand-in module whose functions
and classes live in a sandboxed worker, exactly as the graders see a submission: every call
has a time limit (an infinite loop fails its test instead of hanging), values come back as
plain data, and a notebook is graded as its code cells. On a student's laptop confinement is
not the point (it is their own code), so the sandbox may run without namespaces there.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from autograder.build import ASSIGNMENTS
from autograder.sandbox import NotPlainData, Remote, Sandbox, Submission, SubmissionError


class CheckError(ValueError):
    """The check cannot run (unknown topic, missing file); the message is one line for the student."""


def _settle(remote: Remote) -> Any:
    """A worker value as the test sees it: plain data fetched, anything else (a function, an
    object of the student's class) kept in the worker behind a ``WorkerValue``."""
    try:
        return remote.fetch()
    except NotPlainData:
        return WorkerValue(remote)


def _unwrap(value: Any) -> Any:
    if isinstance(value, WorkerValue):
        return value._remote
    if type(value) in (list, tuple):
        return type(value)(_unwrap(v) for v in value)
    if type(value) is dict:
        return {k: _unwrap(v) for k, v in value.items()}
    return value


class WorkerValue:
    """Something that lives in the worker: call it, read its attributes, index it."""

    __slots__ = ("_remote",)

    def __init__(self, remote: Remote) -> None:
        self._remote = remote

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _settle(getattr(self._remote, name))

    def __getitem__(self, key: Any) -> Any:
        return _settle(self._remote[key])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _settle(self._remote(*_unwrap(args), **_unwrap(kwargs)))

    def __repr__(self) -> str:
        return f"<{self._remote.label} in the sandbox>"


class SandboxedModule(types.ModuleType):
    """The student's module as the public tests import it."""

    def __init__(self, name: str, sub: Submission) -> None:
        super().__init__(name)
        self._sub = sub

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or not self._sub.has(name):
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        return _settle(getattr(self._sub, name))


class _ShortFailures:
    """A test that failed in the student's code shows the teaching message, not the proxy's traceback."""

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Any:
        outcome = yield
        report = outcome.get_result()
        exc = call.excinfo.value if call.excinfo is not None else None
        if isinstance(exc, SubmissionError) and report.failed:
            report.longrepr = f"{item.name}: {exc.teaching_message()}"


def submission_files(topic: str, path: Path) -> tuple[dict[str, bytes], str]:
    """The student's file as ``<topic>.py`` (a notebook converted) with its folder's other modules."""
    from autograder.grading import MAX_FILE_BYTES, failing_module
    from autograder.intake import read_folder, student_modules

    intake = read_folder(path.parent, max_bytes=MAX_FILE_BYTES)
    files, notes = student_modules(intake, path.stem)
    if path.name in intake.problems:
        raise CheckError(f"{path} cannot be checked: {intake.problems[path.name]}")
    if path.suffix == ".ipynb":
        files[f"{topic}.py"] = files.pop(f"{path.stem}.py", None) or failing_module(f"{path.name} was not read")
    elif path.name in intake.files:
        files[f"{topic}.py"] = intake.files[path.name]
    else:
        raise CheckError(f"{path} is not a .py or .ipynb file")
    return files, "; ".join(notes)


def _sandbox() -> Sandbox:
    try:  # `check` runs the student's own code on their own machine: time limits, not confinement
        return Sandbox(allow_unconfined=True)  # type: ignore[call-arg]
    except TypeError:  # an engine without sandbox tiers
        return Sandbox()


def run_public_tests(topic: str, path: str | Path, *, call_timeout: float = 2.0,
                     echo: Callable[[str], None] = print, pytest_args: list[str] | None = None) -> int:
    """Run ``topic``'s public tests against ``path`` (.py or .ipynb) in the sandbox; pytest's exit code."""
    tests = ASSIGNMENTS / topic / f"test_{topic}.py"
    if not tests.exists():
        topics = sorted(p.name for p in ASSIGNMENTS.iterdir() if (p / f"test_{p.name}.py").exists())
        raise CheckError(f"no public tests for {topic!r}; topics: {', '.join(topics)}")
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise CheckError(f"{path} not found; pass the path of your {topic}.py or {topic}.ipynb")
    files, note = submission_files(topic, path)
    if note:
        echo(note)
    with _sandbox() as sandbox:
        sub = Submission(sandbox, topic, files, call_timeout=call_timeout, import_timeout=max(5.0, 2 * call_timeout))
        try:
            sub._connection()
        except SubmissionError as exc:
            echo(exc.teaching_message())
            return 1
        saved = sys.modules.get(topic)
        sys.modules[topic] = SandboxedModule(topic, sub)
        try:
            with tempfile.TemporaryDirectory(prefix="deepgrade-check-") as tmp:
                shutil.copy(tests, tmp)
                code = pytest.main([str(Path(tmp) / tests.name), "-q", "--tb=short", "-p", "no:cacheprovider",
                                    "--rootdir", tmp, "-c", "/dev/null", *(pytest_args or [])],
                                   plugins=[_ShortFailures()])
            printed = sub.output()
        finally:
            sub.close()
            if saved is None:
                sys.modules.pop(topic, None)
            else:
                sys.modules[topic] = saved
    if printed.strip():
        echo("Your code printed:\n" + printed.rstrip())
    return int(code)
