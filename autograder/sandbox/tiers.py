"""The three sandbox tiers, chosen automatically and named in every result.

1. **namespaces**: the worker gets its own user/mount/network/PID namespaces and a root
   (``pivot_root``, old root detached) holding only system folders and Python; no
   capabilities, no_new_privs, a seccomp filter, resource limits. Any Linux that allows
   namespaces, as root or as an ordinary user.
2. **privilege drop**: root, but namespaces refused (Docker, Gradescope, Kubernetes). Each
   worker runs under its own uid/gid, never reused, with no groups, no capabilities,
   no_new_privs, the seccomp filter (no new sockets, no ptrace), its own process group,
   resource limits and a private 0700 scratch folder; course paths must be unreadable to
   other users (checked before the first student byte), and whatever the uid leaves in
   /tmp, /var/tmp or /dev/shm is removed when its worker ends.
3. **unconfined**: neither. Resource limits only; deepgrade refuses to grade unless the
   instructor opts in (``--unsafe-no-sandbox``, ``[sandbox] unsafe_no_sandbox``). ``deepgrade
   check`` is exempt: there the student runs their own code on their own machine.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shlex
import shutil
import signal
import stat
from pathlib import Path

NAMESPACES, PRIVILEGE_DROP, UNCONFINED = 1, 2, 3
NAMES = {NAMESPACES: "namespaces", PRIVILEGE_DROP: "privilege drop", UNCONFINED: "unconfined"}
UNSAFE_ENV = "DEEPGRADE_UNSAFE_NO_SANDBOX"
SWEPT = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")  # every folder any user may write to here


class SandboxRefused(RuntimeError):
    """This machine cannot confine student code and the instructor has not opted out."""


def choose(namespaces: bool, root: bool, seccomp: bool) -> int:
    """The tier a machine gives: namespaces, else root with seccomp, else nothing."""
    if namespaces:
        return NAMESPACES
    return PRIVILEGE_DROP if root and seccomp else UNCONFINED


def describe(tier: int, reason: str = "") -> str:
    """One line for every result and the terminal: which tier confined this submission."""
    if tier == NAMESPACES:
        return ("sandbox: tier 1 (namespaces): own mount/network/PID namespaces, a root holding only system "
                "folders and Python (course files do not exist there), no capabilities, seccomp filter, "
                "resource limits")
    if tier == PRIVILEGE_DROP:
        return ("sandbox: tier 2 (privilege drop; no namespaces here: " + reason + "): own unprivileged uid per "
                "worker, no capabilities, seccomp filter (no new sockets, no ptrace), course files unreadable "
                "by mode, files left in /tmp removed; world-readable system files stay visible")
    return ("sandbox: tier 3 (UNCONFINED: " + reason + "): resource limits only; student code can read and "
            "write whatever this user can, references included")


def refusal(reason: str) -> str:
    """The one-line error when tier 3 is all this machine gives and nobody opted in."""
    return (f"refusing to grade: this machine cannot confine student code ({reason}). "
            "Run as root in a container, or allow user namespaces (deepgrade doctor says which); "
            "to grade unconfined anyway, pass --unsafe-no-sandbox or set [sandbox] unsafe_no_sandbox = true")


def exposed_refusal(exposed: list[str]) -> str:
    """The one-line error when tier 2 workers could read course paths."""
    return ("refusing to grade: without namespaces (sandbox tier 2) course files are hidden only by their "
            f"mode, and other users can read {', '.join(exposed)}. Close them with: {chmod_command(exposed)}")


# ---------------------------------------------------------------------------- worker uids

STATE_DIRS = ("/run/deepgrade", "/var/lib/deepgrade")
BLOCK = 64  # uids a fork server reserves at once (one locked file update per 64 workers)


def uid_range() -> tuple[int, int]:
    """Where worker uids come from: high above any real account, inside this namespace's uid map."""
    try:
        ranges = [tuple(map(int, line.split())) for line in Path("/proc/self/uid_map").read_text().splitlines()]
    except (OSError, ValueError):
        ranges = []
    if not ranges or any(inside == 0 and count >= 2**32 - 1 for inside, _, count in ranges):
        return 2_000_000_000, 4_000_000_000
    # A container with a small map (rootless Docker, podman): the upper half of the largest range.
    inside, _, count = max(ranges, key=lambda r: r[2])
    return inside + count // 2, inside + count - 2


