"""Parent side of the sandbox: the fork server, worker connections, and the proxy.

Graders call ``submission.relu_derivative(z)``; the call crosses to the worker and what it
returns stays there as a ``Remote`` handle. Only ``fetch()`` brings data back, and only
plain data (see ``wire``). Every request has a wall-clock time limit; a worker that hangs,
crashes or exits fails the request it was serving and is replaced on the next one.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autograder import prestart
from autograder.sandbox import tiers
from autograder.sandbox.isolation import Limits
from autograder.sandbox.wire import Ref, WireError, decode, encode, recv_message, send_message, send_request

if TYPE_CHECKING:
    from autograder.calibration import CallLimits

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # folder holding the autograder package


# ---------------------------------------------------------------------------- errors


class SubmissionError(Exception):
    """The submission could not produce an answer; the check it served scores 0."""

    step: int | None = None  # in a pipeline: the index of the operation that failed ...
    fetched: list | None = None  # ... and the values its fetches before that operation got

    def teaching_message(self) -> str:
        return str(self)


class StudentException(SubmissionError):
    """The student's code raised."""

    def __init__(self, where: str, exc_type: str, message: str, tb: str = "") -> None:
        self.where, self.exc_type, self.message, self.tb = where, exc_type, message, tb
        super().__init__(f"{where} raised {exc_type}: {message}")

    def teaching_message(self) -> str:
        if self.exc_type == "NotImplementedError":
            return f"{self.where} is not implemented yet (it raised NotImplementedError)."
        if self.exc_type == "AttributeError" and self.message.startswith("module ") and "has no attribute" in self.message:
            name = self.message.rsplit("attribute", 1)[-1].strip(" '\"")
            return f"`{name}` is not defined in your file (check the name and spelling; the contract names it exactly)."
        text = f"{self.where} raised {self.exc_type}: {self.message}"
        return text + (f"\n{self.tb.rstrip()}" if self.tb else "")


class StudentTimeout(SubmissionError):
    """A call ran past its time limit."""


class WorkerCrashed(SubmissionError):
    """The worker process died (exit, crash, memory or CPU limit)."""


class NotPlainData(SubmissionError):
    """The student's value is not plain data, so it cannot be judged."""


class ImportFailed(SubmissionError):
    """The student's module could not be imported."""


class _StepFailed(Exception):
    """Operation ``step`` of a pipeline failed with ``reply`` (internal to Pipeline.run)."""

    def __init__(self, step: int, reply: tuple, outcomes: tuple) -> None:
        super().__init__(step)
        self.step, self.reply, self.outcomes = step, reply, outcomes


class BudgetSpent(SubmissionError):
    """The submission used up its total grading budget; the checks left are not run."""


# ---------------------------------------------------------------------------- cost budget


@dataclass(frozen=True)
class Budget:
    """The most grading one submission may cost for one topic, over all its workers.

    Per-call limits alone let a slow import plus many slow calls buy a minute of machine
    time; this caps the total. ``wall`` counts the time its checks run (worker start-ups and
    imports included), ``cpu`` the CPU time of its workers.
    """

    wall: float = 20.0
    cpu: float = 15.0

    def describe(self) -> str:
        return f"{self.wall:g} s of grading time and {self.cpu:g} s of CPU time"


class Meter:
    """What one submission has spent of its ``Budget``.

    Wall time runs only between ``resume`` and ``pause`` (its checks may be interleaved with
    other submissions'). CPU time is read from /proc for live workers and kept for dead
    ones; between readings it is estimated from the clock, which a worker's CPU time cannot
    outrun (a worker has one thread), so the limits it gives are never too generous.
    """

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.wall_spent = 0.0
        self._since: float | None = None
        self._conns: list[Connection] = []
        self._cpu_seen, self._seen_at = 0.0, time.perf_counter()

    def resume(self) -> None:
        if self._since is None:
            self._since = time.perf_counter()

    def pause(self) -> None:
        if self._since is not None:
            self.wall_spent += time.perf_counter() - self._since
            self._since = None

    @property
    def wall(self) -> float:
        """Seconds of grading so far."""
        return self.wall_spent + (time.perf_counter() - self._since if self._since is not None else 0.0)

    def attach(self, conn: Connection) -> None:
        self._conns.append(conn)

    def cpu(self) -> float:
        """CPU seconds of every worker so far (read now)."""
        self._cpu_seen = sum(c.cpu_seconds() for c in self._conns)
        self._seen_at = time.perf_counter()
        return self._cpu_seen

    def left(self, wanted: float) -> float:
        """How long the next request may run (at most ``wanted``) within the budget."""
        wall_left = self.budget.wall - self.wall
        cpu_left = self.budget.cpu - self._cpu_seen - (time.perf_counter() - self._seen_at)
        if cpu_left < min(wanted, wall_left):
            cpu_left = self.budget.cpu - self.cpu()  # near the limit: read the real figure
        return min(wanted, wall_left, cpu_left)

    def spent_message(self) -> str:
        return (f"not run: this submission used up its grading budget ({self.budget.describe()} per topic; "
                f"it used {self.wall:.1f} s and {self.cpu():.1f} s of CPU). Make slow code faster, "
                "code at the top level of your file included.")


# ---------------------------------------------------------------------------- fork server


def hidden_course_paths() -> list[str]:
    """Paths a worker must never see: references, graders, samples, the quiz bank, tests, history."""
    paths = []
    spec = importlib.util.find_spec("solutions")
    if spec is not None:
        paths.extend(str(Path(p).resolve()) for p in (spec.submodule_search_locations or []))
    here = Path(__file__).resolve().parents[1]
    paths += [str(here / "graders"), str(here / "samples")]
    quizzes = importlib.util.find_spec("quizzes")
    if quizzes is not None:  # the quiz bank holds every question's answer
        paths.extend(str(Path(p).resolve() / "bank") for p in (quizzes.submodule_search_locations or []))
    for name in ("tests", ".git", "solutions", "bench", "quizzes/bank"):
        candidate = PACKAGE_ROOT / name
        if candidate.exists():
            paths.append(str(candidate))
    return sorted(set(paths))


