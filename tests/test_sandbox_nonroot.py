"""The sandbox when deepgrade runs as an ordinary user, as instructors run it.

The whole grading path (``grade_jobs``: fork server, workers, graders) runs as the test
user (``tests/nonroot.py``; CI runs as root and creates one). Without root the worker's
user namespace makes it uid 0 there, so these are the attacks that used to work: a second
chroot and ``..`` out of the first, reading the references by path and by import, writing
into the instructor's home and checkout. They must all fail, and there must be namespaces:
if the machine refuses them these tests fail, they do not skip (deepgrade would refuse to
grade there anyway).
"""

from __future__ import annotations

import json
import os
import uuid

import pytest

from tests.conftest import ROOT, SOLUTIONS
from tests.nonroot import python_as_user

TOPIC = "activations"
MARK = f"planted-{uuid.uuid4().hex[:8]}"

# Every hostile student takes the reference if it reaches it, so a leak would score.
ESCAPE = '''
import os
def _take(path):
    try:
        text = open(path).read()
    except OSError as exc:
        print("blocked", path, type(exc).__name__)
        return
    print("STOLEN", path)
    exec(text, globals())

# The classic escape from a chroot: chroot into a subfolder, climb with "..", chroot there.
try:
    os.makedirs("/tmp/jail", exist_ok=True)
    fd = os.open("/", os.O_RDONLY)
    os.chroot("/tmp/jail")
    os.fchdir(fd)
    for _ in range(64):
        os.chdir("..")
    os.chroot(".")
    print("chroot escape ran")
except OSError as exc:
    print("blocked chroot", type(exc).__name__)
for path in ({ref!r}, "/proc/1/root" + {ref!r}, "/proc/self/root" + {ref!r}):
    _take(path)
print("LISTED /", sorted(os.listdir("/")))
try:
    print("LISTED checkout", sorted(os.listdir({root!r})))
except OSError as exc:
    print("blocked listing the checkout", type(exc).__name__)
'''

IMPORT_THIEF = '''
import sys
sys.path[:0] = [{root!r}, {solutions!r}]
for name in ("solutions.activations", "autograder.graders.test_activations"):
    try:
        __import__(name)
        print("STOLEN import", name)
    except Exception as exc:
        print("blocked import", name, type(exc).__name__)
from solutions.activations import *  # noqa
'''

WRITER = '''
import os
for folder in {folders!r}:
    try:
        with open(os.path.join(folder, {mark!r}), "w") as fh:
            fh.write("x")
        print("WROTE", folder)
    except OSError as exc:
        print("blocked writing", folder, type(exc).__name__)
'''

REMOUNT = '''
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
# Uncover what the sandbox covers, or mount something of our own over it.
for target in ("/", "/tmp", "/usr"):
    rc = libc.umount2(target.encode(), 2)
    print("umount", target, "WORKED" if rc == 0 else "blocked", ctypes.get_errno())
rc = libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)
print("mount", "WORKED" if rc == 0 else "blocked", ctypes.get_errno())
'''

PROBE = '''
import os
def status():
    return [l for l in open("/proc/self/status").read().splitlines()
            if l.startswith(("Uid", "CapEff", "CapPrm", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp:"))]
'''

RUN = '''
import json, os
from autograder.grading import Job, grade_jobs, shared_sandbox
from autograder.sandbox import Submission

students = {students!r}
results = grade_jobs([Job(sid, "activations", {{"activations.py": src.encode()}}) for sid, src in students.items()],
                     workers=1)
sandbox = shared_sandbox()
probe = Submission(sandbox, "activations", {{"activations.py": {probe!r}.encode()}})
print(json.dumps({{"uid": os.geteuid(), "home": os.path.expanduser("~"), "tier": getattr(sandbox, "tier", None),
                  "status": probe.status().fetch(),
                  "results": {{r.student_id: {{"score": r.score, "output": r.output,
                                              "checks": [c.output for c in r.checks]}} for r in results}}}}))
'''


