"""The pre-started worker factory (a fork server).

Started once per grading process as a fresh interpreter that imports NumPy and nothing
secret: no solutions, no graders. Each submission gets a fresh child forked from it, so
no submission pays interpreter start-up or the NumPy import, and none shares memory with
another or with the process that judges it.

Process tree for one worker (the names ps, top and perf show), as root with namespaces::

    dg-zygote ── dg-worker (PID 1 of a PID namespace made for it; enters its own mount, network
                            and IPC namespaces, builds its root and scratch folder, pivot_root;
                            limits; own uid; no capabilities; seccomp filter). The fork server
                            reports its pid once it is confined and, later, how it exited.

Otherwise (an ordinary user, whose worker needs a user namespace first; no namespaces)::

    dg-zygote ── dg-inter (the intermediate: enters namespaces, builds the worker's root, writes
                           scratch files, reports the worker's pid and, later, how it exited;
                           outside namespaces it then kills and sweeps the worker's uid)
                   └── dg-worker (as above, PID 1 of its own PID namespace where there is one)
"""

from __future__ import annotations

import gc
import importlib
import os
import select
import shutil
import signal
import socket
import struct
import sys

# Thread pools must be off before NumPy loads: the worker may not create threads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy  # noqa: E402,F401 - pre-imported for every worker
import numpy.linalg  # noqa: E402,F401
import numpy.random  # noqa: E402,F401

from autograder.sandbox import isolation, seccomp, tiers  # noqa: E402 - seccomp loads libseccomp now
from autograder.sandbox.wire import decode, encode, recv_message, send_message  # noqa: E402
from autograder.sandbox.worker import Worker  # noqa: E402

# Modules a submission may import lazily. Preloading them keeps workers fast and means a
# worker never needs to read the Python installation (it may sit in a closed home folder).
_PRELOAD = ("math", "random", "collections", "functools", "itertools", "copy", "dataclasses", "typing",
            "numpy.testing", "numpy.fft", "numpy.polynomial", "numpy.ma", "encodings.idna", "statistics",
            "json", "heapq", "bisect", "operator", "string", "re", "fractions", "decimal")
for _name in _PRELOAD:
    __import__(_name)


def vm_bytes() -> int:
    """Virtual memory the interpreter maps now (the base the memory limit adds to)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 512 * 1024 * 1024


def probe_isolation() -> tuple[bool, str]:
    """Can this machine give a worker its own namespaces? (tried in a throwaway child)"""
    if not sys.platform.startswith("linux"):
        return False, f"namespaces are Linux-only (this is {sys.platform})"
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            isolation.enter_namespaces()
            isolation.private_tmp(isolation.Limits())
            os.write(w, b"ok")
        except BaseException as exc:  # noqa: BLE001
            os.write(w, str(exc).encode()[:500])
        os._exit(0)
    os.close(w)
    answer = os.read(r, 600).decode(errors="replace")
    os.close(r)
    os.waitpid(pid, 0)
    return (True, "") if answer == "ok" else (False, answer or "namespace probe failed")


def run_intermediate(sock: socket.socket, tier: int, base_vm: int, uid: int | None) -> None:
    """Set up one worker's world, start it, and report how it ends (``tier``: the worker's)."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
    set_process_name("dg-inter")
    config = recv_message(sock, trusted=True)  # from the parent: paths kept exactly
    limits = isolation.Limits(**config["limits"])
    tier = max(tier, config.get("tier", tier))  # the parent may only step down (an opted-in tier 3)
    isolated = tier == tiers.NAMESPACES
    try:
        if tier == tiers.PRIVILEGE_DROP and uid is None:
            raise isolation.IsolationError(0, "no unprivileged uid for the worker (see deepgrade doctor)")
        root, scratch = build_world(config, limits, uid, isolated)
    except BaseException as exc:  # noqa: BLE001
        send_message(sock, ("setup-failed", str(exc)))
        return
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            run_worker(sock, limits, base_vm, uid, tier, root, scratch, config["hide"], w)
        finally:
            os._exit(0)
    os.close(w)
    # The worker says "ok" once it is confined, or why it could not be; no student byte has run yet.
    with os.fdopen(r, "rb") as fh:
        ready = fh.read(8000).decode(errors="replace")
    if ready != "ok":
        _kill(pid)
        send_message(sock, ("setup-failed", ready or "the worker died while confining itself"))
    else:
        send_message(sock, ("started", pid, tiers.NAMES[tier]))
        _, status = os.waitpid(pid, 0)
        try:
            send_message(sock, ("exited", describe_status(status)))
        except OSError:
            pass
    if uid is not None and not isolated:
        # Whatever the uid started or left behind goes with it, before its uid could matter again.
        tiers.kill_uid(uid)
        tiers.sweep_uid(uid)
    isolation.cleanup_scratch(scratch, isolated)


