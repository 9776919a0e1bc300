"""The worker's request loop: import the student's module, then serve calls.

Runs inside the confined process. Everything here is untrusted from the parent's point of
view: the parent decodes replies as plain data and never believes more than that.
"""

from __future__ import annotations

import _signal  # the signal module without its enum wrappers (see StepTimers)
import importlib
import io
import os
import struct
import sys
import time
import traceback
import types
import warnings
from typing import Any

import numpy as np

from autograder.sandbox.wire import (
    Ref,
    WireError,
    describe_type,
    encode,
    encode_encoded_tuple,
    recv_request,
    send_message,
)

MAX_OUTPUT = 4000  # bytes of captured stdout/stderr sent back per request
MAX_NAME = 200  # characters of an exception's type name (the parent caps again: this is the honest path)
EAGER_BYTES = 1 << 20  # call results up to this size are sent back with the call's reply
COPY_BYTES = 64 << 10  # replies larger than this are sent without joining them to their length
PLACEHOLDER = 1 << 62  # handle ids from here on name an earlier operation of the same batch


class Worker:
    """Holds the student's module and the objects that calls returned (by handle id)."""

    def __init__(self, sock, output_path: str | None) -> None:
        self.sock = sock
        self.output_path = output_path
        self.objects: dict[int, Any] = {}
        self.next_id = 1
        self.streams = (sys.stdout, sys.stderr)  # the worker's own, before any student code

    def printed(self) -> int | None:
        """Bytes printed so far, or None when flushing the streams could run student code (they
        replaced sys.stdout or sys.stderr, or a method of one of its layers) or the size cannot
        be read. Only then does the parent have to ask (``output``, under its own time limit)."""
        if not self.output_path or sys.stdout is not self.streams[0] or sys.stderr is not self.streams[1] \
                or not all(map(untouched, self.streams)):
            return None
        try:
            for stream in self.streams:
                io.TextIOWrapper.flush(stream)
            return os.stat(self.output_path).st_size
        except (OSError, ValueError):
            return None

    # ------------------------------------------------------------------ object store
    def store(self, obj: Any) -> int:
        hid = self.next_id
        self.next_id += 1
        self.objects[hid] = obj
        return hid

    def resolve(self, ref: Ref) -> Any:
        try:
            obj = self.objects[ref.handle]
        except KeyError:
            raise LookupError(f"unknown handle {ref.handle}") from None
        for kind, key in ref.path:
            obj = getattr(obj, key) if kind == "attr" else obj[key]
        return obj

    def materialize(self, value: Any) -> Any:
        """Replace handle references inside call arguments by the objects they name."""
        return map_refs(value, self.resolve)

    # ------------------------------------------------------------------ requests
    def call(self, request: tuple) -> Any:
        """What ``("call", ref, args, kwargs, strict)`` returns."""
        return self.invoke(self.resolve(request[1]), self.materialize(request[2]), self.materialize(request[3]),
                           len(request) > 4 and request[4])

    @staticmethod
    def invoke(target: Any, args: Any, kwargs: Any, strict: bool) -> Any:
        """``target(*args, **kwargs)``; ``strict``: floating-point overflow/invalid/divide raise
        instead of warning."""
        if strict:
            with np.errstate(over="raise", invalid="raise", divide="raise"), warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)
                return target(*args, **kwargs)
        return target(*args, **kwargs)

    def handle(self, request: Any) -> Any:
        op = request[0]
        if op == "import":
            module = importlib.import_module(request[1])
            self.objects[0] = module
            return ("ok", output_size(self.output_path))  # where import output ends
        if op == "call":
            result = self.call(request)
            hid, description = self.store(result), describe_value(result)
            # Small plain results travel with the reply, saving the usual fetch round trip.
            try:
                payload = encode(("ok", hid, description, result))
                if len(payload) <= EAGER_BYTES:
                    return payload
            except WireError:
                pass
            return ("ok", hid, description)
        if op == "fetch":
            value = self.resolve(request[1])
            try:
                return encode(("ok", value))  # encoded here so a refusal can be reported
            except WireError as exc:
                return ("refused", str(exc), describe_value(value))
        if op == "describe":
            return ("ok", describe_value(self.resolve(request[1])))
        if op == "put":
            return ("ok", self.store(request[1]))
        if op == "assign":
            target = self.resolve(request[1])
            if type(target) is not np.ndarray:
                return ("refused", f"cannot assign into {describe_type(target)}", describe_value(target))
            target[...] = request[2]
            return ("ok", None)
        if op == "unpack":
            value = self.resolve(request[1])
            n = request[2]
            if type(value) not in (tuple, list) or len(value) != n:
                return ("refused", f"expected a tuple of {n}", describe_value(value))
            return ("ok", [self.store(item) for item in value])
        if op == "rng":
            return ("ok", self.store(np.random.default_rng(request[1])))
        if op == "has":
            return ("ok", hasattr(self.objects[0], request[1]))
        if op == "refs":
            return ("ok", unit_references(self.objects[0]))
        if op == "batch":
            return self.batch(request[1], *request[2:5])
        if op == "output":
            start = request[1] if len(request) > 1 else 0
            end = request[2] if len(request) > 2 else None
            return ("ok", *read_output(self.output_path, start, end))
        raise ValueError(f"unknown request {op!r}")

    def batch(self, ops: list, step_cpu: float | list | None = None, step_wall: float | list | None = None,
              timed: bool = False) -> Any:
        """Run a pipeline of call/put/assign/fetch operations in order, in one round trip.

        Each call may take ``step_cpu`` CPU and ``step_wall`` wall seconds (one figure for every
        call, or a list with one per operation), as a request of its own could (interval
        timers); a call past either fails with a "timeout" reply naming the limit, so the parent
        can say which step. Code that defeats the timers still meets the parent's limit for the
        whole batch.

        A ``Ref`` whose handle is ``PLACEHOLDER + i`` names what operation ``i`` produced.
        Reply: ``("ok", outcomes, seconds, printed)``: ``outcomes`` (a tuple) with a handle id per
        call/put, a value per fetch and None per assign; ``seconds``, each operation's, when
        ``timed`` (calibration, on the reference or the slow solution), else None; ``printed``, the
        bytes printed so far (``printed()``), so the parent need not ask when nothing was. Or
        ``("step", i, reply, outcomes)``: operation ``i`` failed with ``reply`` (an "error" or
        "refused" reply, as a single request would give), nothing after it ran, and ``outcomes``
        are those of the operations before it.
        """
        made: list[int | None] = []  # handle id each operation produced

        def ref(value: Ref) -> Ref:
            """``value`` with a placeholder handle replaced by the handle it stands for."""
            if value.handle >= PLACEHOLDER:
                i = value.handle - PLACEHOLDER
                if i >= len(made) or made[i] is None:
                    raise LookupError(f"operation {i} produced no value")
                return Ref(made[i], value.path)
            return value

        def real(value: Any) -> Any:
            return map_refs(value, ref)

        def live(value: Any) -> Any:
            """Call arguments with each reference replaced by the object it names (one pass)."""
            return map_refs(value, lambda r: self.resolve(ref(r)))

        # Each outcome is encoded when it happens: a fetched value is a snapshot, as a fetch
        # of its own would be, even if a later call changes the object in place.
        outcomes: list[bytes] = []

        def failed(i: int, reply: tuple) -> bytes:
            return encode_encoded_tuple([encode("step"), encode(i), encode(reply), outcomes])

        durations = [0.0] * len(ops)
        timers = StepTimers(step_cpu, step_wall)
        with timers:
            for i, op in enumerate(ops):
                try:
                    kind = op[0]
                    if kind == "fetch":
                        value = self.resolve(ref(op[1]))
                        try:
                            outcomes.append(encode(value))
                        except WireError as exc:
                            return failed(i, ("refused", str(exc), describe_value(value)))
                        made.append(None)
                        continue
                    if kind == "call":
                        timers.arm(i)
                        started = time.perf_counter()
                        try:  # resolving may run student code too (a property): under the timers
                            result = self.invoke(live(op[1]), live(op[2]), live(op[3]), len(op) > 4 and op[4])
                        finally:
                            timers.disarm()
                        if timed:
                            durations[i] = time.perf_counter() - started
                        reply = ("ok", self.store(result))
                    elif kind in ("put", "assign", "rng"):
                        reply = self.handle(real(op))
                    else:
                        raise ValueError(f"operation {kind!r} cannot be pipelined")
                except StepTimeout as exc:
                    return failed(i, ("timeout", exc.kind, exc.limit))
                except BaseException as exc:  # noqa: BLE001 - student code may raise anything
                    return failed(i, ("error", type(exc).__name__[:MAX_NAME], safe_str(exc), student_traceback(exc)))
                if reply[0] != "ok":
                    return failed(i, reply)
                made.append(reply[1] if kind != "assign" else None)
                outcomes.append(encode(made[-1]))
        return encode_encoded_tuple([encode("ok"), outcomes, encode(durations if timed else None),
                                     encode(self.printed())])

    def serve(self) -> None:
        while True:
            try:
                request = recv_request(self.sock)
            except Exception:  # noqa: BLE001 - the parent hung up
                return
            try:
                reply = self.handle(request)
            except BaseException as exc:  # noqa: BLE001 - student code may raise anything
                reply = ("error", type(exc).__name__[:MAX_NAME], safe_str(exc), student_traceback(exc))
            try:
                if type(reply) is bytes and len(reply) > COPY_BYTES:  # two sends rather than a copy
                    self.sock.sendall(struct.pack("<Q", len(reply)))
                    self.sock.sendall(reply)
                elif type(reply) is bytes:
                    self.sock.sendall(struct.pack("<Q", len(reply)) + reply)
                else:
                    send_message(self.sock, reply)
            except (OSError, WireError):
                return


