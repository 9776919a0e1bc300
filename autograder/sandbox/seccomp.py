"""The worker's system-call filter (seccomp, through libseccomp via pyseccomp).

Installed by the worker on itself, under no_new_privs, just before the student's first
byte runs; it holds for the worker and anything it could start. It matters most where
there are no namespaces (tier 2, Docker and Gradescope): there it is what keeps student
code off the network and away from other workers' memory. Denied calls fail with an
error code (the student sees an ``OSError``), they do not kill the worker.
"""

from __future__ import annotations

import ctypes
import errno
import os
import tempfile

try:  # libseccomp must be on the system (Debian/Ubuntu: libseccomp2, which apt itself needs)
    import pyseccomp as _seccomp
except (ImportError, RuntimeError, OSError) as exc:  # pyseccomp raises RuntimeError without libseccomp
    _seccomp = None
    UNAVAILABLE = f"seccomp unavailable ({type(exc).__name__}: {exc})"
else:
    UNAVAILABLE = ""

# Namespace flags of clone(2): a worker never makes namespaces of its own.
_CLONE_NEW = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080

# Calls that reach other processes, the kernel's riskier surfaces, or the mount table.
DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    # io_uring performs socket and file operations that seccomp never sees
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
    "fsmount", "fspick", "mount_setattr", "init_module", "finit_module", "delete_module", "kexec_load",
    "acct", "swapon", "swapoff", "reboot", "settimeofday", "clock_settime", "quotactl",
    # System V IPC and POSIX message queues outlive the worker (tier 2 has no IPC namespace):
    # a segment left behind is a channel to the next student and memory nobody frees.
    "shmget", "shmat", "shmctl", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop",
    "semctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
)
# Every new socket: internet, netlink, packet and abstract Unix sockets alike (the worker
# talks to its parent over a socket it inherited, which stays usable).
SOCKETS = ("socket",)
PROCESSES = ("fork", "vfork")


def available() -> bool:
    """Can this machine install the filter (pyseccomp importable, libseccomp present)?"""
    return _seccomp is not None


def version() -> str:
    """libseccomp's version, for ``deepgrade doctor``."""
    if _seccomp is None:
        return ""
    try:
        v = _seccomp.get_api()  # API level; the library version needs libseccomp >= 2.3
        return f"API level {v}"
    except Exception:  # noqa: BLE001 - an old libseccomp without the call
        return "present"


_PROGRAMS: dict[bool, bytes] = {}  # single_process -> the filter as BPF, built by prepare()
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2


def prepare() -> None:
    """Build both filters now, as BPF programs (the fork server, once): each worker then only
    hands its program to the kernel, where building it with libseccomp cost a worker about a
    millisecond and 250 page faults. Without libseccomp, or if it cannot export, workers build
    their own as before."""
    if _seccomp is None:
        return
    for single_process in (True, False):
        try:
            with tempfile.TemporaryFile() as fh:
                _build(single_process).export_bpf(fh)
                fh.seek(0)
                program = fh.read()
        except (OSError, RuntimeError, ValueError):
            return
        if program and len(program) % 8 == 0:  # struct sock_filter: 8 bytes an instruction
            _PROGRAMS[single_process] = program


def install(single_process: bool) -> None:
    """Load the filter into this process (needs no_new_privs; raises OSError when refused).

    ``single_process``: also refuse fork, vfork and clone (so no threads either), which
    enforces a one-process limit even where RLIMIT_NPROC cannot (a shared uid).
    """
    if _seccomp is None:
        raise OSError(errno.ENOSYS, UNAVAILABLE)
    program = _PROGRAMS.get(single_process)
    if program is None:
        _build(single_process).load()
        return
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    # as libseccomp's load does: no_new_privs first (no setuid binary may then regain what
    # the filter denies), then the filter itself
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 \
            or libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"loading the seccomp filter: {os.strerror(err)}")


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _build(single_process: bool):
    """The filter, as a libseccomp object (not loaded)."""
    f = _seccomp.SyscallFilter(_seccomp.ALLOW)
    for name in DENIED:
        _rule(f, errno.EPERM, name)
    for name in SOCKETS:
        _rule(f, errno.EACCES, name)
    # clone3 passes its flags in memory a filter cannot read: answer "not implemented" so
    # libc falls back to clone(2), whose flags are checked.
    _rule(f, errno.ENOSYS, "clone3")
    if single_process:
        for name in PROCESSES:
            _rule(f, errno.EAGAIN, name)
        _rule(f, errno.EAGAIN, "clone")
    else:
        # "flags & NEW != 0" has no comparison of its own in libseccomp: one rule per flag bit.
        for bit in (1 << n for n in range(32) if _CLONE_NEW & (1 << n)):
            _rule(f, errno.EPERM, "clone", _seccomp.Arg(0, _seccomp.MASKED_EQ, bit, bit))
    return f


def _rule(f, err: int, name: str, *args) -> None:
    """Add one rule; a call this kernel or architecture does not have is skipped."""
    try:
        f.add_rule(_seccomp.ERRNO(err), name, *args)
    except (ValueError, OSError, RuntimeError):
        pass
