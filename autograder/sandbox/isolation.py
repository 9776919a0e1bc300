"""Confining one worker: namespaces, a root of its own, dropped privileges, resource limits.

Linux only for the strong parts (see ``tiers`` for which tier a machine gets). ``unshare``
gives the worker its own user, mount, network and PID namespaces; ``pivot_root`` moves it
into a fresh root holding only system folders and Python, with the old root detached, so
there is no "outside" a second chroot could climb to. The network is a loopback that is
down, and the worker is PID 1 of its namespace, so killing it kills everything it started.
In every tier the worker then gives up every capability (bounding and ambient sets too,
with securebits locked so uid 0 means nothing), sets no_new_privs and loads the seccomp
filter before the student's first byte runs.
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
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/etc")
DEVICES = ("null", "zero", "random", "urandom")
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 28, 47, 4
# NOROOT (+locked), KEEP_CAPS locked off, NO_CAP_AMBIENT_RAISE (+locked): the student cannot
# turn them back. NO_SETUID_FIXUP stays off where a setuid follows: the fixup clears the caps.
SECUREBITS = (1 << 0) | (1 << 1) | (1 << 5) | (1 << 6) | (1 << 7)
MNT_DETACH = 2
# pivot_root has no libc wrapper: its system-call number per architecture.
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217, "i686": 217,
                  "armv7l": 218}

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


def prctl(option: int, arg: int, arg3: int = 0) -> int:
    """prctl(2); returns its result (-1 on failure, errno set)."""
    if _libc is None:
        return -1
    return _libc.prctl(option, ctypes.c_ulong(arg), ctypes.c_ulong(arg3), 0, 0)


def setns(fd: int, nstype: int) -> None:
    """Join (or, for PID namespaces, make the children join) the namespace open at ``fd``."""
    if _libc is None:
        raise IsolationError(errno.ENOSYS, "namespaces need Linux")
    _check(_libc.setns(fd, nstype), "setns")


def enter_namespaces(pid: bool = True) -> None:
    """Step 1 (intermediate process, or as root the worker itself): new mount/net/IPC and
    (``pid``) PID namespaces, course paths hidden later."""
    # Own IPC namespace too: System V shared memory, semaphores and message queues outlive a
    # process, so without it one student's segment is there for the next (and fills the machine).
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | (CLONE_NEWPID if pid else 0)
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


def build_root(keep: list[str], limits: Limits) -> str:
    """Build the worker's future root: a fresh tmpfs holding only the system folders and Python.

    An allow-list, not a block-list: course folders, home folders, other checkouts and
    anything else on the machine simply do not exist for the worker. Kept folders are
    bind-mounted read-only at their usual paths, so imports resolve as before. They are
    opened before /tmp is covered, so a Python installation under /tmp stays reachable.
    Returns the root's path; the worker moves into it with ``enter_root``.
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
    return root


def enter_root(root: str) -> None:
    """Worker, as PID 1 of its namespace: its own /proc, then pivot_root into ``root``.

    /proc is mounted before the old root goes (the kernel lets a user namespace mount proc
    only while another proc is visible). The old root is then detached, so no path, no
    second chroot and no ``..`` leads back to the machine's files. The root itself is made
    read-only; its /tmp (the scratch space) is a separate mount and stays writable.
    """
    try:
        mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except IsolationError:
        pass  # no /proc at all in the worker: it loses nothing it needs
    os.chdir(root)
    number = SYS_PIVOT_ROOT.get(os.uname().machine)
    if number is None:
        raise IsolationError(errno.ENOSYS, f"pivot_root: unknown architecture {os.uname().machine}")
    _check(_libc.syscall(number, b".", b"."), "pivot_root")
    _check(_libc.umount2(b".", MNT_DETACH), "detaching the old root")
    os.chdir("/")
    mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def hide_paths(paths: list[str], root: str = "") -> list[str]:
    """Cover each path (under ``root``) with an empty read-only mount; returns the paths hidden."""
    hidden = []
    # Shortest first: once a parent is covered its children are gone and are skipped.
    for p in sorted({root + p for p in paths}, key=len):
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


SCRATCH_RUNS = "deepgrade-run-"  # /tmp/deepgrade-run-<fork server pid>-*: one fork server's scratch folders