class Sandbox:
    """One fork server, started fresh, from which every worker is forked."""

    def __init__(self, limits: Limits | None = None, hide: list[str | Path] = (),
                 allow_unconfined: bool | None = None) -> None:
        """Start the fork server; raises ``SandboxRefused`` where student code cannot be confined.

        ``allow_unconfined``: grade even in tier 3 (no confinement; ``deepgrade check`` on a
        student's own machine, or an instructor's explicit opt-in). Default: the
        ``DEEPGRADE_UNSAFE_NO_SANDBOX=1`` environment variable, which ``--unsafe-no-sandbox`` sets.
        """
        if allow_unconfined is None:
            allow_unconfined = os.environ.get(tiers.UNSAFE_ENV) == "1"
        self.limits = limits or Limits()
        self.hide = sorted(set(hidden_course_paths()) | {str(Path(h).resolve()) for h in hide})
        # A fork server `deepgrade grade` started while it was still importing (see prestart).
        self.proc, parent, self._log = prestart.take_early() or prestart.launch()
        self.ctrl = parent
        self.ctrl.settimeout(60)
        try:
            ready = decode(self.ctrl.recv(65536))
        except (OSError, WireError) as exc:
            self._log.seek(0)
            log = self._log.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"the sandbox fork server did not start: {exc}\n{log}") from None
        _, self.tier, self.reason, self.base_vm = ready
        self.ctrl.settimeout(None)
        self._checked: set[str] = set()
        self.allow_unconfined = allow_unconfined
        # What this machine gives; ``tier`` may step down to 3 (opted in) when course files are open.
        self.machine_tier, self.machine_reason = self.tier, self.reason
        try:
            if self.tier == tiers.UNCONFINED and not allow_unconfined:
                raise tiers.SandboxRefused(tiers.refusal(self.reason))
            self.check_hidden(self.hide)
        except tiers.SandboxRefused:
            self.close()
            raise

    @property
    def isolated(self) -> bool:
        """Tier 1: the worker has namespaces of its own."""
        return self.tier == tiers.NAMESPACES

    @property
    def isolation(self) -> str:
        """One line for every result and the terminal saying which tier confines submissions."""
        return tiers.describe(self.tier, self.reason)

    def check_hidden(self, paths: list[str | Path]) -> None:
        """Refuse (``SandboxRefused``, with the chmod command) if a tier 2 worker could read any of ``paths``.

        Namespaces hide paths by leaving them out of the worker's root; without them only
        ownership and mode do, so this runs before the first student byte (and every worker
        checks again before it starts). Call it with the course folders a run hides.
        """
        exposed = self.exposed(paths)
        if exposed and not self.allow_unconfined:
            raise tiers.SandboxRefused(tiers.exposed_refusal(exposed))
        if exposed:  # opted in: grade, but never call it tier 2 while course files are readable
            self.tier, self.reason = tiers.UNCONFINED, "course files readable by other users: " + ", ".join(exposed)

    def exposed(self, paths: list[str | Path]) -> list[str]:
        """In tier 2, which of ``paths`` a worker's uid could read (checked as a fresh uid); else []."""
        todo = sorted({str(Path(p).resolve()) for p in paths} - self._checked)
        if self.machine_tier != tiers.PRIVILEGE_DROP or not todo:
            return []
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            socket.send_fds(self.ctrl, [encode("preflight")], [theirs.fileno()])
            mine.settimeout(30)
            send_message(mine, todo)
            reply = recv_message(mine)
        except (OSError, EOFError, WireError):
            reply = None  # could not check: count everything as exposed
        finally:
            theirs.close()
            mine.close()
        exposed = [str(p) for p in reply[1]] if isinstance(reply, tuple) and len(reply) == 2 else todo
        self._checked.update(set(todo) - set(exposed))
        return exposed

    def spawn(self, files: dict[str, bytes], hide: list[str] = (), timeout: float = 10.0) -> Connection:
        """Fork a new worker holding ``files`` in its scratch folder, with ``hide`` covered too."""
        return self.spawn_begin(files, hide, timeout).connect()

    def spawn_begin(self, files: dict[str, bytes], hide: list[str] = (), timeout: float = 10.0) -> PendingWorker:
        """Ask for a worker like ``spawn`` without waiting for it: the fork server sets it up
        (no student code runs until the first request) while this process goes on."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # The tier goes with the request: the fork server decides how to start the worker
            # without reading its files (see zygote.serve).
            socket.send_fds(self.ctrl, [encode(("spawn", self.tier))], [theirs.fileno()])
        finally:
            theirs.close()
        mine.settimeout(timeout)
        hidden = sorted(set(self.hide) | {str(Path(h).resolve()) for h in hide})
        try:
            send_message(mine, {"files": files, "hide": hidden, "limits": self.limits.to_dict(), "tier": self.tier})
        except BaseException:
            mine.close()
            raise
        return PendingWorker(mine)

    def close(self) -> None:
        try:
            self.ctrl.close()
        finally:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self._log.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PendingWorker:
    """A worker the fork server is starting (``Sandbox.spawn_begin``)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock: socket.socket | None = sock

    def connect(self) -> Connection:
        """Wait until the worker has started; its connection (``WorkerCrashed`` if it could not)."""
        sock, self.sock = self.sock, None
        if sock is None:
            raise WorkerCrashed("this worker was already taken or discarded")
        try:
            reply = recv_message(sock)
        except BaseException:
            sock.close()
            raise
        if type(reply) is not tuple or reply[0] != "started" or len(reply) < 2 or type(reply[1]) is not int:
            sock.close()
            raise WorkerCrashed(f"the sandbox could not start a worker: {reply[1:] if type(reply) is tuple else reply}")
        # In tier 2 the intermediate kills and sweeps the worker's uid once it ends (tiers.sweep_uid).
        swept = len(reply) > 2 and reply[2] == tiers.NAMES[tiers.PRIVILEGE_DROP]
        return Connection(sock, reply[1], swept=swept)

    def discard(self) -> None:
        """Stop the worker if it started (it never ran student code); idempotent."""
        if self.sock is None:
            return
        try:
            self.connect().kill()
        except (SubmissionError, OSError, EOFError, WireError):
            pass


