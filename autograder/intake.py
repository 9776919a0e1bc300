"""The safe reader: what the trusted parent takes from a student's submission folder.

Grading runs with the instructor's rights, so nothing here follows what a student's folder
holds. Only regular files that sit directly in the folder are read: each is opened
relative to the folder's descriptor with ``O_NOFOLLOW`` and checked with ``fstat`` on the
opened descriptor (a regular file, under the size limit, read through that descriptor), so
a link, FIFO, device or folder named ``x.py`` is never read and cannot be swapped in between
a check and the read. The folder itself may be a link (an instructor's layout); it is
resolved once and, given a ``root``, must lie inside it.

Everything that is not read is *named*: ``Intake.problems`` maps the file name to the
reason, the student's result says it, what depends on the file scores 0, and the batch goes
on. A notebook is parsed and turned into a module in a forked child under CPU, memory and
wall-clock limits (``convert_notebook``), never in this process: neither ``compile`` nor a
regular expression can be interrupted here.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import select
import signal
import stat
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.names import printable

MAX_FILE_BYTES = 1_000_000  # a .py file; also the cap on a notebook's extracted code
NOTEBOOK_MAX_BYTES = 20_000_000  # outputs (plots) make notebooks big; only the code is kept
CONVERT_SECONDS = 10.0  # wall-clock limit for turning one notebook into a module
FOLDER_CONVERT_SECONDS = 20.0  # and for all the notebooks of one folder together
MAX_FILES = 100  # .py/.ipynb files read from one folder
MAX_FOLDER_BYTES = 40_000_000  # bytes read from one folder in all
CONVERT_MEMORY = 2 << 30  # bytes of address space the converter may add to what it inherited
SUFFIXES = (".py", ".ipynb")


class IntakeError(ValueError):
    """The student's folder itself cannot be read (a link out of the submissions, gone, not a folder)."""


@dataclass
class Intake:
    """What was read from one folder: raw bytes by file name, and what was not read and why."""

    files: dict[str, bytes] = field(default_factory=dict)  # "<name>.py" or "<name>.ipynb" -> bytes
    problems: dict[str, str] = field(default_factory=dict)  # file name (printable) -> why it was not read
    mtime: float | None = None  # latest modification time of the files read (fstat of the opened file)
    converted: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # notebook -> (module, note), once
    convert_seconds: float = 0.0  # spent converting this folder's notebooks (FOLDER_CONVERT_SECONDS in all)

    def problem_notes(self) -> list[str]:
        return [f"{name} was not read: {why}" for name, why in sorted(self.problems.items())]


# ---------------------------------------------------------------------------- reading