_IO_OWN = frozenset({"mode", "name"})  # what the io module itself keeps in a stream's __dict__


def untouched(stream: Any) -> bool:
    """Is ``stream`` the standard text-over-binary file stack, with no method replaced on any of
    its layers? Flushing it then runs none of the student's code (``flush`` and ``write`` are
    looked up on each layer). Reads members and instance dicts only, never attributes a
    student could have made into code."""
    layer = stream
    while layer is not None:
        kind = type(layer)
        if kind not in (io.TextIOWrapper, io.BufferedWriter, io.FileIO):
            return False
        own = getattr(layer, "__dict__", None)
        if own is not None and (type(own) is not dict or not all(type(k) is str and k in _IO_OWN for k in own)):
            return False  # (exact dict and str keys first: a subclass's __iter__ or __hash__ is student code)
        layer = layer.buffer if kind is io.TextIOWrapper else layer.raw if kind is io.BufferedWriter else None
    return True


def map_refs(value: Any, leaf: Any) -> Any:
    """``value`` with every ``Ref`` in it (in lists, tuples and dicts) replaced by ``leaf(ref)``."""
    t = type(value)
    if t is Ref:
        return leaf(value)
    if t is list:
        return [map_refs(v, leaf) for v in value]
    if t is tuple:
        return tuple(map_refs(v, leaf) for v in value)
    if t is dict:
        return {k: map_refs(v, leaf) for k, v in value.items()}
    return value


