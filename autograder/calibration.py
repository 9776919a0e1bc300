"""Per-call time limits derived from the reference solution's own cost, and a slow one's.

A flat 2 s per call let a function that never returns cost seconds per topic (every check
and every other function that calls it waits out its own limit). Instead, the graders run
once (per grader version and machine, cached on disk) on the reference ``solutions/<topic>.py``
and on ``solutions/slow/<topic>.py``, the same solution written with plain Python loops over
every element (the slowest code a student may reasonably write), recording how long each
function's calls take. A student's call may then use ``factor`` times the reference's slowest
call and ``margin`` times the slow solution's slowest call in CPU time, never less than
``min_floor`` (``floor`` for a function the slow solution does not time) and never more than
the instructor's ceiling. So the limit follows what unvectorised code needs call by call:
a few hundredths of a second for an activation on a small batch, tenths for initializing a
large matrix element by element. The slow solution is timed per call as well, keyed by what
its cost depends on (``proxy.call_key``: the function, the shapes of the array arguments, the
values of the others); a call with a key it timed gets that call's room, any other call its
function's slowest, so a 3 x 4 matrix is not given the time of a 512 x 512 one. After a time-out, the calls of functions that may call the
one that timed out (``Submission.tight``), and after a second time-out every call, get a
tighter limit: one looping function (often called by others) then costs a fraction of a
second for the whole topic, and correct but slow functions that do not call it keep their
full limit.

CPU time, not wall time, is what a call is held to, so a loaded machine does not fail
correct code; wall time may run to ``wall_factor`` times the CPU limit (a call that sleeps
or blocks uses no CPU time).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autograder.sandbox import Sandbox

FLOOR = 0.25  # CPU seconds a call may take when no slow solution says what loops over its inputs cost
MIN_FLOOR = 0.05  # CPU seconds any call may take: room for a lazy import or a first call's set-up
FACTOR = 50.0  # times the reference's slowest call of the same function
SLOW_MARGIN = 8.0  # times the slow (Python-loop) solution's slowest call (5x room; a single timing run may read 1.6x low) ...
CHARGE = 0.02  # ... plus what a call may be charged beyond its CPU time (proxy.CPU_POLL, one clock tick)
TIGHT_FLOOR = 0.05  # after a time-out, for what may call the function that timed out
TIGHT_FACTOR = 10.0
IDLE = 0.1  # seconds a call may sleep or wait (not for a CPU): graded code never needs to
WALL_FACTOR = 4.0  # wall time a call may take, per CPU second of its limit (a loaded machine)
WALL_EXTRA = 0.25  # ... plus this much (scheduling, a worker start)


@dataclass(frozen=True)
class CallLimits:
    """CPU-time limits for calls into one submission's functions, from the reference's timings.

    ``reference`` maps a function (or class) name to the slowest call of it the reference
    made under the graders, in seconds; a name the reference never called gets ``ceiling``.
    ``slow``: the same for the slow solution (empty when the topic has none), and, under a
    ``proxy.call_key``, its slowest call with that key.
    """

    reference: dict[str, float] = field(default_factory=dict)
    ceiling: float = 2.0
    floor: float = FLOOR
    factor: float = FACTOR
    slow: dict[str, float] = field(default_factory=dict)
    margin: float = SLOW_MARGIN
    min_floor: float = MIN_FLOOR
    tight_floor: float = TIGHT_FLOOR
    tight_factor: float = TIGHT_FACTOR

    def keyed(self, name: str) -> bool:
        """Can a call of ``name`` get less than its function's room, given its ``call_key``?
        (Only then is the key worth working out: the function's slowest call needs more than
        the least room there is.)"""
        ref = self.reference.get(name)
        return ref is not None and self._room(ref, self.slow.get(name)) > self.min_floor

    def _room(self, ref: float, slow: float | None) -> float:
        """An untightened call's CPU limit before the ceiling, from the reference's and the slow
        solution's times for it (``slow`` None: the slow solution never made it)."""
        room = self.floor if slow is None else max(self.min_floor, self.margin * slow + CHARGE)
        return max(room, self.factor * ref)

    def cpu_limit(self, name: str, after_timeout: bool = False, calls: int = 1, key: str | None = None) -> float:
        """CPU seconds ``calls`` calls of ``name`` sent together may take (tighter once the
        submission has timed out): each call the limit a request of its own has. In a pipeline
        the worker holds each call to its own limit (a looping call costs one limit, not the
        sum); the sum is the parent's backstop for code that defeats the worker's timers, and
        the submission's ``Budget`` caps that. A smaller backstop would fail a correct but slow
        solution that a request per call lets through. ``key``: the call's ``proxy.call_key`` (its
        room then follows the slow solution's calls with the same key, if it made any)."""
        calls = max(1, calls)
        ref = self.reference.get(name)
        if ref is None:
            return self.ceiling * calls
        if after_timeout:
            limit = max(self.tight_floor, self.tight_factor * ref)
        else:
            slow = self.slow.get(key) if key is not None else None
            if slow is None:
                slow = self.slow.get(name)
            elif key in self.reference:
                ref = self.reference[key]  # the reference's own cost on the same call
            limit = self._room(ref, slow)
        return min(self.ceiling, limit) * calls

    def idle_limit(self, name: str, after_timeout: bool = False) -> float:
        """Seconds a call of ``name`` may sleep or wait (not for a CPU): ``IDLE`` (room for a
        file read or a lazy import), at most its CPU limit."""
        return min(self.cpu_limit(name, after_timeout), IDLE)

    @staticmethod
    def wall_limit(cpu_limit: float) -> float:
        """Wall seconds a call held to ``cpu_limit`` CPU seconds may take."""
        return WALL_FACTOR * cpu_limit + WALL_EXTRA