SPIN_SECONDS = 0.0002
CPU_POLL = 0.01  # how often a call held to a CPU-time limit reads the worker's CPU time
OUTPUT_TIMEOUT = 1.0  # reading printed output runs no student code but a flush of a replaced stdout
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
IMPORT_WALL_FACTOR = 3.0  # wall seconds an import may take, per second of its CPU limit
SWEEP_TIMEOUT = 10.0  # seconds a worker's end waits for its uid's files to be swept (tier 2)
MAX_UNITS = 2_000  # functions and classes a worker's answer about who calls whom may name
MAX_CALLS = 20_000  # ... and names they mention, all together
BLOCKED_STATES = frozenset("SDTtIP")  # /proc/<pid>/stat: asleep, disk wait, stopped, traced, idle, parked


def spin_before_waiting(enabled: bool) -> None:
    """Whether to poll for a worker's reply before blocking (default: yes).

    Polling saves a wake-up per request when a core is free, but takes the CPU from the
    worker when every core is busy (as many grading processes as cores): then it is off.
    """
    global SPIN_SECONDS
    SPIN_SECONDS = 0.0002 if enabled else 0.0


def _spin_until_readable(sock: socket.socket) -> None:
    """Poll briefly before blocking: most replies arrive within ~100 µs, and waking a
    sleeping process costs about as much again on a virtual machine."""
    if not SPIN_SECONDS:
        return
    end = time.perf_counter() + SPIN_SECONDS
    while time.perf_counter() < end:
        if select.select([sock], [], [], 0)[0]:
            return