def open_folder(folder: str | Path, root: str | Path | None = None) -> int:
    """A descriptor of ``folder`` (links resolved once); IntakeError if it is outside ``root``."""
    real = os.path.realpath(folder)
    if root is not None:
        top = os.path.realpath(root)
        if real != top and not real.startswith(top.rstrip(os.sep) + os.sep):
            raise IntakeError(f"{printable(Path(folder).name)} is a link to a folder outside "
                              f"{printable(str(root))}; it was not read")
    try:
        return os.open(real, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise IntakeError(f"{printable(Path(folder).name)} cannot be read ({exc.strerror})") from None


def _kind(mode: int) -> str | None:
    """Why a file of this type is not read (None: a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "it is a symbolic link (links are not followed)"
    if stat.S_ISDIR(mode):
        return "it is a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "it is a named pipe (FIFO), not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "it is a device, not a regular file"
    if stat.S_ISSOCK(mode):
        return "it is a socket, not a regular file"
    return "it is not a regular file"


def read_file_at(dir_fd: int, name: str, limit: int) -> tuple[bytes, float]:
    """Bytes and mtime of the regular file ``name`` directly in ``dir_fd`` (ValueError: why not).

    lstat first, so a device or FIFO is never even opened; then open without following
    links and without blocking, and decide on ``fstat`` of what was actually opened.
    """
    try:
        why = _kind(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError as exc:
        raise ValueError(f"it cannot be read ({exc.strerror})") from None
    if why:
        raise ValueError(why)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError(_kind(stat.S_IFLNK)) from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise ValueError("it cannot be read (permission denied)") from None
        raise ValueError(f"it cannot be read ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        why = _kind(st.st_mode)
        if why:
            raise ValueError(why)
        if st.st_size > limit:
            raise ValueError(f"it is larger than {_size(limit)}")
        chunks, total = [], 0
        while True:  # read through the descriptor: the file may have grown since fstat
            try:
                chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            except OSError as exc:
                raise ValueError(f"it cannot be read ({exc.strerror})") from None
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise ValueError(f"it is larger than {_size(limit)}")
        return b"".join(chunks), st.st_mtime
    finally:
        os.close(fd)


def _size(n: int) -> str:
    return f"{n // 1_000_000} MB" if n >= 1_000_000 else f"{n // 1000} kB"


def _decodes(data: bytes) -> bool:
    """Python source a worker can import: UTF-8, or the encoding its first lines declare (PEP 263)."""
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        pass
    import io
    import tokenize

    head = b"\n".join(data.split(b"\n", 2)[:2])[:400]  # the cookie lives in the first two (short) lines
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(head).readline)
        data.decode(encoding)
        return True
    except (SyntaxError, LookupError, UnicodeDecodeError):
        return False


def read_folder(folder: str | Path, *, root: str | Path | None = None, max_bytes: int = MAX_FILE_BYTES,
                notebook_bytes: int = NOTEBOOK_MAX_BYTES) -> Intake:
    """The ``.py`` and ``.ipynb`` files directly in ``folder``, read safely (see the module docstring).

    Hidden files (a leading dot) are ignored; every other file with one of those suffixes is
    either read or named in ``problems``. Raises IntakeError only for the folder itself.
    """
    dir_fd = open_folder(folder, root)
    out = Intake()
    try:
        with os.scandir(dir_fd) as entries:
            names = sorted(e.name for e in entries if e.name.endswith(SUFFIXES) and not e.name.startswith("."))
        total = 0
        for count, name in enumerate(names):
            if count >= MAX_FILES or total > MAX_FOLDER_BYTES:  # bounded work per folder, whatever it holds
                rest = f" (and {len(names) - count - 1} more)" if len(names) - count > 1 else ""
                out.problems[printable(name) + rest] = (
                    f"the folder holds more than {MAX_FILES} .py/.ipynb files" if count >= MAX_FILES
                    else f"the folder's files add up to more than {_size(MAX_FOLDER_BYTES)}")
                break
            shown = printable(name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"))
            if shown != name:
                out.problems[shown] = "its name is not printable UTF-8 text"
                continue
            limit = notebook_bytes if name.endswith(".ipynb") else max_bytes
            try:
                data, mtime = read_file_at(dir_fd, name, limit)
            except ValueError as exc:
                out.problems[name] = str(exc)
                continue
            if name.endswith(".py") and not _decodes(data):
                out.problems[name] = "it is not UTF-8 text (nor in the encoding its first line declares)"
                continue
            out.files[name] = data
            total += len(data)
            out.mtime = mtime if out.mtime is None else max(out.mtime, mtime)
    finally:
        os.close(dir_fd)
    return out


def walk_upload(root: str | Path, *, max_depth: int = 8, max_entries: int = 10_000) -> Iterator[Path]:
    """Every real folder under ``root`` (itself first), never through a link; bounded in depth and size.

    Gradescope keeps an uploaded archive's folder structure, and unzip restores links: a
    linked folder is not entered, so the walk stays inside the upload.
    """
    seen = 0
    pending = [(Path(root), 0)]
    while pending:
        folder, depth = pending.pop(0)
        yield folder
        if depth >= max_depth:
            continue
        try:
            with os.scandir(folder) as entries:
                subdirs = sorted(e.name for e in entries if not e.name.startswith(".")
                                 and e.is_dir(follow_symlinks=False))
        except OSError:
            continue
        for name in subdirs:
            seen += 1
            if seen > max_entries:
                return
            pending.append((folder / name, depth + 1))


# ---------------------------------------------------------------------------- notebooks, out of process


def run_limited(func: Callable[[Any], Any], arg: Any, *, seconds: float = CONVERT_SECONDS,
                memory: int = CONVERT_MEMORY, max_reply: int = 8 * MAX_FILE_BYTES) -> Any:
    """``func(arg)`` in a forked child with CPU, memory and wall-clock limits; its JSON-able result.

    Raises ValueError with a one-line reason when the child fails, runs out of time or
    memory, or crashes. Forking costs a few milliseconds and no re-import: the child
    shares what this process already loaded.
    """
    import resource

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 0
        try:
            os.close(r)
            cpu = int(seconds) + 1
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
            try:
                with open("/proc/self/statm") as fh:
                    inherited = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
                resource.setrlimit(resource.RLIMIT_AS, (inherited + memory, inherited + memory))
            except (OSError, ValueError):
                pass  # no /proc (macOS): CPU and wall-clock limits still hold
            sys.setrecursionlimit(2000)
            try:
                reply = ["ok", func(arg)]
            except MemoryError:
                reply = ["error", "it needs too much memory to convert"]
            except RecursionError:
                reply = ["error", "it is nested too deeply to convert"]
            except BaseException as exc:  # noqa: BLE001 - reported to the parent as a reason
                reply = ["error", str(exc)[:500] or type(exc).__name__]
            data = json.dumps(reply).encode()
            view = memoryview(data)
            while view:
                view = view[os.write(w, view):]
        except BaseException:  # noqa: BLE001 - the child must never unwind into the parent's code
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    chunks, total = [], 0
    deadline = time.monotonic() + seconds
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                raise ValueError(f"converting it did not finish within {seconds:g} s")
            chunk = os.read(r, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_reply:
                raise ValueError("converting it produced too much code")
    finally:
        os.close(r)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
    try:
        kind, value = json.loads(b"".join(chunks))
    except ValueError:
        raise ValueError("the converter crashed on it (too large or too deeply nested)") from None
    if kind != "ok":
        raise ValueError(str(value))
    return value


def _convert(args: tuple[bytes, str, int]) -> list[str]:
    """In the child: notebook bytes -> [module source, note] (see ``autograder.notebooks``)."""
    from autograder.notebooks import submission_module

    data, name, max_source = args
    source, note = submission_module(data, name)
    if len(source.encode()) > max_source:
        raise ValueError(f"the code cells of {name} are larger than {_size(max_source)}")
    return [source, note]


_WARM_NOTEBOOK = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


@functools.lru_cache(maxsize=1)
def _warm_converter() -> None:
    """Load nbformat and build its validator once, here, on a notebook of our own: every forked
    converter inherits them, so a notebook costs a fork (~10 ms), not a fresh start (~100 ms)."""
    from autograder.notebooks import submission_module

    submission_module(_WARM_NOTEBOOK, "warm-up.ipynb")


def convert_notebook(data: bytes, name: str, max_source_bytes: int = MAX_FILE_BYTES,
                     seconds: float = CONVERT_SECONDS) -> tuple[bytes | None, str]:
    """A notebook as module source and a note, converted out of process; (None, reason) if it cannot be."""
    _warm_converter()
    try:
        source, note = run_limited(_convert, (data, name, max_source_bytes), seconds=seconds)
    except ValueError as exc:
        return None, f"{name} could not be graded: {exc}"
    return source.encode(), note


def failing_module(reason: str) -> bytes:
    """Module source whose import fails with ``reason``: what the student sees at every check."""
    return f"raise ImportError({reason!r})\n".encode()


# ---------------------------------------------------------------------------- a student's modules


def student_modules(intake: Intake, topic: str | None = None) -> tuple[dict[str, bytes], list[str]]:
    """The importable modules of one folder (``<name>.py`` -> source) and notes for ``topic``'s result.

    A notebook ``<name>.ipynb`` stands in for ``<name>.py`` when there is no such .py
    (either read or named as a problem); notes about other notebooks are left out of
    ``topic``'s result. A topic file that could not be read becomes a module whose import
    fails with the reason, so every check says why it scored 0.
    """
    files = {n: b for n, b in intake.files.items() if n.endswith(".py")}
    notes = intake.problem_notes()
    for name, data in sorted(intake.files.items()):
        if not name.endswith(".ipynb"):
            continue
        stem = name[: -len(".ipynb")]
        module, mine = f"{stem}.py", topic is None or stem == topic
        if module in files or module in intake.problems:
            if mine:
                notes.append(f"both {module} and {name} were submitted: {module} was graded")
            continue
        if name not in intake.converted:  # each notebook is converted once, whatever topics ask for it
            left = FOLDER_CONVERT_SECONDS - intake.convert_seconds
            start = time.monotonic()
            if left <= 0.5:
                source, note = None, f"{name} could not be graded: the folder's notebooks took more than " \
                    f"{FOLDER_CONVERT_SECONDS:g} s to convert"
            else:
                source, note = convert_notebook(data, name, seconds=min(CONVERT_SECONDS, left))
            intake.convert_seconds += time.monotonic() - start
            if source is None:
                source = failing_module(f"{note}. Save it again from Jupyter (File > Save), or submit a .py file "
                                        "instead.")
            intake.converted[name] = (source, note)
        source, note = intake.converted[name]
        files[module] = source
        if mine:
            notes.append(note)
    if topic is not None and f"{topic}.py" not in files:
        for name in (f"{topic}.py", f"{topic}.ipynb"):
            if name in intake.problems:
                files[f"{topic}.py"] = failing_module(f"{name} was not graded: {intake.problems[name]}")
                break
    return files, notes
