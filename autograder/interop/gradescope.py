"""Gradescope programming-assignment autograders built from deepgrade.

``build_autograder`` writes ``autograder.zip``: ``setup.sh`` (Gradescope runs it once, as
root, to build the image: a virtual environment with deepgrade installed from the bundled
wheel), ``run_autograder`` (run for every submission) and the wheel. ``run`` is what
``run_autograder`` calls: it grades ``/autograder/submission/`` (a ``.py`` or ``.ipynb``)
with the hidden graders and the sandbox, and writes ``/autograder/results/results.json``.

The wheel carries the references and graders, so they are locked away from the student's
code twice: the sandbox hides them (namespaces, allow-list root), and ``lockdown`` makes
them readable by root only, which the worker, running as an unprivileged user, is not.
``DEEPGRADE_AUTOGRADER_ROOT`` points somewhere other than ``/autograder`` (for tests).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

from autograder import __version__

ROOT_ENV = "DEEPGRADE_AUTOGRADER_ROOT"
CONFIG_NAME = "deepgrade-autograder.json"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# What a wheel is built from (a copy, so the build never writes into the working tree).
WHEEL_SOURCES = ("pyproject.toml", "README.md", "cli.py", "autograder", "solutions", "quizzes")

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image: a virtual
# environment with deepgrade (the wheel next to this file) and its dependencies.
# Overrides for testing elsewhere: DEEPGRADE_AUTOGRADER_ROOT, DEEPGRADE_PYTHON,
# DEEPGRADE_VENV_OPTIONS, DEEPGRADE_PIP_OPTIONS.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="${DEEPGRADE_AUTOGRADER_ROOT:-/autograder}"
cd "$root"
if [ -z "${DEEPGRADE_PYTHON:-}" ] && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
fi
python="${DEEPGRADE_PYTHON:-python3}"
"$python" -m venv ${DEEPGRADE_VENV_OPTIONS:-} "$root/venv"
"$root/venv/bin/python" -m pip install --quiet ${DEEPGRADE_PIP_OPTIONS:-} "$here"/deepgrade-*.whl
# References, graders and this folder: readable by root only (the graded code never is root).
"$root/venv/bin/python" -I -m autograder.interop.gradescope lockdown --root "$root"
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission: grade /autograder/submission, write
# /autograder/results/results.json. Grading problems become a results.json that says so.
root="${DEEPGRADE_AUTOGRADER_ROOT:-/autograder}"
cd "$root"
exec "$root/venv/bin/python" -I -m autograder.interop.gradescope run --root "$root"
"""


def autograder_root(root: str | Path | None = None) -> Path:
    """The folder Gradescope calls /autograder."""
    return Path(root or os.environ.get(ROOT_ENV) or "/autograder")


# ---------------------------------------------------------------------------- building


