"""Start the sandbox's fork server before the grading process has finished its own imports.

The fork server takes about as long to come up (a fresh Python importing NumPy) as the
grading process takes to import pytest and NumPy; `deepgrade grade` of one submission
starts it first, so the two overlap. This module imports nothing heavy: the sandbox
package itself pulls in NumPy.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # folder holding the autograder package

Started = tuple[subprocess.Popen, socket.socket, IO[bytes]]
_early: tuple[int, Started] | None = None


def launch() -> Started:
    """Start a fork server: its process, this side of its control socket, and its log file."""
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


def take_early() -> Started | None:
    """The fork server ``start_early`` started in this very process (never a forked copy's), once."""
    global _early
    early, _early = _early, None
    if early is None or early[0] != os.getpid():
        return None
    return early[1]