@pytest.fixture(scope="module")
def graded():
    """One grading run, as the ordinary test user, of the reference and each attack."""
    ref = str(SOLUTIONS / f"{TOPIC}.py")
    home_guess = os.path.expanduser("~") if os.geteuid() != 0 else f"/home/{os.environ.get('DEEPGRADE_TEST_USER', 'dgtest')}"
    students = {
        "ref": (SOLUTIONS / f"{TOPIC}.py").read_text(),
        "escaper": ESCAPE.format(ref=ref, root=str(ROOT)),
        "import_thief": IMPORT_THIEF.format(root=str(ROOT), solutions=str(SOLUTIONS)),
        "writer": WRITER.format(folders=[home_guess, str(ROOT), "/tmp", "/var/tmp"], mark=MARK),
        "remounter": REMOUNT,
    }
    done = python_as_user(RUN.format(students=students, probe=PROBE), timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    data = json.loads(done.stdout.strip().splitlines()[-1])
    yield data
    for folder in (data["home"], str(ROOT), "/tmp", "/var/tmp"):
        if os.path.exists(os.path.join(folder, MARK)):
            os.unlink(os.path.join(folder, MARK))


def test_it_ran_as_an_ordinary_user_with_namespaces(graded):
    assert graded["uid"] != 0
    assert graded["tier"] == 1, "namespaces are unavailable to ordinary users here: the sandbox would refuse"
    for result in graded["results"].values():
        assert "sandbox: tier 1 (namespaces)" in result["output"]


def test_the_reference_still_scores_100(graded):
    assert graded["results"]["ref"]["score"] == 100, graded["results"]["ref"]


def test_the_worker_has_no_capabilities_and_no_new_privileges(graded):
    status = dict(line.split(":", 1) for line in graded["status"])
    for field in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
        assert int(status[field], 16) == 0, (field, status[field])
    assert status["NoNewPrivs"].strip() == "1" and status["Seccomp"].strip() == "2"


def python_inside_checkout() -> str | None:
    """The checkout's top folder that holds this Python installation (e.g. '.ci-venv'), if any."""
    import sys

    prefix = os.path.realpath(sys.prefix)
    root = os.path.realpath(ROOT)
    if prefix.startswith(root + os.sep):
        return os.path.relpath(prefix, root).split(os.sep)[0]
    return None


@pytest.mark.parametrize("student", ["escaper", "import_thief"])
def test_no_escape_and_no_reference_by_path_or_import(graded, student):
    result = graded["results"][student]
    text = result["output"] + "\n".join(result["checks"])
    assert result["score"] == 0, text
    assert "STOLEN" not in text, text
    if student == "escaper":
        # After the escape attempt "/" is still the worker's own root: no home folders, no checkout.
        listed = [line for line in result["output"].splitlines() if line.startswith("LISTED /")]
        assert len(listed) == 1 and "'home'" not in listed[0], listed
        # The checkout exists for the worker only as the way to a Python installation inside it (CI's
        # .ci-venv): then it lists that folder and nothing else (no solutions, graders, tests, .git).
        checkout = [line for line in result["output"].splitlines() if line.startswith("LISTED checkout")]
        if checkout:
            assert python_inside_checkout(), checkout
            assert checkout[0] == f"LISTED checkout {[python_inside_checkout()]}", checkout
        else:
            assert "blocked listing the checkout" in result["output"]


def test_nothing_is_written_outside_the_scratch_folder(graded):
    output = graded["results"]["writer"]["output"]
    for folder in (graded["home"], str(ROOT), "/tmp", "/var/tmp"):
        assert not os.path.exists(os.path.join(folder, MARK)), f"the submission wrote into {folder}"
    assert f"blocked writing {graded['home']}" in output
    # The checkout is the worker's own private copy when it sits under /tmp (the worker's /tmp is a
    # fresh tmpfs) or holds the Python installation: writing there may work, and lands nowhere (above).
    if not (python_inside_checkout() or str(ROOT).startswith("/tmp/")):
        assert f"blocked writing {ROOT}" in output


def test_mounts_cannot_be_undone_or_added(graded):
    output = graded["results"]["remounter"]["output"]
    assert "WORKED" not in output and output.count("blocked") == 4, output