def scratch_parent() -> str:
    """A folder for this fork server's scratch folders outside namespaces (0711: workers reach their
    own 0700 folder in it but cannot list it), after removing those of fork servers that have died
    (a killed batch leaves its workers' folders behind; the next one clears them)."""
    import glob
    import tempfile

    for old in glob.glob(os.path.join(tempfile.gettempdir(), SCRATCH_RUNS + "*")):
        try:
            owner = int(os.path.basename(old)[len(SCRATCH_RUNS):].split("-")[0])
            os.kill(owner, 0)
        except ProcessLookupError:
            shutil.rmtree(old, ignore_errors=True)
        except (ValueError, PermissionError):
            continue
    parent = tempfile.mkdtemp(prefix=f"{SCRATCH_RUNS}{os.getpid()}-")
    os.chmod(parent, 0o711)
    return parent


def make_scratch(files: dict[str, bytes], uid: int | None, root: str | None, parent: str | None = None) -> str:
    """Write the student's files into a private 0700 scratch folder the worker owns.

    ``root``: the worker's future root (its /tmp is the scratch space), or None outside
    namespaces, where a fresh folder is made in ``parent`` (see ``scratch_parent``).
    """
    if root is not None:
        scratch = root + SCRATCH
        os.makedirs(scratch, exist_ok=True)
    else:
        import tempfile

        scratch = tempfile.mkdtemp(prefix="deepgrade-", dir=parent)
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


def confine_self(limits: Limits, base_vm_bytes: int, uid: int | None, scratch: str) -> None:
    """Step 2 (the worker itself): limits, identity, capabilities, no_new_privs.

    ``uid``: the worker's own unprivileged uid (as root); None keeps this user's (inside a
    user namespace that is uid 0 there, which ``drop_capabilities`` makes powerless).
    """
    # Its own session and process group, in every tier: a group signal (kill(0, ...)) or a
    # priority change (setpriority(PRIO_PGRP, 0, ...)) reaches every process of the group, PID
    # namespaces or not, and as an ordinary user the grading process shares the worker's uid.
    # Outside namespaces the group is also what a kill takes as a whole.
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
    switch = uid is not None and os.geteuid() == 0
    drop_capabilities(before_setuid=switch)
    if switch:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)  # leaving uid 0 clears the permitted and effective sets
        # RLIMIT_NPROC counts per user and does not bind root, hence the unique uid first.
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))
    _set_capabilities(0)
    if capabilities() != (0, 0):
        raise IsolationError(errno.EPERM, f"capabilities survived: {capabilities()}")
    if _libc is not None and prctl(PR_SET_NO_NEW_PRIVS, 1) != 0:  # Linux only (deepgrade check on macOS)
        raise IsolationError(ctypes.get_errno(), "no_new_privs refused")
    # Changing credentials clears the parent-death signal, so set it last.
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def drop_capabilities(before_setuid: bool) -> None:
    """Empty the bounding and ambient sets and lock securebits (needs CAP_SETPCAP, so first).

    With NOROOT locked, uid 0 (which the worker is inside a user namespace when deepgrade
    runs as an ordinary user) gains nothing from exec either. Where the process holds no
    CAP_SETPCAP to begin with (tier 3 as an ordinary user) there is nothing to drop.
    """
    if _libc is None or capabilities() == (0, 0):
        return
    bits = SECUREBITS
    if not before_setuid:
        bits |= (1 << 2) | (1 << 3)  # no setuid fixup needed: nothing left to fix up
    _check(prctl(PR_SET_SECUREBITS, bits), "securebits")
    for cap in range(64):
        if prctl(PR_CAPBSET_DROP, cap) != 0 and ctypes.get_errno() != errno.EINVAL:
            _check(-1, f"dropping capability {cap} from the bounding set")
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


_CAP_V3 = 0x20080522


def capabilities() -> tuple[int, int]:
    """(effective, permitted) capability masks of this process."""
    if _libc is None:
        return (0, 0)
    header, data = _CapHeader(_CAP_V3, 0), (_CapData * 2)()
    _check(_libc.capget(ctypes.byref(header), data), "capget")
    return (data[0].effective | data[1].effective << 32, data[0].permitted | data[1].permitted << 32)


def _set_capabilities(mask: int) -> None:
    if _libc is None:
        return
    header, data = _CapHeader(_CAP_V3, 0), (_CapData * 2)()
    for i in range(2):
        part = (mask >> (32 * i)) & 0xFFFFFFFF
        data[i].effective = data[i].permitted = part
        data[i].inheritable = 0
    _check(_libc.capset(ctypes.byref(header), data), "capset")


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
    """Remove a scratch folder outside namespaces (an isolated one vanishes with its tmpfs)."""
    if not isolated:
        shutil.rmtree(scratch, ignore_errors=True)
