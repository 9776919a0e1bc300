"""Start the real `deepgrade serve` in a subprocess (own process group, so a test can SIGKILL it whole)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, course: Path, *, workers: int = 1, demo: bool = False) -> None:
        self.course, self.workers, self.demo = course, workers, demo
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = course.parent / f"serve-{self.port}.log"

    def start(self, timeout: float = 60.0) -> Server:
        args = [sys.executable, "-c", "from cli import main; main()", "serve", "--course", str(self.course),
                "--port", str(self.port), "--workers", str(self.workers)] + (["--demo"] if self.demo else [])
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"the server did not come up: {self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL the server and its grading processes: nothing gets to clean up."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
