"""Run part of the test suite, or a Python snippet, as an ordinary (non-root) user.

Instructors run deepgrade as themselves, so the sandbox must hold without root. CI runs as
root; these helpers create an unprivileged user and run code through it:

    from tests.nonroot import python_as_user
    done = python_as_user("from autograder.grading import grade_file; ...")   # CompletedProcess

Run as root, they create the user (``useradd``) if missing and give it traverse rights
(``o+x``, never read) on the folders above the checkout and the Python installation, which
may sit under /root. Run as a non-root user already, they simply run the code as it.
The user is ``$DEEPGRADE_TEST_USER`` (default ``dgtest``).
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
USER = os.environ.get("DEEPGRADE_TEST_USER", "dgtest")


def ensure_user(user: str = USER) -> pwd.struct_passwd:
    """The test user, created (as root) when missing."""
    try:
        return pwd.getpwnam(user)
    except KeyError:
        pass
    if os.geteuid() != 0:
        raise RuntimeError(f"user {user} does not exist and only root can create it")
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", user], check=True, capture_output=True)
    return pwd.getpwnam(user)


def grant_traverse(paths: list[Path]) -> list[str]:
    """Add o+x to each folder above ``paths`` that lacks it (as CI must when the clone is under /root).

    Traverse only: nothing becomes listable or readable that was not. Returns what changed.
    """
    changed = []
    for path in paths:
        for folder in [*reversed(Path(path).resolve().parents), Path(path).resolve()]:
            mode = folder.stat().st_mode
            if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
                folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
                changed.append(str(folder))
    return changed


def _environment(home: str) -> dict[str, str]:
    keep = ("PATH", "LANG", "DEEPGRADE_NO_NAMESPACES", "DEEPGRADE_UNSAFE_NO_SANDBOX")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(HOME=home, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1", USER=USER, LOGNAME=USER)
    return env


def as_user(argv: list[str], *, cwd: str | Path | None = None, timeout: float = 600,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``argv`` as the test user (directly when not root); output captured as text."""
    if os.geteuid() != 0:
        return subprocess.run(argv, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                              timeout=timeout)
    user = ensure_user()
    grant_traverse([ROOT, Path(sys.prefix), Path(sys.base_prefix), Path(os.path.realpath(sys.executable)).parent])
    full_env = {**_environment(user.pw_dir), **(env or {})}
    command = ["runuser", "-u", USER, "--", "env", "-i", *[f"{k}={v}" for k, v in full_env.items()], *argv]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def user_tempdir() -> Path:
    """A fresh folder the test user owns (the caller removes it)."""
    folder = Path(tempfile.mkdtemp(prefix="deepgrade-nonroot-"))
    if os.geteuid() == 0:
        user = ensure_user()
        os.chown(folder, user.pw_uid, user.pw_gid)
    return folder


def python_as_user(source: str, *, timeout: float = 600, env: dict[str, str] | None = None
                   ) -> subprocess.CompletedProcess:
    """Run a Python snippet as the test user, in a scratch folder it owns (cwd of the snippet)."""
    folder = user_tempdir()
    try:
        script = folder / "snippet.py"
        script.write_text(source)
        if os.geteuid() == 0:
            os.chown(script, ensure_user().pw_uid, -1)
        return as_user([sys.executable, str(script)], cwd=folder, timeout=timeout, env=env)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def pytest_as_user(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run pytest on ``args`` (test files or node ids) as the test user, from the checkout."""
    return as_user([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=ROOT, timeout=timeout)


if __name__ == "__main__":  # python -m tests.nonroot tests/test_sandbox.py ...: the CI entry point
    done = pytest_as_user(*sys.argv[1:])
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    sys.exit(done.returncode)
