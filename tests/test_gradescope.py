"""The Gradescope autograder zip, unpacked and run as Gradescope would, in a temporary /autograder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

import jsonschema
import nbformat
import pytest
from click.testing import CliRunner

from autograder.grading import grade_file
from autograder.notebooks import notebook_from_source
from cli import main
from tests.conftest import SAMPLES, SOLUTIONS, grade_all

TOPIC = "activations"

# Gradescope's results.json, as its autograder specification documents it
# (gradescope-autograders.readthedocs.io, "Autograder Specifications"): every key it
# lists, none it does not, and the ones deepgrade always writes required.
VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
FORMAT = {"enum": ["text", "html", "simple_format", "md", "ansi"]}
GRADESCOPE_RESULTS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["score", "execution_time", "output", "stdout_visibility", "tests"],
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number"},
        "output": {"type": "string"},
        "output_format": FORMAT,
        "test_output_format": FORMAT,
        "test_name_format": FORMAT,
        "visibility": VISIBILITY,
        "stdout_visibility": VISIBILITY,
        "extra_data": {"type": "object"},
        "leaderboard": {"type": "array"},
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "score", "max_score", "status", "visibility", "output"],
                "properties": {
                    "score": {"type": "number"},
                    "max_score": {"type": "number"},
                    "status": {"enum": ["passed", "failed"]},
                    "name": {"type": "string"},
                    "name_format": FORMAT,
                    "number": {"type": "string"},
                    "output": {"type": "string"},
                    "output_format": FORMAT,
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "visibility": VISIBILITY,
                    "extra_data": {"type": "object"},
                },
            },
        },
    },
}


def valid_results(path: Path) -> dict:
    data = json.loads(path.read_text())
    jsonschema.validate(data, GRADESCOPE_RESULTS)
    assert data["stdout_visibility"] == "hidden"
    assert data["score"] == pytest.approx(sum(t["score"] for t in data["tests"]))
    return data


@pytest.fixture(scope="module")
def autograder() -> dict:
    """Build the zip with the CLI, unpack it into a fresh /autograder and run setup.sh offline.

    The folder is world-readable, like Gradescope's /autograder: where the sandbox has no
    namespaces (tier 2) only setup.sh's lockdown keeps student code out of the secrets.
    """
    tmp = Path(tempfile.mkdtemp(prefix="dg-gradescope-"))
    tmp.chmod(0o755)
    yield _build(tmp)
    shutil.rmtree(tmp, ignore_errors=True)


def _build(tmp: Path) -> dict:
    zip_path = tmp / "autograder.zip"
    result = CliRunner().invoke(main, ["gradescope", TOPIC, "--out", str(zip_path)])
    assert result.exit_code == 0, result.output
    root = tmp / "autograder"
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(root / "source")
        for info in zf.infolist():  # zipfile drops permissions; Gradescope keeps them
            os.chmod(root / "source" / info.filename, (info.external_attr >> 16) & 0o777)
    # Offline: the wheel from the zip; its dependencies are already installed here.
    env = {**os.environ, "DEEPGRADE_AUTOGRADER_ROOT": str(root), "DEEPGRADE_PYTHON": sys.executable,
           "DEEPGRADE_VENV_OPTIONS": "--system-site-packages --without-pip",
           "DEEPGRADE_PIP_OPTIONS": f"--no-index --find-links {root / 'source'} --no-deps --force-reinstall"}
    setup = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env, capture_output=True, text=True,
                           timeout=300)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")  # as Gradescope does
    python = root / "venv" / "bin" / "python"
    # The dependencies setup.sh would fetch from PyPI: this environment's (a .pth, since
    # --system-site-packages reaches only the base interpreter's, which in CI is not this one).
    venv_site = next((root / "venv" / "lib").glob("python3*/site-packages"))
    ours = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    (venv_site / "_test_dependencies.pth").write_text("\n".join(ours) + "\n")
    site = subprocess.run([str(python), "-I", "-c", "import autograder, sysconfig; print(autograder.__file__); "
                           "print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True, check=True,
                          cwd=root)
    package, purelib = site.stdout.split()
    return {"zip": zip_path, "root": root, "site": Path(purelib), "package": Path(package)}


# How run_autograder is started: as is, or as root in a Docker-like container (namespaces
# refused by a seccomp filter, tests/dockerlike.py), where deepgrade must pick sandbox tier 2.
DOCKER_LIKE = (sys.executable, str(Path(__file__).with_name("dockerlike.py")))
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="Gradescope runs the autograder as root")


def run_autograder(ag: dict, files: dict[str, str | bytes], launcher: tuple[str, ...] = (), **env: str) -> dict:
    """Place ``files`` in /autograder/submission, run run_autograder, return the valid results.json."""
    root = ag["root"]
    for folder in ("submission", "results"):
        shutil.rmtree(root / folder, ignore_errors=True)
        (root / folder).mkdir()
    for name, content in files.items():
        path = root / "submission" / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    (root / "submission_metadata.json").write_text(json.dumps({"users": [{"email": "s@example.edu", "id": 7}]}))
    done = subprocess.run([*launcher, str(root / "run_autograder")], env={**os.environ, **env, "DEEPGRADE_AUTOGRADER_ROOT":
                          str(root)}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return valid_results(root / "results" / "results.json")


def test_zip_layout_setup_and_run_scripts_at_the_root_and_the_wheel_inside(autograder):
    with zipfile.ZipFile(autograder["zip"]) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        wheel = next(n for n in infos if n.endswith(".whl"))
        for script in ("setup.sh", "run_autograder"):
            assert (infos[script].external_attr >> 16) & 0o111, f"{script} must be executable"
        assert json.loads(zf.read("deepgrade-autograder.json"))["topic"] == TOPIC
        with zf.open(wheel) as fh, zipfile.ZipFile(fh) as whl:
            shipped = set(whl.namelist())
    assert {f"solutions/{TOPIC}.py", f"autograder/graders/test_{TOPIC}.py", "autograder/graders/grading.ini"} <= shipped
    # deepgrade runs from the wheel installed in the image, not from this checkout
    assert autograder["package"].is_relative_to(autograder["root"] / "venv")


def test_reference_buggy_and_notebook_submissions(autograder):
    reference = run_autograder(autograder, {f"{TOPIC}.py": (SOLUTIONS / f"{TOPIC}.py").read_text()})
    assert reference["score"] == 100 and all(t["status"] == "passed" for t in reference["tests"])
    assert reference["extra_data"]["student_id"] == "s@example.edu"

    buggy_source = (SAMPLES / "ben" / f"{TOPIC}.py").read_text()
    buggy = run_autograder(autograder, {f"{TOPIC}.py": buggy_source})
    local = grade_file(TOPIC, SAMPLES / "ben" / f"{TOPIC}.py")
    assert buggy["score"] == local.score < 100
    assert [(t["number"], t["score"]) for t in buggy["tests"]] == [(c.check_id, c.score) for c in local.checks]
    assert any(t["status"] == "failed" and t["output"] for t in buggy["tests"])

    nb = nbformat.writes(notebook_from_source((SOLUTIONS / f"{TOPIC}.py").read_text()))
    notebook = run_autograder(autograder, {"my homework.ipynb": nb})  # any single file is taken
    assert notebook["score"] == 100 and "graded my homework.ipynb as activations.ipynb" in notebook["output"]

    nothing = run_autograder(autograder, {"notes.txt": "I forgot"})
    assert nothing["score"] == 0 and "no activations.py or activations.ipynb" in nothing["output"]


THIEF = '''
"""Hostile: looks for the references and graders that came inside autograder.zip."""
import os  # preloaded in the worker; glob may not be importable where the stdlib is closed

TARGETS = {targets!r}
for label, pattern in TARGETS.items():
    got = b""
    try:
        paths = [pattern]
        if pattern.endswith("*.whl"):
            folder = os.path.dirname(pattern)
            paths = [os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".whl")] or [folder + "/x.whl"]
        for path in paths:
            if os.path.isdir(path):
                got += "".join(os.listdir(path)).encode()
            else:
                with open(path, "rb") as fh:
                    got += fh.read(100)
    except OSError as exc:
        print(label, "blocked:", type(exc).__name__)
    else:
        print(label, "STOLEN" if got else "blocked: empty")
try:
    from solutions import activations as _ref
    print("import solutions STOLEN")
except Exception as exc:
    _ref = None
    print("import solutions blocked:", type(exc).__name__)
try:
    import autograder.graders.test_activations  # noqa: F401
    print("import graders STOLEN")
except Exception as exc:
    print("import graders blocked:", type(exc).__name__)


def sigmoid(z):
    return _ref.sigmoid(z)
'''


def thief(ag: dict) -> str:
    site, root = ag["site"], ag["root"]
    targets = {"reference file": f"{site}/solutions/{TOPIC}.py", "solutions folder": f"{site}/solutions",
               "graders file": f"{site}/autograder/graders/test_{TOPIC}.py", "quiz bank": f"{site}/quizzes/bank",
               "wheel in source": f"{root}/source/*.whl", "source folder": f"{root}/source",
               "gradescope source": "/autograder/source/*.whl", "results folder": f"{root}/results"}
    return THIEF.format(targets=targets)


MODES = {"namespaces": ((), {}), "no namespaces (forced)": ((), {"DEEPGRADE_NO_NAMESPACES": "1"}),
         "docker-like": (DOCKER_LIKE, {})}


@pytest.mark.parametrize("mode", list(MODES))
def test_references_and_graders_in_the_zip_stay_invisible_to_student_code(autograder, mode):
    launcher, env = MODES[mode]
    if mode == "docker-like" and os.geteuid() != 0:
        pytest.skip("Gradescope runs the autograder as root")
    data = run_autograder(autograder, {f"{TOPIC}.py": thief(autograder)}, launcher, **env)
    assert data["score"] == 0
    if mode != "namespaces" and os.geteuid() != 0:
        # An ordinary user without namespaces has no sandbox at all (tier 3): it refuses.
        assert "refusing to grade: this machine cannot confine student code" in data["output"], data["output"]
        return
    assert "STOLEN" not in data["output"], data["output"]
    for label in [*THIEF_LABELS, "import solutions", "import graders"]:
        assert f"{label} blocked" in data["output"], (label, data["output"])
    assert ("sandbox: tier 1 (namespaces)" in data["output"]) == (mode == "namespaces")
    assert ("sandbox: tier 2 (privilege drop" in data["output"]) == (mode != "namespaces")


THIEF_LABELS = ["reference file", "solutions folder", "graders file", "quiz bank", "wheel in source", "source folder",
                "gradescope source", "results folder"]


@pytest.mark.slow
@needs_root
def test_tier_2_in_a_docker_like_container_gives_the_same_scores_as_tier_1(autograder):
    """Gradescope's containers refuse namespaces: the package must grade there, and exactly as in tier 1.

    Uploads: the reference, a buggy student (ben), a forging one (mallory), the thief, a notebook.
    """
    samples = {name: {f"{TOPIC}.py": (SAMPLES / name / f"{TOPIC}.py").read_text()} for name in ("ben", "mallory")}
    uploads = {"reference": {f"{TOPIC}.py": (SOLUTIONS / f"{TOPIC}.py").read_text()}, **samples,
               "notebook": {"my homework.ipynb": nbformat.writes(notebook_from_source(
                   (SOLUTIONS / f"{TOPIC}.py").read_text()))},
               "thief": {f"{TOPIC}.py": thief(autograder)}}
    # Tier 1: every .py upload graded here in one run; the notebook is the reference's.
    local = grade_all(TOPIC, {name: files[f"{TOPIC}.py"] for name, files in uploads.items() if f"{TOPIC}.py" in files})
    local["notebook"] = local["reference"]
    assert local["reference"].score == 100 and local["thief"].score == 0
    for name, files in uploads.items():
        two = run_autograder(autograder, files, DOCKER_LIKE)
        assert "sandbox: tier 2 (privilege drop" in two["output"] and "unshare" in two["output"], two["output"]
        assert [(t["number"], t["score"]) for t in two["tests"]] == [(c.check_id, c.score) for c in local[name].checks]
        assert two["score"] == local[name].score, name
        assert "STOLEN" not in two["output"]
