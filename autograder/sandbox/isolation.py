"""Confining one worker: namespaces, hidden paths, resource limits, dropped privileges.

Linux only for the strong parts. ``unshare`` gives the worker its own mount, network and
PID namespaces: course files are covered by empty read-only tmpfs mounts, the network is
a loopback that is down, and the worker is PID 1 of its namespace, so killing it kills
everything it started (a ``setsid`` cannot escape). Where the OS refuses namespaces the
worker still gets resource limits, a scrubbed import path and its own session.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import shutil
import signal
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/etc")
DEVICES = ("null", "zero", "random", "urandom")
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38

SCRATCH = "/tmp/submission"
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


@dataclass(frozen=True)
class Limits:
    """Resource limits for one worker process."""

    memory_mb: int = 512  # address space on top of what the pre-started interpreter maps
    cpu_seconds: int = 60  # total CPU for one worker life; per-call time limits are wall clock
    max_processes: int = 1  # the worker itself: no fork, no threads
    file_size_mb: int = 8  # any file it writes, stdout/stderr capture included
    open_files: int = 64
    scratch_mb: int = 32

    def to_dict(self) -> dict:
        return asdict(self)


class IsolationError(OSError):
    """A confinement step the OS refused."""


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise IsolationError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    """Move the calling process into new namespaces."""
    if _libc is None:
        raise IsolationError(errno.ENOSYS, "namespaces need Linux")
    _check(_libc.unshare(flags), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    """mount(2) through libc."""
    if _libc is None:
        raise IsolationError(errno.ENOSYS, "mount needs Linux")
    def enc(s: str | None) -> bytes | None:
        return s.encode() if s is not None else None

    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def prctl(option: int, arg: int) -> None:
    if _libc is not None:
        _libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0)


def enter_namespaces() -> None:
    """Step 1 (intermediate process): new mount/net/PID namespaces, course paths hidden later."""
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID
    if os.geteuid() != 0:
        # Unprivileged users can still get namespaces through a user namespace.
        uid, gid = os.geteuid(), os.getegid()
        unshare(flags | CLONE_NEWUSER)
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"0 {uid} 1")
        Path("/proc/self/gid_map").write_text(f"0 {gid} 1")
    else:
        unshare(flags)
    mount(None, "/", None, MS_REC | MS_PRIVATE)


def build_root(keep: list[str], limits: Limits) -> None:
    """Change root to a fresh tmpfs holding only the system folders and the Python installation.

    An allow-list, not a block-list: course folders, home folders, other checkouts and
    anything else on the machine simply do not exist for the worker. Kept folders are
    bind-mounted read-only at their usual paths, so imports resolve as before. They are
    opened before /tmp is covered, so a Python installation under /tmp stays reachable.
    """
    candidates = []
    for path in [*SYSTEM_DIRS, *sorted(set(keep), key=len)]:
        if os.path.lexists(path) and not any((path + "/").startswith(k + "/") for k, _ in candidates):
            if os.path.islink(path):
                candidates.append((path, ("link", os.readlink(path))))
            elif os.path.isdir(path):
                candidates.append((path, ("dir", os.open(path, os.O_PATH | os.O_DIRECTORY))))
    private_tmp(limits)
    root = "/tmp/.deepgrade-root"
    os.makedirs(root, mode=0o755, exist_ok=True)
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    os.makedirs(root + "/proc", exist_ok=True)
    # The worker's /tmp first: a kept folder under /tmp is then bound inside it.
    os.makedirs(root + "/tmp", exist_ok=True)
    mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={limits.scratch_mb}m,mode=1777")
    for path, (kind, what) in candidates:
        target = root + path
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        if kind == "link":
            os.symlink(what, target)
            continue
        os.makedirs(target, mode=0o755, exist_ok=True)
        mount(f"/proc/self/fd/{what}", target, None, MS_BIND | MS_REC)
        mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.close(what)
    os.makedirs(root + "/dev", exist_ok=True)
    for name in DEVICES:
        if os.path.exists(f"/dev/{name}"):
            open(f"{root}/dev/{name}", "w").close()
            mount(f"/dev/{name}", f"{root}/dev/{name}", None, MS_BIND)
    os.chroot(root)
    os.chdir("/")


def hide_paths(paths: list[str]) -> list[str]:
    """Cover each path with an empty read-only mount; returns the paths hidden."""
    hidden = []
    # Shortest first: once a parent is covered its children are gone and are skipped.
    for p in sorted(set(paths), key=len):
        if not os.path.lexists(p):
            continue
        try:
            if os.path.isdir(p):
                mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555")
            else:
                mount("/dev/null", p, None, MS_BIND)
            hidden.append(p)
        except IsolationError:
            if os.path.lexists(p) and os.access(p, os.R_OK):
                raise
    return hidden


def private_tmp(limits: Limits) -> None:
    """A fresh, size-limited /tmp that no other worker shares (the new root is built in it)."""
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={limits.scratch_mb}m,mode=1777")


def make_scratch(files: dict[str, bytes], uid: int | None, isolated: bool) -> str:
    """Write the student's files into a scratch folder the worker owns."""
    if isolated:
        scratch = SCRATCH
        os.makedirs(scratch, exist_ok=True)
    else:
        import tempfile

        scratch = tempfile.mkdtemp(prefix="deepgrade-")
    for name, data in files.items():
        safe = os.path.basename(name)
        if not safe or safe.startswith("."):
            continue
        with open(os.path.join(scratch, safe), "wb") as fh:
            fh.write(data)
    if uid is not None:
        for entry in [scratch] + [os.path.join(scratch, n) for n in os.listdir(scratch)]:
            os.chown(entry, uid, uid)
    os.chmod(scratch, 0o700)
    return scratch


def confine_self(limits: Limits, base_vm_bytes: int, uid: int | None, isolated: bool, scratch: str) -> None:
    """Step 2 (the worker itself): /proc, limits, descriptors, identity."""
    if isolated:
        try:
            mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        except IsolationError:
            pass  # /proc of the parent namespace stays; PID isolation still holds
    else:
        os.setsid()
    mb = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (base_vm_bytes + limits.memory_mb * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_mb * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
    # Writing past RLIMIT_FSIZE should fail the write, not kill the worker.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    os.chdir(scratch)
    if uid is not None and os.geteuid() == 0:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        # RLIMIT_NPROC counts per user and does not bind root, hence the unique uid first.
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    # Changing credentials clears the parent-death signal, so set it last.
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def redirect_output(scratch: str) -> str:
    """Point stdin at /dev/null and stdout/stderr at a capture file in the scratch folder."""
    path = os.path.join(scratch, ".output.txt")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.close(devnull)
    return path


def close_fds_except(keep: set[int]) -> None:
    """Close every descriptor above stderr that is not in ``keep``."""
    low = 3
    for fd in sorted(keep):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, 65536)


def cleanup_scratch(scratch: str, isolated: bool) -> None:
    """Remove a fallback-mode scratch folder (an isolated one vanishes with its tmpfs)."""
    if not isolated:
        shutil.rmtree(scratch, ignore_errors=True)