_memo: dict[tuple[str, str], dict[str, float]] = {}
SLOW = "slow3"  # the slow solution's kind in its cache file's name (its format's version)


def cache_dir() -> Path:
    """Where reference timings are kept: $DEEPGRADE_CACHE, else $XDG_CACHE_HOME/deepgrade, else ~/.cache/deepgrade."""
    if os.environ.get("DEEPGRADE_CACHE"):
        return Path(os.environ["DEEPGRADE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "deepgrade"


def reference_path(topic: str) -> Path:
    from autograder.grading import GRADERS_DIR

    return GRADERS_DIR.parents[1] / "solutions" / f"{topic}.py"


def slow_path(topic: str) -> Path:
    return reference_path(topic).parent / "slow" / f"{topic}.py"


def reference_timings(topic: str, sandbox: Sandbox | None = None) -> dict[str, float] | None:
    """The slowest call of each function when the graders run the reference (None: no reference).

    Measured once per grader version and machine, then read from the cache.
    """
    return _timings(topic, reference_path(topic), "", sandbox, runs=2, modes=(False, True))


def slow_timings(topic: str, sandbox: Sandbox | None = None) -> dict[str, float]:
    """The slowest call of each function when the graders run the slow solution (empty: none).

    Measured call by call (the worker times each call of a pipeline), so a pipeline of small
    and large calls does not hide its largest behind their average; also under each call's
    ``proxy.call_key``; with the graders' pipelines and step by step (their fallback), which
    make some calls the other does not. Once per grader and slow-solution version and
    machine, then read from the cache.
    """
    return _timings(topic, slow_path(topic), SLOW, sandbox, runs=1, modes=(False, True)) or {}


def _function_maxima(timings: dict[str, float]) -> dict[str, float]:
    """``timings`` with each function's slowest call at least as slow as any of its keyed calls."""
    timings = dict(timings)
    for key, t in list(timings.items()):
        name = key.split("\n", 1)[0]
        if name != key:
            timings[name] = max(t, timings.get(name, 0.0))
    return timings


def uncalibrated(topics: list[str]) -> list[str]:
    """The topics whose time limits this machine has not measured yet (a first grading does,
    about a second per topic)."""
    return [t for t in topics
            if any(source.is_file() and not _cache_path(t, source, kind).is_file()
                   for source, kind in ((reference_path(t), ""), (slow_path(t), SLOW)))]


def _cache_path(topic: str, source: Path, kind: str) -> Path:
    from autograder.grading import grader_version

    version = grader_version(topic)
    if kind:  # the reference is in grader_version already; anything else is keyed by its own content
        version += "-" + kind + "-" + hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    # "t3": calls in a pipeline timed one by one by the worker, keyed, both ways the graders call
    return cache_dir() / "calibration" / f"{topic}-{version}-t3-py{sys.version_info[0]}{sys.version_info[1]}.json"


def _timings(topic: str, source: Path, kind: str, sandbox: Sandbox | None, runs: int,
             modes: tuple[bool, ...]) -> dict[str, float] | None:
    if not source.is_file():
        return None
    path = _cache_path(topic, source, kind)
    key = (topic, str(path))  # the cache folder too: a test (or user) may point DEEPGRADE_CACHE elsewhere
    if key in _memo:
        return _memo[key]
    try:
        timings = {str(k): float(v) for k, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        timings = {}
        for step_by_step in modes:  # the slowest call of each, whichever way the graders called it
            for name, t in measure(topic, source.read_bytes(), sandbox, runs=runs, step_by_step=step_by_step).items():
                timings[name] = max(t, timings.get(name, 0.0))
        _save(path, timings)
    _memo[key] = timings = _function_maxima(timings)
    return timings


def measure(topic: str, source: bytes, sandbox: Sandbox | None = None, runs: int = 2,
            step_by_step: bool = False) -> dict[str, float]:
    """Grade ``source`` as the submission for ``topic`` and return each function's slowest call.

    Timed in wall time from this process: a busy machine only ever makes a call look slower
    (never faster), so the smallest of ``runs`` gradings is the closest to the real cost.
    ``step_by_step``: every call a request of its own (a pipeline's calls share its time).
    """
    from autograder.graders import stepwise
    from autograder.grading import DEFAULT_CALL_TIMEOUT, Job, run_session

    best: dict[str, float] = {}
    saved, stepwise.ALWAYS_STEP_BY_STEP = stepwise.ALWAYS_STEP_BY_STEP, step_by_step
    try:
        for _ in range(runs):
            timings: dict[str, float] = {}
            run_session([Job("reference", topic, {f"{topic}.py": source})], lambda r: None,
                        call_timeout=DEFAULT_CALL_TIMEOUT, sandbox=sandbox, timings=timings)
            best = {name: min(t, best.get(name, t)) for name, t in timings.items()}
    finally:
        stepwise.ALWAYS_STEP_BY_STEP = saved
    return best


def _save(path: Path, timings: dict[str, float]) -> None:
    """Write atomically (grading processes may calibrate at the same time); a cache that
    cannot be written only costs the next run a calibration."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(timings, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError:
        pass


def call_limits(topic: str, ceiling: float, sandbox: Sandbox | None = None) -> CallLimits | None:
    """Limits for ``topic``'s calls, at most ``ceiling`` CPU seconds each (None: no reference to measure)."""
    timings = reference_timings(topic, sandbox)
    if timings is None:
        return None
    return CallLimits(reference=timings, ceiling=ceiling, slow=slow_timings(topic, sandbox))