def build_world(config: dict, limits: isolation.Limits, uid: int | None, isolated: bool,
                new_pid: bool = True) -> tuple[str | None, str]:
    """A worker's world before it moves in: with ``isolated``, new namespaces (a new PID one for
    its children when ``new_pid``), its root with the course hidden; then the scratch folder
    holding its files. (root or None, scratch)."""
    root = None
    if isolated:
        isolation.enter_namespaces(pid=new_pid)
        root = isolation.build_root(python_paths(), limits)
        isolation.hide_paths(config["hide"], root)  # course files inside kept folders (e.g. a wheel install)
    return root, isolation.make_scratch(config["files"], uid, root, _scratch_parent)


def set_process_name(name: str) -> None:
    """The name ps, top and perf show (all would otherwise say python3), best effort."""
    try:
        with open("/proc/self/comm", "w") as fh:
            fh.write(name)
    except OSError:
        pass


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except OSError:
        pass


def python_paths() -> list[str]:
    """Folders of the Python installation the worker may read from."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    paths |= {p for p in sys.path if p and os.path.isdir(p) and "site-packages" in p}
    return sorted(paths)


def describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        reasons = {
            signal.SIGKILL: "killed (time or memory limit)",
            signal.SIGXCPU: "stopped by the CPU-time limit",
            signal.SIGSEGV: "crashed (segmentation fault)",
        }
        return reasons.get(sig, f"killed by signal {signal.Signals(sig).name}")
    return f"exited with status {os.WEXITSTATUS(status)}"


def run_worker(sock, limits, base_vm, uid, tier, root, scratch, hide, ready_fd) -> None:
    """Become the confined worker, tell the intermediate (``ready_fd``), then serve requests."""
    isolated = tier == tiers.NAMESPACES
    set_process_name("dg-worker")
    try:
        if isolated:
            isolation.enter_root(root)
            scratch = isolation.SCRATCH
        output = isolation.redirect_output(scratch)
        if uid is not None:
            os.chown(output, uid, uid)
        isolation.confine_self(limits, base_vm, uid, scratch)
        if tier == tiers.PRIVILEGE_DROP:
            # Hidden only by ownership and mode here: refuse unless every hidden path is closed to us.
            exposed = tiers.exposed_paths(hide)
            if exposed:
                raise isolation.IsolationError(0, "the worker could read hidden course paths: "
                                                  + tiers.chmod_command(exposed))
        isolation.close_fds_except({sock.fileno(), ready_fd})
        project = os.environ.get("DEEPGRADE_PROJECT", "")
        os.environ.clear()
        os.environ.update(
            HOME=scratch, TMPDIR=scratch, PATH="/usr/bin:/bin", LANG="C.UTF-8", MPLBACKEND="Agg",
            OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
        )
        scrub_imports(scratch, hide, project)
        try:
            seccomp.install(single_process=limits.max_processes <= 1)
        except OSError:
            if tier == tiers.PRIVILEGE_DROP:
                raise  # without namespaces the filter is what keeps the network away
    except BaseException as exc:  # noqa: BLE001
        os.write(ready_fd, f"confining the worker failed: {exc}".encode()[:8000])
        return
    os.write(ready_fd, b"ok")
    os.close(ready_fd)
    Worker(sock, output).serve()


def scrub_imports(scratch: str, hide: list[str], project: str = "") -> None:
    """Import path: the student's folder plus installed libraries, never the course.

    Hidden folders go with everything below them; the project folder itself only as an
    exact entry, since a virtual environment may live inside it.
    """
    hidden = [h.rstrip("/") + "/" for h in hide if h]

    def keep(p: str) -> bool:
        p = os.path.abspath(p or ".")
        return not any((p + "/").startswith(h) for h in hidden) and p not in (os.getcwd(), project)

    # "/" (the fork server's start folder) would make every folder a namespace package.
    sys.path[:] = [scratch] + [p for p in sys.path if p and p != "/" and "__editable__" not in p and keep(p)]
    sys.path_importer_cache.clear()
    # Editable installs map package names to the source tree through a meta-path finder.
    sys.meta_path[:] = [f for f in sys.meta_path
                        if "__editable__" not in (f.__module__ if isinstance(f, type) else type(f).__module__)]
    for name in [m for m in sys.modules if m == "solutions" or m.startswith(("solutions.", "autograder.graders"))]:
        del sys.modules[name]
    importlib.invalidate_caches()


def choose_tier() -> tuple[int, str]:
    """This machine's tier and, below tier 1, why namespaces are not available."""
    namespaces, reason = probe_isolation()
    if os.environ.get("DEEPGRADE_NO_NAMESPACES") == "1":
        namespaces, reason = False, "namespaces disabled by DEEPGRADE_NO_NAMESPACES=1"
    root = os.geteuid() == 0
    tier = tiers.choose(namespaces, root, seccomp.available())
    if tier == tiers.UNCONFINED:
        reason += "; " + (seccomp.UNAVAILABLE if root else "not root, so no per-worker uid either")
    return tier, reason