def _state_dir() -> int:
    """A root-owned 0700 folder for the uid counter, opened without following links."""
    for path in STATE_DIRS:
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue
        st = os.fstat(fd)
        if st.st_uid == 0 and not st.st_mode & 0o077:
            return fd
        os.close(fd)
    raise OSError(errno.EACCES, f"no root-only folder for the worker uid counter ({', '.join(STATE_DIRS)})")


class UidAllocator:
    """Worker uids from one machine-wide counter: never reused until the counter wraps (2e9 workers)."""

    def __init__(self) -> None:
        self.next = self.end = 0

    def allocate(self) -> int:
        if self.next >= self.end:
            self.next, self.end = self._reserve(BLOCK)
        uid, self.next = self.next, self.next + 1
        return uid

    @staticmethod
    def _reserve(n: int) -> tuple[int, int]:
        lo, hi = uid_range()
        folder = _state_dir()
        try:
            fd = os.open("uid-counter", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600, dir_fd=folder)
        finally:
            os.close(folder)
        with os.fdopen(fd, "r+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # several fork servers (grading processes) share it
            try:
                start = int(fh.read().strip() or lo)
            except ValueError:
                start = lo
            if not lo <= start <= hi - n:
                start = lo
            fh.seek(0)
            fh.truncate()
            fh.write(str(start + n))
        return start, start + n


# ---------------------------------------------------------------------------- tier 2 checks and clean-up


def exposed_paths(paths: list[str]) -> list[str]:
    """Which of ``paths`` this (unprivileged) process can read, list or traverse."""
    exposed = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue  # missing, or a folder above it is closed: hidden
        if stat.S_ISDIR(st.st_mode):
            if os.access(path, os.R_OK) or os.access(path, os.X_OK):
                exposed.append(path)
        elif os.access(path, os.R_OK):
            exposed.append(path)
    return exposed


def chmod_command(paths: list[str]) -> str:
    """The command that closes ``paths`` to other users (what the refusal tells the instructor)."""
    return "chmod -R o-rwx " + " ".join(shlex.quote(p) for p in paths)


def kill_uid(uid: int) -> None:
    """Kill every process running as ``uid`` (one that left its process group included).

    kill(-1) from a process with that uid reaches exactly the processes it may signal:
    its own uid's. Done from a throwaway child, so this process keeps its identity.
    """
    pid = os.fork()
    if pid == 0:
        try:
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def sweep_uid(uid: int, tops: tuple[str, ...] = SWEPT) -> list[str]:
    """Remove what ``uid`` left in the shared temporary folders; returns the paths removed.

    Only entries owned by the uid go; the walk never follows links, stays on each folder's
    file system and descends only into folders anybody may write to (where a worker could
    have put something).
    """
    removed: list[str] = []
    for top in tops:
        try:
            dev = os.lstat(top).st_dev
        except OSError:
            continue
        _sweep(top, uid, dev, removed, depth=0)
    return removed


def _sweep(folder: str, uid: int, dev: int, removed: list[str], depth: int) -> None:
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if st.st_dev != dev:
            continue
        if st.st_uid == uid:
            _remove(entry.path, st)
            removed.append(entry.path)
        elif stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_IWOTH and depth < 8:
            _sweep(entry.path, uid, dev, removed, depth + 1)


def _remove(path: str, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path, ignore_errors=True)  # refuses a link swapped in; root ignores modes
    else:
        try:
            os.unlink(path)
        except OSError:
            pass