def unit_references(module: Any) -> dict[str, list[str]]:
    """For each function and plain class at the top level of ``module``, the other such names
    its code mentions: who may call whom, by name (a class: any of its methods). Units this
    cannot read (a custom metaclass, a callable instance) are left out."""
    units: dict[str, list] = {}
    if type(module) is not types.ModuleType:  # anything else may run code when read
        return {}
    for name, obj in list(vars(module).items()):
        if type(obj) is types.FunctionType:
            units[name] = [obj.__code__]
        elif type(obj) is type:
            codes = []
            for member in list(vars(obj).values()):
                if type(member) in (staticmethod, classmethod):
                    member = member.__func__
                if type(member) is property:
                    codes += [f.__code__ for f in (member.fget, member.fset) if type(f) is types.FunctionType]
                elif type(member) is types.FunctionType:
                    codes.append(member.__code__)
            units[name] = codes
    out = {}
    for name, codes in units.items():
        mentioned: set[str] = set()
        while codes:
            code = codes.pop()
            mentioned.update(code.co_names)
            codes.extend(c for c in code.co_consts if type(c) is types.CodeType)  # lambdas, inner functions
        out[name] = sorted(mentioned & units.keys() - {name})
    return out


class StepTimeout(BaseException):
    """A pipelined call ran past its limit (a BaseException: ``except Exception`` in student
    code does not swallow it)."""

    def __init__(self, kind: str, limit: float) -> None:
        super().__init__(kind, limit)
        self.kind, self.limit = kind, limit