def preflight(sock: socket.socket, uid: int) -> None:
    """As a fresh worker uid: which hidden paths could a tier 2 worker read?"""
    paths = recv_message(sock)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    send_message(sock, ("exposed", tiers.exposed_paths(paths)))


def main() -> None:
    ctrl = socket.socket(fileno=int(sys.argv[1]))
    set_process_name("dg-zygote")
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
    tier, reason = choose_tier()
    seccomp.prepare()  # each worker's filter, built once here
    base_vm = vm_bytes()
    ctrl.send(encode(("ready", tier, reason, base_vm)))
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    # Every worker empties the import caches (scrub_imports). Emptied once here, that costs a
    # worker nothing, where freeing the finders preloading built copied ~250 pages in each.
    sys.path_importer_cache.clear()
    importlib.invalidate_caches()
    # What the fork server holds now is never garbage: out of the collector's sight, a worker's
    # collections no longer write to (and so copy) the pages it shares with us (~270 of ~2,000
    # page faults per worker).
    gc.freeze()
    uids = tiers.UidAllocator() if os.geteuid() == 0 else None
    global _scratch_parent
    if tier != tiers.NAMESPACES:
        _scratch_parent = isolation.scratch_parent()
    try:
        serve(ctrl, tier, base_vm, uids)
    finally:
        if _scratch_parent:
            shutil.rmtree(_scratch_parent, ignore_errors=True)


_scratch_parent: str | None = None


def serve(ctrl: socket.socket, tier: int, base_vm: int, uids) -> None:
    """Start a worker for each spawn request (or a preflight child) until the parent hangs up.

    As root with namespaces, a worker is forked straight from here as PID 1 of a new PID
    namespace and sets up its own world (``run_direct``); this process then reports when it
    is ready and how it ended. Otherwise an intermediate process does both (``run_intermediate``):
    as an ordinary user the worker's user namespace must come first, and outside namespaces
    the intermediate sweeps the worker's uid when it ends.
    """
    direct = Direct() if tier == tiers.NAMESPACES and os.geteuid() == 0 else None
    while True:
        if direct is not None:
            try:
                if ctrl.fileno() not in direct.wait(ctrl.fileno()):
                    continue
            except OSError:
                break
        try:
            msg, fds, _flags, _addr = socket.recv_fds(ctrl, 1024, 1)
        except OSError:
            break
        if not msg:
            break
        what = decode(msg)
        what = what if type(what) is tuple and what else (what,)  # ("spawn", tier) or "preflight"
        if what[0] not in ("spawn", "preflight") or not fds:
            for fd in fds:
                os.close(fd)
            continue
        uid = None
        if uids is not None:
            try:
                uid = uids.allocate()  # here, not in the child: the counter lives in this process
            except OSError:
                uid = None
        child = socket.socket(fileno=fds[0])
        # The worker's files never pass through this process: every worker is forked from it, so
        # whatever it once read (and freed) would be in the memory of every later one. The child
        # reads them. The parent names the tier here; it may only step down (an opted-in tier 3).
        worker_tier = tier
        if what[0] == "spawn" and len(what) > 1 and type(what[1]) is int:
            worker_tier = max(tier, what[1])
        if what[0] == "spawn" and direct is not None and worker_tier == tiers.NAMESPACES:
            direct.start(ctrl, child, base_vm, uid)
            continue
        pid = os.fork()
        if pid == 0:
            ctrl.close()
            try:
                if what[0] == "spawn":
                    run_intermediate(child, worker_tier, base_vm, uid)
                elif uid is not None:
                    preflight(child, uid)
            finally:
                os._exit(0)
        child.close()
        if direct is not None:
            direct.adopt(pid)


def _tell(sock: socket.socket, value) -> None:
    """One message to a worker's parent, never blocking this process (it serves every worker)."""
    payload = encode(value)
    try:
        sock.send(struct.pack("<Q", len(payload)) + payload, socket.MSG_DONTWAIT)
    except OSError:
        pass  # the parent hung up (it killed the worker), or is not reading


