"""Sandbox tier 2 (root without namespaces, as in Docker and on Gradescope), for real.

The grading path runs as root under ``tests/dockerlike.py``: a seccomp filter that refuses
namespaces and mounts the way Docker's default profile does, so deepgrade's own detection
picks the tier. The project is a copy installed the way a course or an image would hold
it: its folder readable by everybody, the references, graders and samples closed to other
users (as ``deepgrade doctor`` and the refusal tell an instructor to do).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT, SOLUTIONS

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="tier 2 is root's tier (CI runs these as root)")
TOPIC = "activations"
LITTER = f"dg-tier2-litter-{uuid.uuid4().hex[:8]}"  # unique: a file another run left could not be replaced


@pytest.fixture(scope="module")
def project():
    """A copy of the project in a world-readable folder, its secrets closed to other users."""
    base = Path(tempfile.mkdtemp(prefix="dg-tier2-project-"))
    base.chmod(0o755)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("autograder", "solutions", "quizzes"):
        shutil.copytree(ROOT / name, base / name, ignore=ignore)
    for name in ("cli.py", "pyproject.toml"):
        shutil.copy(ROOT / name, base / name)
    for secret in ("solutions", "autograder/graders", "autograder/samples", "quizzes/bank"):
        subprocess.run(["chmod", "-R", "o-rwx", str(base / secret)], check=True)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def in_container(project: Path, script: str, timeout: float = 600) -> dict:
    """Run ``script`` with the project's Python path under the Docker-like filter; its JSON output."""
    path = project / "run_script.py"
    path.write_text(script)
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "dockerlike.py"), sys.executable, str(path)],
                          cwd=project, env={"PATH": os.environ["PATH"], "PYTHONPATH": str(project), "LANG": "C.UTF-8"},
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


REFERENCE = (SOLUTIONS / f"{TOPIC}.py").read_text()

# Each hostile student takes the reference if it can reach it, so any leak scores points.
STEAL = '''
import os, sys
def _steal(where):
    try:
        text = open(where).read()
    except OSError as exc:
        print("blocked", where, type(exc).__name__)
        return
    print("STOLEN", where)
    exec(text, globals())
'''

PATH_THIEF = STEAL + '''
for p in {paths!r}:
    _steal(p)
for d in {folders!r}:
    try:
        print("LISTED", d, os.listdir(d))
    except OSError as exc:
        print("blocked listing", d, type(exc).__name__)
'''

IMPORT_THIEF = '''
import sys
sys.path[:0] = {paths!r}
for name in ("solutions.activations", "autograder.graders.test_activations"):
    try:
        __import__(name)
        print("STOLEN import", name)
    except Exception as exc:
        print("blocked import", name, type(exc).__name__)
try:
    from solutions.activations import *  # noqa
except Exception:
    pass
'''

PEEKER = STEAL + '''
import glob
# Another student's files: the course copy, the scratch folder of a worker, its /proc links.
targets = [{other!r}] + glob.glob("/tmp/deepgrade-*/activations.py") + glob.glob("/tmp/deepgrade-*/*/activations.py") \
    + glob.glob("/proc/[0-9]*/cwd/activations.py")
mine = os.getcwd()
for t in targets:
    if os.path.realpath(os.path.dirname(t)) != mine:
        _steal(t)
for d in glob.glob("/tmp/deepgrade-*") + glob.glob("/tmp/deepgrade-run-*/*"):
    if os.path.realpath(d) == mine:
        continue
    try:
        print("LISTED", d, os.listdir(d))
    except OSError as exc:
        print("blocked listing", d, type(exc).__name__)
'''

LITTERER = '''
import os
for top in ("/tmp", "/var/tmp", "/dev/shm"):
    for name in ("{litter}", ".{litter}"):
        try:
            with open(os.path.join(top, name), "w") as fh:
                fh.write("a note for the next student")
            os.chmod(os.path.join(top, name), 0o666)
            print("wrote", top, name)
        except OSError as exc:
            print("could not write", top, name, type(exc).__name__)
    try:
        os.makedirs(os.path.join(top, "{litter}-dir", "deep"), exist_ok=True)
        open(os.path.join(top, "{litter}-dir", "deep", "x"), "w").close()
        for i in range(2000):  # sweeping them takes a while: the next student must wait for it
            open(os.path.join(top, "{litter}-dir", "deep", f"n{{i}}"), "w").close()
        os.chmod(os.path.join(top, "{litter}-dir"), 0o777)
    except OSError:
        pass
'''

FINDER = '''
import glob
for p in glob.glob("/tmp/*{litter}*") + glob.glob("/var/tmp/*{litter}*") + glob.glob("/dev/shm/*{litter}*"):
    print("FOUND", p)
'''