def build_wheel(out_dir: Path) -> Path:
    """``pip wheel . --no-deps`` on a clean copy of this source tree; the wheel's path."""
    if not (PROJECT_ROOT / "pyproject.toml").exists():
        raise RuntimeError("building an autograder needs deepgrade's source tree (pyproject.toml not found)")
    with tempfile.TemporaryDirectory(prefix="deepgrade-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in WHEEL_SOURCES:
            path = PROJECT_ROOT / name
            if path.is_dir():
                shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif path.exists():
                shutil.copy(path, src / name)
        base = [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--quiet", "-w", str(out_dir)]
        # The installed setuptools builds it offline and fast; pip's isolated build is the fallback.
        if subprocess.run([*base, "--no-build-isolation"], capture_output=True).returncode != 0:
            done = subprocess.run(base, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"pip wheel failed:\n{done.stderr[-2000:]}")
    wheels = sorted(out_dir.glob("deepgrade-*.whl"))
    if not wheels:
        raise RuntimeError("pip wheel produced no deepgrade wheel")
    return wheels[-1]


def build_autograder(topic: str, out: str | Path, *, call_timeout: float | None = None) -> Path:
    """Write the Gradescope autograder zip for ``topic``."""
    from autograder.grading import DEFAULT_CALL_TIMEOUT, available_topics

    if topic not in available_topics():
        raise ValueError(f"unknown topic {topic!r}; choose from: {', '.join(available_topics())}")
    out = Path(out)
    config = {"topic": topic, "call_timeout": call_timeout or DEFAULT_CALL_TIMEOUT, "deepgrade": __version__}
    with tempfile.TemporaryDirectory(prefix="deepgrade-gs-") as tmp:
        wheel = build_wheel(Path(tmp))
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            _add(zf, "setup.sh", SETUP_SH, executable=True)
            _add(zf, "run_autograder", RUN_AUTOGRADER, executable=True)
            _add(zf, CONFIG_NAME, json.dumps(config, indent=2) + "\n")
            zf.write(wheel, wheel.name)
    return out


def _add(zf: zipfile.ZipFile, name: str, text: str, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    zf.writestr(info, text)


# ---------------------------------------------------------------------------- in the image


def secret_paths() -> list[Path]:
    """Installed folders the graded code must never read: references, graders, samples, quiz bank."""
    paths = []
    for package in ("solutions", "quizzes", "autograder"):
        spec = importlib.util.find_spec(package)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            folder = Path(folder)
            # The engine itself is no secret (and the worker may import from it); its graders are.
            paths += [folder / "graders", folder / "samples"] if package == "autograder" else [folder]
    return [p for p in paths if p.exists()]


def lockdown(root: Path) -> list[Path]:
    """Make the installed course and the autograder's source folder readable by root only.

    Only an installation inside this environment is touched, never a source checkout.
    """
    locked = []
    prefix = Path(sys.prefix).resolve()
    for top in [*secret_paths(), root / "source"]:
        installed = top.resolve().is_relative_to(prefix) and "site-packages" in top.parts
        if not top.exists() or (top != root / "source" and not installed):
            continue
        for path in [top, *top.rglob("*")]:
            mode = path.lstat().st_mode
            if not stat.S_ISLNK(mode):
                path.chmod(stat.S_IMODE(mode) & ~0o077)
        locked.append(top)
    return locked


def find_submission(folder: Path, topic: str) -> tuple[Path | None, str]:
    """The student's ``<topic>.py`` or ``<topic>.ipynb``, wherever in ``folder`` they put it.

    Gradescope keeps an uploaded folder's structure. The walk never enters a linked folder
    (``autograder.intake.walk_upload``); a file is found by its name whatever it is, and the
    safe reader then refuses a link, FIFO or folder with that name. A single .py or .ipynb
    with another name is taken as the topic's file; the note says so.
    """
    from autograder.intake import walk_upload

    folders = list(walk_upload(folder))
    for suffix in (".py", ".ipynb"):
        for sub in folders:
            if os.path.lexists(sub / f"{topic}{suffix}"):
                return sub / f"{topic}{suffix}", ""
    candidates = []
    for sub in folders:
        try:
            with os.scandir(sub) as entries:
                candidates += [sub / e.name for e in entries if e.name.endswith((".py", ".ipynb"))
                               and not e.name.startswith(".") and e.is_file(follow_symlinks=False)]
        except OSError:
            continue
    if len(candidates) == 1:
        return candidates[0], f"graded {candidates[0].name} as {topic}{candidates[0].suffix}"
    return None, f"no {topic}.py or {topic}.ipynb in the submission"


def grade_submission(root: Path) -> dict:
    """Grade ``root/submission`` and return Gradescope's results.json content.

    The upload is read by the safe reader, like a batch: the folder holding the topic file
    (inside the upload), regular files only, never through a link.
    """
    from autograder.grading import DEFAULT_CALL_TIMEOUT, Job, failing_module, read_student_files, run_session
    from autograder.results import SubmissionResult

    config = json.loads((root / "source" / CONFIG_NAME).read_text())
    topic = config["topic"]
    path, where = find_submission(root / "submission", topic)
    files, note = read_student_files(path.parent, path.stem, root=root / "submission") if path else ({}, "")
    if path is not None and path.stem != topic:
        files[f"{topic}.py"] = files.pop(f"{path.stem}.py", None) or failing_module(f"{path.name} was not graded")
    job = Job(student_id(root), topic, files, "; ".join(n for n in (where, note) if n))
    results: list[SubmissionResult] = []
    hide = [root / "source", root / "results", *secret_paths()]
    close_results(root / "results")
    run_session([job], results.append, call_timeout=float(config.get("call_timeout", DEFAULT_CALL_TIMEOUT)),
                hide=[p for p in hide if p.exists()])
    return results[0].to_gradescope()


def close_results(results: Path) -> None:
    """Make results/ root's alone before student code runs (Gradescope reads it as root).

    Where the sandbox runs without namespaces (tier 2: Gradescope's Docker containers),
    paths are hidden from student code only by ownership and mode.
    """
    if os.geteuid() == 0 and results.is_dir() and not results.is_symlink():
        results.chmod(0o700)


def student_id(root: Path) -> str:
    """The submitter's email (or id) from Gradescope's submission_metadata.json."""
    try:
        users = json.loads((root / "submission_metadata.json").read_text()).get("users") or []
        return str(users[0].get("email") or users[0].get("id") or "submission")
    except (OSError, ValueError, IndexError, AttributeError):
        return "submission"


def run(root: Path) -> dict:
    """Grade and write results.json; a failure of deepgrade itself still writes one that says so."""
    start = time.perf_counter()
    try:
        data = grade_submission(root)
    except Exception as exc:  # noqa: BLE001 - the student must see a result, the instructor the cause
        traceback.print_exc()
        data = {"score": 0.0, "execution_time": round(time.perf_counter() - start, 3),
                "output": f"The autograder could not grade this submission ({type(exc).__name__}: {exc}). "
                          "Your instructor has been shown the details.",
                "stdout_visibility": "hidden", "tests": []}
    from autograder.results import atomic_write

    atomic_write(root / "results" / "results.json", json.dumps(data, indent=2) + "\n")
    print(f"score {data['score']:g} in {data['execution_time']:.1f} s; {len(data['tests'])} checks")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.interop.gradescope")
    parser.add_argument("step", choices=["run", "lockdown"])
    parser.add_argument("--root", default=None, help=f"the /autograder folder (or ${ROOT_ENV})")
    args = parser.parse_args(argv)
    root = autograder_root(args.root)
    if args.step == "lockdown":
        for path in lockdown(root):
            print(f"locked {path}")
        return 0
    run(root)
    return 0


if __name__ == "__main__":
    from autograder import one_blas_thread

    one_blas_thread()  # before NumPy loads, as `deepgrade` grades
    sys.exit(main())