class Direct:
    """Workers forked straight from the fork server (as root with namespaces): each is PID 1
    of a PID namespace of its own, made just for it, and enters its other namespaces itself.
    Saves a process per worker (its fork, its page faults, its exit), about a third of what
    starting a worker costs the machine.

    This process reports, on each worker's socket, ("started", pid, tier) once the worker is
    confined (it writes "ok", or why not, into a pipe) or ("setup-failed", why), and
    ("exited", how) when it ends, as the intermediate does.
    """

    def __init__(self) -> None:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # exit statuses are reported, so children are waited for
        self.own_pids = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        self.starting: dict[int, _Child] = {}  # readiness pipe -> worker
        self.running: dict[int, _Child] = {}  # pidfd -> worker (or intermediate, ``sock`` None)

    def wait(self, ctrl: int) -> list[int]:
        """Block until the parent or a worker has something; handle the workers'; the ready fds.
        (poll, not select: no limit on descriptor numbers.)"""
        poller = select.poll()
        for fd in (ctrl, *self.starting, *self.running):
            poller.register(fd, select.POLLIN)
        ready = [fd for fd, _events in poller.poll()]
        for fd in ready:
            if fd in self.starting:
                self._readiness(fd)
            elif fd in self.running:
                self._ended(fd)
        return ready

    def start(self, ctrl: socket.socket, sock: socket.socket, base_vm: int, uid: int | None) -> None:
        r = w = pid = -1
        try:
            r, w = os.pipe()
            os.set_blocking(r, False)
            # A PID namespace for this worker's children only: new for every worker, and this
            # process's own again right after the fork, so nothing else is ever forked into it.
            isolation.setns(self.own_pids, isolation.CLONE_NEWPID)
            isolation.unshare(isolation.CLONE_NEWPID)
            pid = os.fork()
            if pid == 0:
                try:
                    ctrl.close()
                    os.close(r)
                    run_direct(sock, base_vm, uid, w)
                finally:
                    os._exit(0)
            isolation.setns(self.own_pids, isolation.CLONE_NEWPID)
            os.close(w)
            w = -1
            pidfd = os.pidfd_open(pid)
        except OSError as exc:  # no descriptor, no process or no namespace left: this worker only fails
            try:
                isolation.setns(self.own_pids, isolation.CLONE_NEWPID)
            except OSError:
                pass
            if pid > 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            for fd in (r, w):
                if fd >= 0:
                    os.close(fd)
            _tell(sock, ("setup-failed", f"starting the worker: {exc}"))
            sock.close()
            return
        self.starting[r] = _Child(pid, pidfd, sock)

    def adopt(self, pid: int) -> None:
        """An intermediate (or preflight) child: waited for when it ends, nothing reported."""
        self.running[os.pidfd_open(pid)] = _Child(pid, -1, None)

    def _readiness(self, r: int) -> None:
        child = self.starting[r]
        try:
            data = os.read(r, 8000)
        except BlockingIOError:
            return
        child.said += data
        if child.said == b"ok":
            del self.starting[r]
            os.close(r)
            _tell(child.sock, ("started", child.pid, tiers.NAMES[tiers.NAMESPACES]))
            self.running[child.pidfd] = child
        elif not data or len(child.said) >= 8000:  # the worker closed the pipe without "ok"
            del self.starting[r]
            os.close(r)
            signal.pidfd_send_signal(child.pidfd, signal.SIGKILL)
            os.waitpid(child.pid, 0)
            os.close(child.pidfd)
            why = child.said.decode(errors="replace") or "the worker died while confining itself"
            _tell(child.sock, ("setup-failed", why))
            child.sock.close()

    def _ended(self, pidfd: int) -> None:
        child = self.running.pop(pidfd)
        _, status = os.waitpid(child.pid, 0)
        os.close(pidfd)
        if child.sock is not None:
            _tell(child.sock, ("exited", describe_status(status)))
            child.sock.close()


class _Child:
    __slots__ = ("pid", "pidfd", "sock", "said")

    def __init__(self, pid: int, pidfd: int, sock: socket.socket | None) -> None:
        self.pid, self.pidfd, self.sock, self.said = pid, pidfd, sock, b""


def run_direct(sock: socket.socket, base_vm: int, uid: int | None, ready_fd: int) -> None:
    """A worker forked straight from the fork server (PID 1 of its PID namespace): read its
    settings and files from the parent, enter new mount, network and IPC namespaces, build the
    root and the scratch folder, then confine itself and serve (``run_worker``). Setup
    failures are written to ``ready_fd``."""
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
    set_process_name("dg-worker")
    try:
        config = recv_message(sock, trusted=True)  # from the parent: paths kept exactly
        limits = isolation.Limits(**config["limits"])
        root, scratch = build_world(config, limits, uid, True, new_pid=False)
    except BaseException as exc:  # noqa: BLE001
        os.write(ready_fd, str(exc).encode()[:8000] or b"setting up the worker failed")
        return
    run_worker(sock, limits, base_vm, uid, tiers.NAMESPACES, root, scratch, config["hide"], ready_fd)


if __name__ == "__main__":
    main()