class StepTimers:
    """Per-call CPU and wall limits for the calls of a batch: interval timers whose signals
    raise ``StepTimeout`` in the call. ``_signal`` directly: the ``signal`` module's enum
    conversions cost more than the system calls, twice per call of a 50-step trajectory.
    ``cpu`` and ``wall``: one figure for every call, or a list with one per operation."""

    def __init__(self, cpu: float | list | None, wall: float | list | None) -> None:
        self.limits = (cpu, wall)
        self.cpu = self.wall = 0.0  # the armed call's
        self.saved: tuple | None = None

    @staticmethod
    def _at(limit: float | list | None, i: int) -> float:
        if type(limit) is list:
            limit = limit[i] if i < len(limit) else None
        return float(limit or 0.0)

    def _expired(self, signum: int, frame: Any) -> None:
        self.disarm()
        raise StepTimeout("cpu" if signum == _signal.SIGPROF else "wall",
                          self.cpu if signum == _signal.SIGPROF else self.wall)

    def __enter__(self) -> StepTimers:
        if any(any(v) if type(v) is list else v for v in self.limits):
            self.saved = (_signal.getsignal(_signal.SIGPROF), _signal.getsignal(_signal.SIGALRM))
        return self

    def arm(self, i: int) -> None:
        """Start the limits for one call, operation ``i`` of the batch (handlers put back first
        if the last call replaced them)."""
        if self.saved is None:
            return
        self.cpu, self.wall = (self._at(limit, i) for limit in self.limits)
        handler = self._expired
        if _signal.getsignal(_signal.SIGPROF) != handler:
            _signal.signal(_signal.SIGPROF, handler)
        if _signal.getsignal(_signal.SIGALRM) != handler:
            _signal.signal(_signal.SIGALRM, handler)
        if self.cpu:
            _signal.setitimer(_signal.ITIMER_PROF, self.cpu)
        if self.wall:
            _signal.setitimer(_signal.ITIMER_REAL, self.wall)

    def disarm(self) -> None:
        if self.saved is not None:
            _signal.setitimer(_signal.ITIMER_PROF, 0)
            _signal.setitimer(_signal.ITIMER_REAL, 0)

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            self.disarm()
            _signal.signal(_signal.SIGPROF, self.saved[0])
            _signal.signal(_signal.SIGALRM, self.saved[1])


def describe_value(value: Any) -> str:
    """Short description of a value: type, dtype and shape for arrays, length for sequences."""
    t = type(value)
    if value is None:
        return "None"
    if t is np.ndarray:
        return f"ndarray of dtype {value.dtype} and shape {value.shape}"
    if t in (tuple, list):
        return f"{t.__name__} of length {len(value)}"
    if t is dict:
        return f"dict with keys {sorted(map(str, value))[:8]}"
    if t in (int, float, bool, str):
        return f"{t.__name__} {safe_str(value)[:40]}"
    return describe_type(value)


def safe_str(exc: Any) -> str:
    try:
        text = str(exc)
    except BaseException:  # noqa: BLE001 - a hostile __str__
        text = "<unprintable>"
    return text[:2000]


def student_traceback(exc: BaseException) -> str:
    """The traceback frames that belong to the student's files only."""
    try:
        frames = traceback.extract_tb(exc.__traceback__)
        cwd = os.getcwd()
        mine = [f for f in frames if f.filename.startswith(cwd)]
        return "".join(traceback.format_list(mine))[-3000:]
    except BaseException:  # noqa: BLE001
        return ""


def output_size(path: str | None) -> int:
    """Bytes printed so far (stdout and stderr share one file)."""
    if not path:
        return 0
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        return os.stat(path).st_size
    except (OSError, ValueError):
        return 0


def read_output(path: str | None, start: int = 0, end: int | None = None) -> tuple[str, int]:
    """What was printed between byte offsets ``start`` and ``end`` (default: now), and ``end``.

    At most MAX_OUTPUT bytes are read; the rest of the span is skipped with a note, so the
    next read starts at ``end`` either way.
    """
    end = output_size(path) if end is None else end
    if not path or end <= start:
        return "", max(start, end)
    try:
        with open(path, "rb") as fh:
            fh.seek(start)
            data = fh.read(min(end - start, MAX_OUTPUT))
    except OSError:
        return "", end
    text = data.decode("utf-8", "replace")
    return (text if end - start <= MAX_OUTPUT else text + "\n[output truncated]"), end
