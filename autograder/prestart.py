"""Start the sandbox's fork server before the grading process has finished its own imports.

The fork server takes about as long to come up (a fresh Python importing NumPy) as the
grading process takes to import click, pytest and NumPy, and the two are the critical path
of `deepgrade grade` of one submission. So cli.py calls ``start_early_for`` before its own
imports; the grade command confirms (or cancels) with its parsed options, and the first
``Sandbox`` of the process takes the server. This module imports nothing heavy: every
command imports it, and the sandbox package itself pulls in NumPy.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:  # imported where a fork server starts: every command imports this module (cli.py)
    import socket
    import subprocess

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # folder holding the autograder package

Started = tuple["subprocess.Popen", "socket.socket", IO[bytes]]
_early: tuple[int, Started] | None = None


def launch() -> Started:
    """Start a fork server: its process, this side of its control socket, and its log file."""
    import socket
    import subprocess
    import tempfile

    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    log = tempfile.TemporaryFile()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(PACKAGE_ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
        "DEEPGRADE_PROJECT": str(PACKAGE_ROOT),
    }
    if os.environ.get("DEEPGRADE_NO_NAMESPACES"):
        env["DEEPGRADE_NO_NAMESPACES"] = os.environ["DEEPGRADE_NO_NAMESPACES"]
    proc = subprocess.Popen(
        [sys.executable, "-s", "-m", "autograder.sandbox.zygote", str(child.fileno())],
        pass_fds=[child.fileno()], env=env, stdin=subprocess.DEVNULL,
        stdout=log, stderr=log, cwd="/",
    )
    child.close()
    return proc, parent, log


def start_early() -> None:
    """Start this process's fork server now; the first ``Sandbox`` of this process takes it.
    Unused, it exits with this process (its control socket closes)."""
    global _early
    if _early is None:
        _early = (os.getpid(), launch())


# Options after which this process grades nothing (help) or not alone (a course, a cluster).
_NOT_ALONE = ("--course", "--scheduler", "-h", "--help", "--version")
PROGRAMS = ("deepgrade", "cli.py")  # how the command line names deepgrade (sys.argv[0])


def start_early_for(argv: list[str]) -> bool:
    """From the very top of the CLI, before click and the rest are imported: start the fork
    server now when the command line is `deepgrade grade TOPIC SUBMISSIONS ...` that may grade
    in this process, or `deepgrade check TOPIC ...`, so it comes up ~30 ms sooner. A cheap
    guess from the words alone; the grade command decides with its parsed options and calls
    ``cancel_early`` when it grades elsewhere (several grading processes, a course, a cluster).
    Anything else starts nothing: another program (a test runner) importing the CLI, another
    command, asking for help."""
    command = argv[1] if len(argv) > 1 else ""
    least = {"grade": 4, "check": 3}.get(command)  # words: the program, the command, its arguments
    if least is None or len(argv) < least or os.path.basename(argv[0]) not in PROGRAMS:
        return False
    words = argv[2:]
    if any(w.split("=", 1)[0] in _NOT_ALONE for w in words):
        return False
    workers = next((w for prev, w in zip(words, words[1:]) if prev == "--workers"), None)
    if (workers or next((w[10:] for w in words if w.startswith("--workers=")), "1")) != "1":
        return False  # several grading processes, each starting its own
    start_early()
    return True


def cancel_early() -> None:
    """Stop the fork server ``start_early`` started if it will not be used, before this process
    forks grading processes (they would hold its control socket open)."""
    started = take_early()
    if started is not None:
        proc, ctrl, log = started
        ctrl.close()
        proc.kill()
        proc.wait()
        log.close()


def take_early() -> Started | None:
    """The fork server ``start_early`` started in this very process (never a forked copy's), once."""
    global _early
    early, _early = _early, None
    if early is None or early[0] != os.getpid():
        return None
    return early[1]