WRITER = '''
import os
for folder in {folders!r}:
    try:
        with open(os.path.join(folder, "planted-by-student.txt"), "w") as fh:
            fh.write("x")
        print("WROTE", folder)
    except OSError as exc:
        print("blocked writing", folder, type(exc).__name__)
'''

GRADE = '''
import json, os, sys
from autograder.grading import Job, grade_jobs
try:
    from autograder.sandbox.tiers import SandboxRefused
except ImportError:  # a deepgrade from before the tiers (the tests' run against the old commit)
    SandboxRefused = RuntimeError

course, out = {course!r}, {out!r}
students = {students!r}
jobs = [Job(sid, "activations", {{"activations.py": src.encode()}}) for sid, src in students.items()]
for sid, src in students.items():
    os.makedirs(os.path.join(course, "submissions", sid), exist_ok=True)
    with open(os.path.join(course, "submissions", sid, "activations.py"), "w") as fh:
        fh.write(src)
# A course folder others can read: refused, with the command that fixes it.
os.chmod(course, 0o755)
try:
    grade_jobs(jobs[:1], workers=1, hide=[course])
    refusal = ""
except SandboxRefused as exc:
    refusal = str(exc)
os.chmod(course, 0o700)
results = grade_jobs(jobs, workers=1, hide=[course, out])
print(json.dumps({{"refusal": refusal,
                  "results": {{r.student_id: {{"score": r.score, "output": r.output}} for r in results}}}}))
'''


@pytest.fixture(scope="module")
def graded(project):
    """One tier 2 grading run of the reference and every hostile student."""
    course = tempfile.mkdtemp(prefix="dg-tier2-course-")
    out = os.path.join(course, "graded")
    os.makedirs(out)
    secrets = [str(project / "solutions" / f"{TOPIC}.py"), str(project / "autograder" / "graders" / f"test_{TOPIC}.py")]
    students = {
        "ref": REFERENCE,
        "path_thief": PATH_THIEF.format(paths=secrets, folders=[str(project / "solutions"),
                                                                 str(project / "autograder" / "graders"), course]),
        "import_thief": IMPORT_THIEF.format(paths=[str(project), str(project / "solutions")]),
        "litterer": LITTERER.format(litter=LITTER),
        "finder": FINDER.format(litter=LITTER),  # right after: the litter's sweep must come first
        "peeker": PEEKER.format(other=os.path.join(course, "submissions", "ref", f"{TOPIC}.py")),
        "writer": WRITER.format(folders=[course, out, str(project), str(project / "solutions"), str(ROOT)]),
    }
    data = in_container(project, GRADE.format(course=course, out=out, students=students))
    yield {"course": course, "out": out, "project": project, **data}
    shutil.rmtree(course, ignore_errors=True)


def test_docker_like_root_gets_tier_2_and_every_result_says_so(graded):
    for sid, result in graded["results"].items():
        assert "sandbox: tier 2 (privilege drop" in result["output"], (sid, result["output"])
        assert "unshare: Operation not permitted" in result["output"]  # the detection's own reason


def test_the_reference_scores_100_in_tier_2(graded):
    assert graded["results"]["ref"]["score"] == 100, graded["results"]["ref"]["output"]


def test_a_course_folder_others_can_read_is_refused_with_the_fix(graded):
    refusal = graded["refusal"]
    assert refusal.startswith("refusing to grade") and f"chmod -R o-rwx {graded['course']}" in refusal


@pytest.mark.parametrize("student", ["path_thief", "import_thief", "peeker"])
def test_references_graders_and_other_students_files_are_unreadable(graded, student):
    result = graded["results"][student]
    assert result["score"] == 0, result["output"]
    assert "STOLEN" not in result["output"] and "LISTED" not in result["output"], result["output"]
    assert "blocked" in result["output"]


def test_files_left_in_shared_temporary_folders_are_gone_for_the_next_student(graded):
    assert "wrote /tmp" in graded["results"]["litterer"]["output"]  # it could write them...
    assert "FOUND" not in graded["results"]["finder"]["output"]  # ...and they were gone before the next student
    assert not glob.glob(f"/tmp/*{LITTER}*") + glob.glob(f"/var/tmp/*{LITTER}*") + glob.glob(f"/dev/shm/*{LITTER}*")


def test_nothing_is_written_into_the_course_results_or_project(graded):
    output = graded["results"]["writer"]["output"]
    assert "WROTE" not in output and output.count("blocked writing") == 5, output
    assert not glob.glob(f"{graded['course']}/**/planted-by-student.txt", recursive=True)
    assert not (graded["project"] / "planted-by-student.txt").exists() and not (ROOT / "planted-by-student.txt").exists()