class Connection:
    """A live worker: request/reply with a time limit, and a kill switch."""

    def __init__(self, sock: socket.socket, pid: int, swept: bool = False) -> None:
        self.sock, self.pid, self.alive = sock, pid, True
        self.swept = swept  # kill() waits until what the worker's uid left behind is removed
        self.final_cpu: float | None = None
        try:
            self.pidfd = os.pidfd_open(pid)  # immune to pid reuse
        except (AttributeError, OSError):
            self.pidfd = None

    def cpu_seconds(self) -> float:
        """CPU time the worker (and children it waited for) has used; kept once it is killed."""
        return self._sample()[1]

    def _sample(self) -> tuple[str, float]:
        """The worker's scheduler state (one letter, "" if unknown) and its CPU seconds so far."""
        if self.final_cpu is not None or not self.alive:
            return "", self.final_cpu or 0.0
        try:
            with open(f"/proc/{self.pid}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            cpu = sum(int(x) for x in fields[11:15]) / _CLOCK_TICKS  # utime stime cutime cstime
            return fields[0].decode("ascii", "replace"), cpu
        except (OSError, IndexError, ValueError):
            return "", 0.0

    def request(self, message: Any, timeout: float, cpu_limit: float | None = None,
                idle_limit: float | None = None) -> Any:
        """Send ``message`` and return the reply; at most ``timeout`` wall seconds and, when
        given, ``cpu_limit`` seconds of the worker's CPU time and ``idle_limit`` seconds asleep
        (then the worker is killed)."""
        if not self.alive:
            raise WorkerCrashed("the worker is gone")
        try:
            self.sock.settimeout(max(timeout, 0.001))
            send_request(self.sock, message)
            _spin_until_readable(self.sock)
            if cpu_limit is not None:
                self._await_reply(timeout, cpu_limit, idle_limit)
            reply = recv_message(self.sock)
        except TimeoutError:
            self.kill()
            raise StudentTimeout(f"did not finish within {timeout:g} s (an infinite loop, or far too slow)") from None
        except (EOFError, OSError, WireError) as exc:
            self.kill()
            raise WorkerCrashed(f"the worker process died ({exc})") from None
        if type(reply) is not tuple or not reply:
            self.kill()
            raise WorkerCrashed("the worker sent a malformed reply")
        if reply[0] == "exited":
            self.kill()
            raise WorkerCrashed(f"your code {reply[1] if len(reply) > 1 else 'exited'}")
        return reply

    def _await_reply(self, timeout: float, cpu_limit: float, idle_limit: float | None = None) -> None:
        """Wait until the reply is readable; kill the worker once it has used ``cpu_limit`` CPU
        seconds on this request, or slept ``idle_limit`` seconds (raising ``StudentTimeout``), or
        raise ``TimeoutError`` at ``timeout``.

        CPU time is read only while waiting (from /proc, every ``CPU_POLL`` s), so a fast reply
        costs nothing extra; the first poll, before the first reading, counts as spent. Asleep
        means blocked (sleeping, waiting on a child, a lock or a pipe, stopped) with no CPU used
        between two readings: a graded call never has to, while a loaded machine only keeps the
        worker runnable (waiting for a CPU is not sleeping), so only the wall-clock ``timeout``,
        kept generous for loaded machines, would otherwise stop ``time.sleep(30)``.
        """
        start = time.perf_counter()
        cpu_start = None
        asleep, was_blocked, then, cpu_then = 0.0, False, start, 0.0
        while True:
            left = timeout - (time.perf_counter() - start)
            if left <= 0:
                raise TimeoutError
            if select.select([self.sock], [], [], min(left, CPU_POLL))[0]:
                self.sock.settimeout(max(left, 0.001))
                return
            state, cpu = self._sample()
            now = time.perf_counter()
            blocked = state in BLOCKED_STATES
            if cpu_start is None:
                cpu_start = cpu - CPU_POLL  # the poll just waited: at most this much was used
            elif cpu - cpu_start >= cpu_limit:
                self.kill()
                raise StudentTimeout(f"did not finish within {cpu_limit:.2g} s of CPU time "
                                     "(an infinite loop, or far too slow)")
            elif idle_limit is not None and blocked and was_blocked and cpu == cpu_then:
                asleep += now - then
                if asleep >= idle_limit:
                    self.kill()
                    raise StudentTimeout(f"did not finish: it slept or waited {asleep:.2g} s without computing "
                                         "(time.sleep, waiting for a process, input or a lock); graded code "
                                         "never needs to wait")
            was_blocked, then, cpu_then = blocked, now, cpu

    def kill(self) -> None:
        """Kill the worker; as PID 1 of its namespace, everything it started dies too."""
        if not self.alive:
            return
        self.final_cpu = self.cpu_seconds()
        self.alive = False
        try:
            if self.pidfd is not None:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            else:
                os.kill(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, OSError):
            pass
        try:
            os.killpg(self.pid, signal.SIGKILL)  # limits-only mode: the worker's session
        except (ProcessLookupError, PermissionError, OSError):
            pass
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        if self.swept:
            self._wait_for_sweep()
        self.sock.close()

    def _wait_for_sweep(self) -> None:
        """In tier 2, files the worker's uid left in shared folders (/tmp, /dev/shm) are removed by
        its intermediate after the worker and its uid's processes end, and then the intermediate exits. The
        socket's end says so (an end of file, which the worker cannot forge as it could a
        message): until then, no other submission's code may run."""
        deadline = time.monotonic() + SWEEP_TIMEOUT
        try:
            while (left := deadline - time.monotonic()) > 0:
                if select.select([self.sock], [], [], left)[0] and not self.sock.recv(1 << 16):
                    return
        except OSError:
            return


# ---------------------------------------------------------------------------- the proxy


@dataclass
class Submission:
    """The student's module for one topic, as graders see it.

    Attribute access and calls are forwarded to a sandboxed worker; a worker that dies is
    replaced on the next request (objects created by the old one are gone).
    """

    sandbox: Sandbox
    topic: str
    files: dict[str, bytes]
    call_timeout: float = 2.0
    import_timeout: float = 5.0
    hide: list[str] = field(default_factory=list)
    _conn: Connection | None = field(default=None, repr=False)
    _generation: int = field(default=0, repr=False)
    _import_error: ImportFailed | None = field(default=None, repr=False)
    _timed_out: set = field(default_factory=set, repr=False)
    _calls: dict | None = field(default=None, repr=False)  # who may call whom (``tight``), asked once
    _reach: dict = field(default_factory=dict, repr=False)  # ... and what each may call, transitively
    deadline: float | None = field(default=None, repr=False)
    meter: Meter | None = field(default=None, repr=False)  # the total budget, shared by a topic's workers
    _requests: int = field(default=0, repr=False)  # requests sent; invalidates eagerly returned values
    _import_end: int = field(default=0, repr=False)  # output offsets in the live worker: end of import
    _taken: int = field(default=0, repr=False)  # ... and end of what take_output returned
    _printed: tuple | None = field(default=None, repr=False)  # (connection, request count, bytes printed)
    call_limits: CallLimits | None = field(default=None, repr=False)  # per-function CPU limits (calibration)
    timings: dict[str, float] | None = field(default=None, repr=False)  # records each function's slowest call
    prestarted: PendingWorker | None = field(default=None, repr=False)  # its first worker, started ahead

    # -------------------------------------------------------------- worker life
    def _connection(self) -> Connection:
        if self._import_error is not None:
            # A fresh exception each time: re-raising one object grows its traceback forever.
            raise ImportFailed(str(self._import_error))
        if self._conn is not None and self._conn.alive:
            return self._conn
        if f"{self.topic}.py" not in self.files:
            self._import_error = ImportFailed(f"no {self.topic}.py in the submission")
            raise self._import_error
        if self.meter is not None and self.meter.left(1e-3) <= 0:
            raise BudgetSpent(self.meter.spent_message())
        self._generation += 1
        pending, self.prestarted = self.prestarted, None
        conn = pending.connect() if pending is not None else self.sandbox.spawn(self.files, self.hide)
        if self.meter is not None:
            self.meter.attach(conn)
        # The import is held to import_timeout of CPU time, in wall time to three times that: a
        # first import of a large library (matplotlib) from a cold disk cache waits seconds
        # for the disk, which a busy CI machine must not turn into a failed submission.
        wall = IMPORT_WALL_FACTOR * self.import_timeout
        timeout = self.meter.left(wall) if self.meter is not None else wall
        try:
            reply = conn.request(("import", self.topic), max(timeout, 0.001), cpu_limit=self.import_timeout)
        except StudentTimeout:
            if timeout < wall:
                raise BudgetSpent(self.meter.spent_message()) from None
            self._import_error = ImportFailed(
                f"importing {self.topic}.py did not finish within {self.import_timeout:g} s "
                "(code at the top level of your file runs on import: an infinite loop there?)")
            raise self._import_error from None
        except WorkerCrashed as exc:
            self._import_error = ImportFailed(f"importing {self.topic}.py: {exc}"
                                              " (sys.exit/os._exit at the top level of your file?)")
            raise self._import_error from None
        if reply[0] != "ok":
            conn.kill()
            detail = f"{reply[1]}: {reply[2]}" if reply[0] == "error" else str(reply[1:])
            tb = f"\n{reply[3].rstrip()}" if reply[0] == "error" and len(reply) > 3 and reply[3] else ""
            self._import_error = ImportFailed(f"importing {self.topic}.py failed with {detail}{tb}")
            raise self._import_error
        self._conn = conn
        self._import_end = self._taken = reply[1] if len(reply) > 1 and type(reply[1]) is int else 0
        return conn

    def tight(self, origin: str | None) -> bool:
        """Does a call of ``origin`` get the tighter limit? Once something timed out: when it may
        call (by name, directly or not) a function that timed out, so a looping function costs
        little however many others call it; after a second time-out, always; and whenever
        the submission's code could not be read. A correct but slow function that calls none
        of them keeps its full limit."""
        if not self._timed_out:
            return False
        if origin is None or len(self._timed_out) >= 2:
            return True
        reach = self.reach(origin)
        return reach is None or bool(reach & self._timed_out)

    def reach(self, origin: str) -> frozenset | None:
        """The top-level functions and classes ``origin`` may call, directly or through others
        (from the names its code mentions); None when the submission's code does not say.

        The worker is asked once, after the first time-out. Only the submission's own limits
        follow from its answer, so a worker that lies costs its own marks or time, bounded by
        the budget; an answer too big or not of the expected shape reads as "does not say"."""
        if self._calls is None:
            self._calls = {}
            try:
                graph = self.request(("refs",), "reading which of your functions call which")
            except SubmissionError:
                return None
            if type(graph) is dict and len(graph) <= MAX_UNITS and all(
                    type(k) is str and type(v) in (list, tuple) and all(type(n) is str for n in v)
                    for k, v in graph.items()) and sum(len(v) for v in graph.values()) <= MAX_CALLS:
                self._calls = graph
        if origin not in self._calls:
            return None
        if origin not in self._reach:  # one walk per function asked about: at most MAX_CALLS steps
            seen, todo = set(), list(self._calls[origin])
            while todo:
                name = todo.pop()
                if name not in seen:
                    seen.add(name)
                    todo.extend(self._calls.get(name, ()))
            self._reach[origin] = frozenset(seen)
        return self._reach[origin]

    def _bounded(self, timeout: float) -> tuple[float, bool]:
        """``timeout`` cut to the check's deadline and the budget left, and whether the total
        budget (not a per-call limit) sets it."""
        if self.deadline is not None:
            timeout = max(0.0, min(timeout, self.deadline - time.monotonic()))
        if self.meter is not None:
            left = self.meter.left(timeout)
            if left < timeout:
                return max(0.0, left), True
        return timeout, False

    def request(self, message: tuple, where: str | Callable[[], str] = "your code", strike: str | None = None,
                calls: int = 1, limits: tuple[float, float] | None = None) -> Any:
        """Send one request; translate the worker's answer into a value or an exception.

        ``where`` names the student's code in messages; a callable is evaluated only on error.
        ``calls``: how many calls the request makes (a pipeline's), each with its own limit.
        ``limits``: the request's CPU and asleep limits when the caller worked them out (a
        pipeline calling several functions); else they follow ``strike``.
        """
        if strike and strike in self._timed_out:
            raise StudentTimeout(f"{strike} timed out earlier, so it was not called again")
        conn = self._connection()
        self._requests += 1
        cpu_limit = idle_limit = None
        if self.call_limits is not None and (limits is not None or strike):
            # A call: held to CPU time from the reference's cost; asleep, a batch's calls together
            # get what one call may sleep (graded code never sleeps, however long it computes).
            if limits is None:
                tight = self.tight(strike)
                cpu = (call_cpu_limit(self.call_limits, strike, message, tight) if message[0] == "call"
                       else self.call_limits.cpu_limit(strike, after_timeout=tight, calls=calls))
                limits = (cpu, self.call_limits.idle_limit(strike, after_timeout=tight))
            cpu_limit, idle_limit = limits
            timeout, by_budget = self._bounded(self.call_limits.wall_limit(cpu_limit))
        else:
            timeout, by_budget = self._bounded(self.call_timeout * max(1, calls))
        if timeout <= 0:
            if by_budget:
                raise BudgetSpent(self.meter.spent_message())
            raise StudentTimeout("this check ran out of time")
        started = time.perf_counter()
        try:
            reply = conn.request(message, timeout, cpu_limit, idle_limit)
        except StudentTimeout as exc:
            if by_budget:
                raise BudgetSpent(self.meter.spent_message()) from None
            where = where() if callable(where) else where
            if strike:
                self._timed_out.add(strike)
            raise StudentTimeout(f"{where} {exc}") from None
        except WorkerCrashed as exc:
            where = where() if callable(where) else where
            raise WorkerCrashed(f"{where}: {exc}") from None
        if self.timings is not None and strike:
            elapsed = time.perf_counter() - started
            took = elapsed / max(1, calls)
            self.timings[strike] = max(took, self.timings.get(strike, 0.0))
            if message[0] == "call":
                self.record_call(call_key(strike, message), elapsed)
        return self._answer(reply, where, batch=message[0] == "batch")

    def record_call(self, key: str, elapsed: float) -> None:
        """Calibration: the slowest call with this ``call_key`` so far."""
        if self.timings is not None:
            self.timings[key] = max(elapsed, self.timings.get(key, 0.0))

    def _answer(self, reply: tuple, where: str | Callable[[], str], batch: bool = False) -> Any:
        """The value of an "ok" reply; the exception an "error" or "refused" reply stands for."""
        kind = reply[0]
        if kind == "ok":
            return reply[1:] if len(reply) > 2 else (reply[1] if len(reply) > 1 else None)
        if callable(where):
            where = where()
        if kind == "error" and len(reply) >= 3:
            raise StudentException(where, str(reply[1]), str(reply[2]), str(reply[3]) if len(reply) > 3 else "")
        if batch and kind == "step" and len(reply) == 4 and type(reply[1]) is int and type(reply[2]) is tuple \
                and type(reply[3]) is tuple:
            raise _StepFailed(reply[1], reply[2], reply[3])  # a pipeline's operation failed: Pipeline.run says which
        if kind == "refused":
            got = str(reply[2]) if len(reply) > 2 else "something else"
            reason = str(reply[1]).removesuffix(" is not plain data")
            inner = f" (it contains {reason})" if reason and reason not in got else ""
            raise NotPlainData(f"{where} returned {got}{inner}, which cannot be graded. Return plain values: "
                               "NumPy arrays (not subclasses), numbers, strings, None, or lists/tuples/dicts of these.")
        raise WorkerCrashed(f"{where}: unexpected reply from the worker")

    def close(self) -> None:
        if self.prestarted is not None:
            self.prestarted.discard()
            self.prestarted = None
        if self._conn is not None:
            self._conn.kill()
            self._conn = None

    # -------------------------------------------------------------- grader API
    def __getattr__(self, name: str) -> Remote:
        if name.startswith("__"):
            raise AttributeError(name)
        return Remote(self, 0, (("attr", name),), origin=name)

    def put(self, value: Any) -> Remote:
        """Place a copy of plain data in the worker; returns its handle."""
        self._connection()
        hid = self.request(("put", value), "placing data in the worker")
        return Remote(self, hid, (), origin="data")

    def rng(self, seed: int) -> Remote:
        """A ``numpy.random.Generator`` created in the worker (Generators cannot cross the wire)."""
        self._connection()
        hid = self.request(("rng", int(seed)), "creating a random generator")
        return Remote(self, hid, (), origin="rng")

    def pipeline(self) -> Pipeline:
        """Record calls, puts, assigns and fetches; ``run()`` sends them as one request."""
        return Pipeline(self)

    def has(self, name: str) -> bool:
        """Does the student's module define ``name``?"""
        return bool(self.request(("has", name), f"looking up {name}"))

    def output(self) -> str:
        """What the student's code printed so far in the live worker (truncated)."""
        return self._read_output(0, None)[0]

    def import_output(self) -> str:
        """What importing the module printed in the live worker."""
        return self._read_output(0, self._import_end)[0] if self._import_end else ""

    def take_output(self) -> str:
        """What the live worker printed after its import and the previous ``take_output``
        (no request when its last reply said nothing was printed since: see ``_printed_so_far``)."""
        known = self._printed
        if known is not None and known[0] is self._conn and known[1] == self._requests and known[2] <= self._taken:
            return ""
        text, self._taken = self._read_output(self._taken, None)
        return text

    def _printed_so_far(self, printed: Any) -> None:
        """Remember what the live worker's last reply says it has printed (bytes), valid until the
        next request: no student code runs in between, so an output request would read nothing
        new when it is no more than what was taken. A worker that understates it only hides
        its own printing; None (its streams replaced) means ask."""
        self._printed = (self._conn, self._requests, printed) if type(printed) is int and printed >= 0 else None

    def _read_output(self, start: int, end: int | None) -> tuple[str, int]:
        """Printed text between two offsets of the live worker's output; never starts a worker,
        and is not charged to the budget (a spent budget must not hide what was printed)."""
        conn = self._conn
        if conn is None or not conn.alive:
            return "", start
        self._requests += 1
        try:
            reply = conn.request(("output", start, end), OUTPUT_TIMEOUT)
        except SubmissionError:
            return "", start
        if reply[0] != "ok" or len(reply) != 3 or type(reply[1]) is not str or type(reply[2]) is not int:
            return "", start
        return reply[1], reply[2]


class Remote:
    """A value that lives in the worker: call it, index it, read attributes, or fetch it."""

    __slots__ = ("_sub", "_handle", "_path", "_origin", "_generation", "_eager")

    def __init__(self, sub: Submission, handle: int, path: tuple, origin: str) -> None:
        self._sub, self._handle, self._path, self._origin = sub, handle, path, origin
        self._generation = sub._generation if handle else None
        self._eager: tuple | None = None  # (request count, value) sent along with a call's reply

    def _ref(self) -> Ref:
        if self._generation is not None and self._generation < 0:
            raise ValueError("a value of a pipeline cannot be used elsewhere before the pipeline has run to its end")
        if self._generation is not None and self._generation != self._sub._generation:
            raise WorkerCrashed("this value belonged to a worker that has since been restarted")
        return Ref(self._handle, self._path)

    @property
    def label(self) -> str:
        """How the student would write this expression, for messages."""
        text = ""
        for kind, key in self._path:
            text += f".{key}" if kind == "attr" else f"[{key!r}]"
        return (text.lstrip(".") or self._origin) if not self._handle else f"{self._origin}{text}"

    def __getattr__(self, name: str) -> Remote:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._extend(("attr", name))

    def __getitem__(self, key: Any) -> Remote:
        return self._extend(("item", key))

    def _extend(self, step: tuple) -> Remote:
        remote = Remote(self._sub, self._handle, self._path + (step,), self._origin)
        remote._generation = self._generation  # a pipeline's pending value stays pending
        return remote

    def __iter__(self):
        raise TypeError("a Remote cannot be iterated; use .unpack(n) or .fetch()")

    def __call__(self, *args: Any, **kwargs: Any) -> Remote:
        return self._call(args, kwargs, strict=False)

    def strict(self, *args: Any, **kwargs: Any) -> Remote:
        """Call with NumPy floating-point warnings (overflow, invalid, divide) raised as errors."""
        return self._call(args, kwargs, strict=True)

    def _call(self, args: tuple, kwargs: dict, strict: bool) -> Remote:
        sub = self._sub
        sub._connection()
        message = ("call", self._ref(), _encode_args(args), _encode_args(kwargs), strict)
        reply = sub.request(message, lambda: f"{self.label}(...)", strike=self._origin)
        result = Remote(sub, reply[0], (), origin=self._origin)
        if len(reply) == 3:
            result._eager = (sub._requests, reply[2])
        return result

    def fetch(self) -> Any:
        """The value as plain data (arrays are copies; nothing else crosses)."""
        eager, self._eager = self._eager, None
        if eager is not None and eager[0] == self._sub._requests and self._sub._conn is not None:
            return eager[1]  # nothing ran in the worker since the call returned this value
        return self._sub.request(("fetch", self._ref()), self._result_label)

    def describe(self) -> str:
        """Short type description (e.g. 'tuple of length 2')."""
        return str(self._sub.request(("describe", self._ref()), self._result_label()))

    def unpack(self, n: int) -> tuple[Remote, ...]:
        """Split a returned tuple/list of length n into n handles."""
        try:
            ids = self._sub.request(("unpack", self._ref(), n), self._result_label())
        except NotPlainData:
            got = self.describe()
            raise NotPlainData(f"{self._result_label()} should return a tuple of {n} values, but returned {got}") from None
        return tuple(Remote(self._sub, i, (), origin=self._origin) for i in ids)

    def assign(self, value: Any) -> None:
        """Write into a worker ndarray in place (``arr[...] = value``)."""
        self._sub.request(("assign", self._ref(), value), "writing into a worker array")

    def _result_label(self) -> str:
        return f"{self._origin}" if self._handle else self.label

    def __repr__(self) -> str:
        return f"<Remote {self._result_label()}>"


_pipelines = itertools.count(1)
PLACEHOLDER = 1 << 62  # a Ref's handle from here on names an earlier operation of the same batch (worker.py)


class Pipeline:
    """Operations on a submission recorded now and run later in one round trip.

    ``call``, ``put`` and ``assign`` return at once; what a call or put produces is a
    ``Remote`` usable by later operations of the same pipeline (and, after a successful
    ``run``, like any other handle). ``fetch`` returns the index of its value in what ``run``
    returns. The worker runs the operations in order and stops at the first failure, which
    ``run`` raises as the same exception a request of its own would have raised, naming the
    same code, with ``step`` set to the operation's index (counted from 0) and ``fetched`` to
    the values fetched before it (a caller can judge those first, as it would have). The whole batch
    may take the sum of its calls' time limits. Only plain data comes back; no grader code
    or grader value beyond the operations' own arguments reaches the worker.
    """

    def __init__(self, sub: Submission) -> None:
        self.sub = sub
        self.ops: list[tuple] = []
        self.labels: list[str | Callable[[], str]] = []
        self.made: list[Remote | None] = []  # the Remote each operation produced
        self.fetches: list[int] = []  # operation index of each fetch
        self.origins: set[str] = set()
        self.mark = -next(_pipelines)  # the generation of this pipeline's pending values

    def _add(self, op: tuple, label: str | Callable[[], str], made: Remote | None) -> int:
        self.ops.append(op)
        self.labels.append(label)
        self.made.append(made)
        return len(self.ops) - 1

    def _pending(self, origin: str) -> Remote:
        remote = Remote(self.sub, PLACEHOLDER + len(self.ops), (), origin=origin)
        remote._generation = self.mark  # not usable outside this pipeline until run() binds it
        return remote

    def _ref(self, value: Remote) -> Ref:
        if value._generation == self.mark:
            return Ref(value._handle, value._path)
        if value._generation is not None and value._generation < 0:
            raise ValueError("a pending value of another pipeline cannot be used in this one")
        return value._ref()

    def _args(self, value: Any) -> Any:
        if isinstance(value, Remote):
            return self._ref(value)
        if type(value) is list:
            return [self._args(v) for v in value]
        if type(value) is tuple:
            return tuple(self._args(v) for v in value)
        if type(value) is dict:
            return {k: self._args(v) for k, v in value.items()}
        return value

    def call(self, target: Remote, *args: Any, strict: bool = False, **kwargs: Any) -> Remote:
        """``target(*args, **kwargs)`` in the worker (``strict``: as ``Remote.strict``)."""
        result = self._pending(target._origin)
        self.origins.add(target._origin)
        op = ("call", self._ref(target), self._args(args), self._args(kwargs), strict)
        self._add(op, lambda: f"{target.label}(...)", result)
        return result

    def put(self, value: Any) -> Remote:
        """A copy of plain data placed in the worker."""
        result = self._pending("data")
        self._add(("put", value), "placing data in the worker", result)
        return result

    def rng(self, seed: int) -> Remote:
        """A ``numpy.random.Generator`` created in the worker (as ``Submission.rng``)."""
        result = self._pending("rng")
        self._add(("rng", int(seed)), "creating a random generator", result)
        return result

    def assign(self, target: Remote, value: Any) -> None:
        """``target[...] = value`` for a worker ndarray."""
        self._add(("assign", self._ref(target), value), "writing into a worker array", None)

    def fetch(self, value: Remote) -> int:
        """Fetch ``value`` at this point of the pipeline (a snapshot); returns its index in ``run()``."""
        self._add(("fetch", self._ref(value)), value._result_label, None)
        self.fetches.append(len(self.ops) - 1)
        return len(self.fetches) - 1

    def run(self) -> list:
        """Run every recorded operation in one request; the fetched values, in fetch order."""
        sub = self.sub
        if not self.ops:
            return []
        for origin in sorted(self.origins):
            if origin in sub._timed_out:
                raise StudentTimeout(f"{origin} timed out earlier, so it was not called again")
        calls = sum(1 for op in self.ops if op[0] == "call")
        first = next((i for i, op in enumerate(self.ops) if op[0] == "call"), 0)
        strike = next(iter(self.origins)) if len(self.origins) == 1 else None
        step_cpu, step_wall, limits = self._step_limits()
        timed = sub.timings is not None  # calibration: the worker says how long each call took
        try:
            reply = sub.request(("batch", self.ops, step_cpu, step_wall, timed), self._calls_label, strike=strike,
                                calls=calls, limits=limits)
            if type(reply) is not tuple or len(reply) != 3:
                raise WorkerCrashed(f"{self._where(first)}: unexpected reply from the worker")
            outcomes, durations, printed = reply
            sub._printed_so_far(printed)
            if timed:
                outcomes = self._record(outcomes, durations)
        except _StepFailed as failed:
            if not 0 <= failed.step < len(self.ops) or not failed.reply \
                    or failed.reply[0] not in ("error", "refused", "timeout") or len(failed.outcomes) != failed.step:
                raise WorkerCrashed(f"{self._where(first)}: unexpected reply from the worker") from None
            if failed.reply[0] == "timeout":  # one call ran past the limit a request of its own has
                if sub._conn is not None:
                    sub._conn.kill()  # as after any time-out: what the call left running goes too
                origin = self.made[failed.step]._origin if self.made[failed.step] is not None else None
                if origin:
                    sub._timed_out.add(origin)
                cpu, wall = ((step_cpu[failed.step], step_wall[failed.step]) if type(step_cpu) is list
                             else (step_cpu, step_wall))
                within = (f"{cpu:.2g} s of CPU time" if failed.reply[1:2] == ("cpu",) and cpu else f"{wall:.3g} s")
                exc = StudentTimeout(f"{self._where(failed.step)} did not finish within {within} "
                                     "(an infinite loop, or far too slow)")
                exc.step, exc.fetched = failed.step, [got for op, got in zip(self.ops, failed.outcomes)
                                                      if op[0] == "fetch"]
                raise exc from None
            try:
                sub._answer(failed.reply, self.labels[failed.step])
                raise WorkerCrashed(f"{self._where(failed.step)}: unexpected reply from the worker")
            except SubmissionError as exc:
                exc.step = failed.step
                exc.fetched = [got for op, got in zip(self.ops, failed.outcomes) if op[0] == "fetch"]
                raise exc from None
        if type(outcomes) is not tuple or len(outcomes) != len(self.ops):
            raise WorkerCrashed(f"{self._where(first)}: unexpected reply from the worker")
        values = []
        for i, (op, made, got) in enumerate(zip(self.ops, self.made, outcomes, strict=True)):
            if made is not None:
                if type(got) is not int:
                    raise WorkerCrashed(f"{self._where(i)}: unexpected reply from the worker")
                made._handle, made._generation = got, sub._generation
            elif op[0] == "fetch":
                values.append(got)
        return values

    def _record(self, outcomes: Any, durations: Any) -> Any:
        """Calibration: each call's time (from the reference's or slow solution's own worker)
        as its function's and its ``call_key``'s; the outcomes."""
        sub = self.sub
        if type(durations) is not list or len(durations) != len(self.ops) or any(type(t) is not float for t in durations):
            return None  # the shape check in run() says what is wrong
        for op, made, took in zip(self.ops, self.made, durations, strict=True):
            if op[0] == "call":
                sub.record_call(made._origin, took)
                sub.record_call(call_key(made._origin, op), took)
        return outcomes

    def _step_limits(self) -> tuple[float | list | None, float | list, tuple[float, float] | None]:
        """CPU and wall seconds each call of the batch may take (those of a request of its own:
        one figure when every call has the same, else a list with one per operation), and the
        whole batch's CPU and asleep limits (the sum of its calls' own; the most any may sleep)."""
        sub = self.sub
        limits = getattr(sub, "call_limits", None)
        if limits is None or not self.origins:
            return None, sub.call_timeout, None
        tight = {origin: sub.tight(origin) for origin in self.origins}
        per_op = [call_cpu_limit(limits, made._origin, op, tight[made._origin]) if op[0] == "call" else None
                  for op, made in zip(self.ops, self.made, strict=True)]
        cpus = [c for c in per_op if c is not None]
        idle = max(limits.idle_limit(origin, after_timeout=tight[origin]) for origin in self.origins)
        if len(set(cpus)) == 1:
            return cpus[0], limits.wall_limit(cpus[0]), (sum(cpus), idle)
        walls = [limits.wall_limit(c) if c is not None else None for c in per_op]
        return per_op, walls, (sum(cpus), idle)

    def _calls_label(self) -> str:
        """What a time-out or crash of the whole batch names: the code it called (one function
        when the pipeline calls only one, as a request of its own would name it)."""
        labels = list(dict.fromkeys(self._where(i) for i, op in enumerate(self.ops) if op[0] == "call"))
        return " or ".join(labels) if labels else "your code"

    def _where(self, i: int) -> str:
        label = self.labels[i]
        return label() if callable(label) else label


MAX_KEY_ITEMS = 64  # items of a list, tuple or dict a call key spells out (beyond: only how many)


def call_key(name: str, call: tuple) -> str:
    """What a call's cost depends on, as a key: ``name`` (the function or class called), the
    attribute path called, and its arguments by shape (arrays: shape and dtype; numbers,
    strings, None: their value; worker values: only their access path). The graders give
    every submission the same inputs, so a student's call and the slow solution's call on the
    same input share a key. ``call``: a ``("call", target, args, kwargs, strict)`` operation."""
    _, target, args, kwargs = call[:4]
    return f"{name}\n{_shape(getattr(target, 'path', None))!r}{_shape(args)!r}{_shape(kwargs)!r}"


def call_cpu_limit(limits: CallLimits, name: str, call: tuple, tight: bool = False) -> float:
    """The CPU seconds one call (a ``("call", ...)`` operation) of ``name`` may take: its
    ``call_key``'s room where the slow solution's calls of ``name`` differ enough to matter."""
    if tight or not limits.keyed(name):
        return limits.cpu_limit(name, after_timeout=tight)
    return limits.cpu_limit(name, key=call_key(name, call))


def _shape(value: object, depth: int = 0) -> object:
    t = type(value)
    if t.__name__ == "ndarray" and t.__module__ == "numpy":  # without importing NumPy here
        return ("a", value.shape, value.dtype.str)
    if value is None or t in (bool, int, float):
        return value
    if t is str:
        return value[:64]
    if t is Ref:
        return ("r", _shape(value.path, depth + 1))
    if t in (list, tuple, dict) and depth < 6:
        items = list(value.items()) if t is dict else value
        return (t.__name__, len(items), tuple(_shape(v, depth + 1) for v in items[:MAX_KEY_ITEMS]))
    return t.__name__


def _encode_args(value: Any) -> Any:
    """Replace Remote handles in call arguments by wire references."""
    if isinstance(value, Remote):
        return value._ref()
    if type(value) is list:
        return [_encode_args(v) for v in value]
    if type(value) is tuple:
        return tuple(_encode_args(v) for v in value)
    if type(value) is dict:
        return {k: _encode_args(v) for k, v in value.items()}
    return value