WORKER_STATE = '''
import json
from autograder.sandbox import Sandbox, Submission
from autograder.sandbox.proxy import StudentException

PROBE = """
import os, socket, ctypes
def status():
    return [l for l in open('/proc/self/status').read().splitlines()
            if l.startswith(('Uid', 'Gid', 'Groups', 'CapEff', 'CapPrm', 'CapBnd', 'NoNewPrivs', 'Seccomp:'))]
def net():
    try:
        socket.create_connection(('127.0.0.1', 22), timeout=1)
        return 'connected'
    except OSError as e:
        return type(e).__name__ + str(e.errno)
def attack(pids):
    libc = ctypes.CDLL(None, use_errno=True)
    out = {}
    for pid in pids:
        try:
            os.kill(pid, 9)
            out[str(pid)] = 'killed'
        except OSError as e:
            out[str(pid)] = 'kill ' + type(e).__name__
        out[str(pid)] += ' / ptrace ' + ('ATTACHED' if libc.ptrace(16, pid, 0, 0) == 0 else str(ctypes.get_errno()))
    return out
def spin():
    return os.getpid()
def where():
    return os.getcwd()
def read(path):
    try:
        return open(path).read()
    except OSError as e:
        return type(e).__name__
"""
sb = Sandbox()
a = Submission(sb, "activations", {"activations.py": PROBE.encode()})
b = Submission(sb, "activations", {"activations.py": PROBE.encode()})
victim_pid = b.spin().fetch()
attack = a.attack([b._conn.pid, sb.proc.pid, os.getpid(), 1]).fetch()
scratch = b.where().fetch()
st = os.stat(scratch)
state = {"isolation": sb.isolation, "a": a.status().fetch(), "b": b.status().fetch(), "net": a.net().fetch(),
         "attack": attack, "victim_alive": b.spin().fetch() == victim_pid,
         "peek": a.read(scratch + "/activations.py").fetch(), "scratch_mode": oct(st.st_mode & 0o777)}
b.close()
for _ in range(100):  # removed by the worker's parent once the worker is gone
    if not os.path.exists(scratch):
        break
    time.sleep(0.05)
state["scratch_left"] = os.path.exists(scratch)
# A hidden path that is open to other users, slipped past the up-front check: the worker refuses.
import tempfile
open_dir = tempfile.mkdtemp()
os.chmod(open_dir, 0o755)
c = Submission(sb, "activations", {"activations.py": PROBE.encode()}, hide=[open_dir])
try:
    c.spin()
    state["refused"] = ""
except Exception as exc:
    state["refused"] = str(exc)
print(json.dumps(state))
'''


@pytest.fixture(scope="module")
def worker_state(project):
    return in_container(project, "import os, time\n" + WORKER_STATE)


def test_each_worker_has_its_own_uid_no_groups_no_capabilities_and_the_filter(worker_state):
    a, b = (dict(line.split(":", 1) for line in worker_state[k]) for k in ("a", "b"))
    for st in (a, b):
        uid = st["Uid"].split()
        assert len(set(uid)) == 1 and int(uid[0]) >= 1_000_000, st["Uid"]
        assert st["Groups"].strip() == ""
        assert int(st["CapEff"], 16) == int(st["CapPrm"], 16) == int(st["CapBnd"], 16) == 0
        assert st["NoNewPrivs"].strip() == "1" and st["Seccomp"].strip() == "2"
    assert a["Uid"] != b["Uid"]  # never shared: one worker cannot signal or read another's
    assert "tier 2" in worker_state["isolation"]


def test_no_network_and_no_killing_or_tracing_another_worker(worker_state):
    assert worker_state["net"].startswith("PermissionError"), worker_state["net"]
    for pid, what in worker_state["attack"].items():
        assert what.startswith("kill PermissionError") and "ATTACHED" not in what, (pid, what)
    assert worker_state["victim_alive"]
    assert worker_state["peek"] == "PermissionError"  # a live worker's scratch folder is its own


def test_the_scratch_folder_is_private_and_removed_after_use(worker_state):
    assert worker_state["scratch_mode"] == "0o700"
    assert not worker_state["scratch_left"]


def test_a_worker_that_could_read_a_hidden_path_refuses_to_start(worker_state):
    assert "the worker could read hidden course paths: chmod -R o-rwx /tmp/" in worker_state["refused"]


def test_scratch_folders_of_a_killed_batch_are_cleared_by_the_next_fork_server(tmp_path):
    # A batch killed with SIGKILL cannot remove its workers' scratch folders; the next fork server
    # (outside namespaces) removes the folders of fork servers that have died before it makes its own.
    import tempfile

    from autograder.sandbox import isolation

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = Path(tempfile.gettempdir()) / f"{isolation.SCRATCH_RUNS}{dead.pid}-test"
    (stale / "deepgrade-x").mkdir(parents=True)
    (stale / "deepgrade-x" / "activations.py").write_text("a student's file")
    mine = isolation.scratch_parent()
    try:
        assert not stale.exists()
        assert oct(os.stat(mine).st_mode & 0o777) == "0o711"
    finally:
        os.rmdir(mine)
