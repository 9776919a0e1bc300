"""Grading on a real Dask cluster: a scheduler and worker processes on loopback.

The cluster is started as `dask scheduler` / `dask worker` subprocesses, exactly as an
instructor would start it on a few machines; results must equal local grading.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import SAMPLES

distributed = pytest.importorskip("distributed", reason="the [cluster] extra is not installed")

from autograder.cluster import ClusterError, ClusterSettings  # noqa: E402
from autograder.cluster.executor import grade_on_cluster  # noqa: E402
from autograder.grading import Job, available_topics, grade_jobs, jobs_for_folder  # noqa: E402

pytestmark = pytest.mark.slow
DASK = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
WORKER = [sys.executable, "-m", "distributed.cli.dask_worker"]
OPTIONS = {"call_timeout": 2.0, "check_timeout": 10.0, "hide": []}


def _die_with_parent() -> None:
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


class Cluster:
    """A scheduler and N single-threaded workers, as subprocesses; stopped on exit."""

    def __init__(self, tmp: Path, workers: int = 2, *, env: dict | None = None, tls: dict | None = None,
                 preload: Path | None = None) -> None:
        self.tmp, self.procs, self.env = tmp, [], {**os.environ, **(env or {})}
        self.tls = tls or {}
        file = tmp / "scheduler.json"
        tls_args = []
        if tls:
            tls_args = ["--tls-ca-file", str(tls["ca"]), "--tls-cert", str(tls["cert"]), "--tls-key", str(tls["key"])]
        self.scheduler = self._start(DASK + ["--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                             "--scheduler-file", str(file)]
                                     + (["--protocol", "tls"] if tls else []) + tls_args, "scheduler")
        deadline = time.monotonic() + 60
        while not file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.address = json.loads(file.read_text())["address"]
        self.workers = [self._start(WORKER + ["--scheduler-file", str(file), "--nthreads", "1", "--no-dashboard",
                                              "--memory-limit", "0", "--host", "127.0.0.1", "--no-nanny"]
                                    + tls_args + (["--preload", str(preload)] if preload else []), f"worker{i}")
                        for i in range(workers)]

    def _start(self, cmd: list[str], name: str) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        # Each process dies with the test run, even a killed one (no orphaned clusters on the machine).
        proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp,
                                start_new_session=True, preexec_fn=_die_with_parent)
        self.procs.append(proc)
        return proc

    def settings(self, **kw) -> ClusterSettings:
        if self.tls:
            kw.update(tls_ca=self.tls["ca"], tls_cert=self.tls["cert"], tls_key=self.tls["key"])
        return ClusterSettings(self.address, **kw)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("cluster"), workers=2)
    yield c
    c.stop()


@pytest.fixture(scope="module")
def sample_jobs() -> list[Job]:
    return jobs_for_folder(SAMPLES, available_topics())


@pytest.fixture(scope="module")
def local_results(sample_jobs):
    return grade_jobs(sample_jobs, workers=2)


TIMING = re.compile(r"did not finish|timed out|ran out of time|time limit|killed|budget", re.I)


def comparable(results, *others) -> dict:
    """results.json of each result but what README lists as engine-dependent: timings, and the
    wording of a check that hit a time limit (a loaded machine may reach another limit first:
    a call that floods its output may be stopped by its CPU limit on one run and by the output
    cap on another). ``others``: results of other runs; a submission that hit a time limit in
    any of them has its wording left out here too."""
    timed = {(r.student_id, r.topic) for run in (results, *others) for r in run
             if any(TIMING.search(t["output"]) for t in r.to_gradescope()["tests"])}
    out = {}
    for r in results:
        data = r.to_gradescope()
        data.pop("execution_time")
        if (r.student_id, r.topic) in timed:
            for t in data["tests"]:
                t["output"] = ""
            data["output"] = ""
        out[(r.student_id, r.topic)] = data
    return out


def test_cluster_grades_the_sample_class_exactly_as_local_grading(cluster, sample_jobs, local_results):
    seen = []
    results = grade_on_cluster(sample_jobs, cluster.settings(), OPTIONS, on_result=seen.append)
    assert len(seen) == len(results) == len(sample_jobs)
    assert comparable(results, local_results) == comparable(local_results, results)


def test_workers_grade_with_one_blas_thread(cluster, sample_jobs):
    # `dask worker` loads NumPy (and OpenBLAS's thread per core) before deepgrade runs; the
    # sandbox plugin limits it, so idle BLAS threads do not spin on the sandbox workers' cores.
    from threadpoolctl import threadpool_info

    grade_on_cluster(sample_jobs[:1], cluster.settings(), OPTIONS)  # the plugin is set up
    client = distributed.Client(cluster.address, set_as_default=False)
    try:
        threads = client.run(lambda: sorted({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}))
    finally:
        client.close()
    assert threads and all(t == [1] for t in threads.values()), threads


def test_a_worker_killed_mid_batch_still_gives_every_result_once(cluster, sample_jobs, local_results):
    killed = threading.Event()
    client = distributed.Client(cluster.address, set_as_default=False)
    try:
        pids = client.run(os.getpid)
    finally:
        client.close()

    def kill_one(result) -> None:
        if not killed.is_set():
            killed.set()
            os.kill(sorted(pids.values())[0], signal.SIGKILL)  # a worker with a task in flight or queued

    # The killed worker does not come back (no nanny): the survivor grades everything left.
    results = grade_on_cluster(sample_jobs, cluster.settings(), OPTIONS, on_result=kill_one)
    assert killed.is_set()
    keys = [(r.student_id, r.topic) for r in results]
    assert len(keys) == len(set(keys)) == len(sample_jobs)
    assert comparable(results, local_results) == comparable(local_results, results)


def test_a_worker_with_another_deepgrade_is_refused_naming_both_versions(tmp_path):
    preload = tmp_path / "other_version.py"
    preload.write_text("import autograder\nautograder.__version__ = '0.0.0-elsewhere'\n")
    c = Cluster(tmp_path, workers=1, preload=preload)
    try:
        with pytest.raises(ClusterError) as err:
            grade_on_cluster([Job("ref", "activations", {})], c.settings(), OPTIONS)
        from autograder import __version__

        assert "0.0.0-elsewhere" in str(err.value) and __version__ in str(err.value)
    finally:
        c.stop()


def test_a_submission_that_keeps_killing_workers_becomes_its_result(tmp_path):
    # A worker-side hook stands in for code that takes a worker down: the sandbox keeps student code
    # from doing it, so the test kills the worker process itself whenever it grades 'crasher'.
    preload = tmp_path / "crash_hook.py"
    preload.write_text(
        "import os\nfrom autograder.cluster import worker_side\n"
        "if not hasattr(worker_side, '_real_grade_task'):  # dask may load a preload twice\n"
        "    worker_side._real_grade_task = worker_side.grade_task\n"
        "    def grade_task(jobs, *a):\n"
        "        if any(j['student_id'] == 'crasher' for j in jobs):\n            os._exit(1)\n"
        "        return worker_side._real_grade_task(jobs, *a)\n"
        "    worker_side.grade_task = grade_task\n")
    env = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
    c = Cluster(tmp_path, workers=2, env=env, preload=preload)
    try:
        ref = (Path(__file__).resolve().parents[1] / "solutions" / "activations.py").read_bytes()
        jobs = [Job("crasher", "activations", {"activations.py": ref}), Job("ref", "activations",
                                                                            {"activations.py": ref})]
        results = {r.student_id: r for r in grade_on_cluster(jobs, c.settings(), OPTIONS)}
        assert results["ref"].score == results["ref"].max_score == 100
        crashed = results["crasher"]
        assert crashed.score == 0 and crashed.max_score == 100
        assert all("stopped the grading worker" in ch.output for ch in crashed.checks)
    finally:
        c.stop()


def _certificates(tmp: Path) -> dict:
    """A CA and one certificate it signed (used by scheduler, workers and client alike)."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make the TLS test's certificates")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tmp, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=deepgrade-test-ca")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "node.key", "-out", "node.csr", "-subj", "/CN=127.0.0.1")
    (tmp / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
        "node.pem", "-days", "2", "-extfile", "ext.cnf")
    return {"ca": tmp / "ca.pem", "cert": tmp / "node.pem", "key": tmp / "node.key"}


def test_tls_cluster_with_mutual_certificates(tmp_path):
    tls = _certificates(tmp_path)
    c = Cluster(tmp_path, workers=1, tls=tls)
    try:
        assert c.address.startswith("tls://")
        ref = (Path(__file__).resolve().parents[1] / "solutions" / "activations.py").read_bytes()
        (result,) = grade_on_cluster([Job("ref", "activations", {"activations.py": ref})], c.settings(), OPTIONS)
        assert result.score == 100
        # Without the client certificate the scheduler is unreachable.
        with pytest.raises(ClusterError):
            ClusterSettings(c.address).validate()
    finally:
        c.stop()


@pytest.mark.parametrize("address", ["tcp://10.1.2.3:8786", "tcp://example.org:8786"])
def test_plain_tcp_to_another_machine_is_refused_unless_opted_in(address):
    with pytest.raises(ClusterError, match="refusing plain tcp"):
        ClusterSettings(address).validate()
    ClusterSettings(address, allow_insecure=True).validate()


def test_loopback_tcp_is_allowed_and_bad_addresses_are_named():
    ClusterSettings("tcp://127.0.0.1:8786").validate()
    with pytest.raises(ClusterError, match="not tcp://HOST:PORT"):
        ClusterSettings("http://127.0.0.1:8786").validate()


def test_grade_command_on_the_cluster_reports_its_engine(cluster, tmp_path):
    from click.testing import CliRunner

    from cli import main

    subs = tmp_path / "subs"
    for student in ("ben", "dev"):
        (subs / student).mkdir(parents=True)
        shutil.copy(SAMPLES / student / "residual.py", subs / student / "residual.py")
    result = CliRunner().invoke(main, ["grade", "residual", str(subs), "--out", str(tmp_path / "out"), "--json",
                                       "--scheduler", cluster.address])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{"):])
    assert summary["engine"] == {"name": "dask", "scheduler": cluster.address}
    local = {r.student_id: r.score for r in grade_jobs(jobs_for_folder(subs, ["residual"]), workers=1)}
    assert {r["student_id"]: r["score"] for r in summary["results"]} == local
    assert (tmp_path / "out" / "grades.csv").is_file()


def test_course_cluster_run_killed_mid_batch_then_rerun_records_each_once(cluster, tmp_path):
    from tests.course_helpers import make_course, submit
    from tests.test_course_resume import count, start_grade, wait_for

    root = tmp_path / "course"
    students = [f"s{i:02d}" for i in range(8)]
    make_course(root, students, ["residual"], toml_extra=f'\n[cluster]\nscheduler = "{cluster.address}"\n')
    source = (SAMPLES.parents[2] / "solutions" / "residual.py").read_text()
    for s in students:  # slow imports: the batch lasts long enough to be interrupted
        submit(root, "residual", s, source + "\nimport time as _time\n\n_time.sleep(0.5)\n")
    db = root / "gradebook.sqlite"
    proc = start_grade(root)
    wait_for(lambda: count(db, "SELECT COUNT(*) FROM gradings") >= 1, proc, timeout=120)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    done = count(db, "SELECT COUNT(*) FROM gradings")
    assert 1 <= done < len(students), "the kill did not land mid-batch"
    again = start_grade(root, "--json")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, out + err
    assert json.loads(out)["engine"]["name"] == "dask"
    assert count(db, "SELECT COUNT(*) FROM gradings") == len(students)
    assert count(db, "SELECT COUNT(DISTINCT s.student_id) FROM gradings g JOIN submissions s "
                     "ON s.id = g.submission_id") == len(students)


def test_mutants_run_on_the_cluster_like_locally(cluster):
    from autograder.mutants.run import run_mutants

    here = run_mutants("initialization", limit=6, seed=1, workers=1)
    there = run_mutants("initialization", limit=6, seed=1, cluster=cluster.settings())
    here, there = here.to_dict(), there.to_dict()
    here.pop("seconds"), there.pop("seconds")
    assert there == here


def test_the_service_grades_uploads_on_the_cluster(cluster, tmp_path):
    pytest.importorskip("starlette", reason="the [service] extra is not installed")
    from starlette.testclient import TestClient

    from autograder.cluster.executor import dask_executor_factory
    from autograder.gradebook import Gradebook, load_course
    from autograder.service import accounts
    from autograder.service.app import create_app
    from tests.course_helpers import make_course
    from tests.service.conftest import sign_in, upload, wait_graded

    root = make_course(tmp_path / "course", ["s1"], ["residual"])
    course = load_course(root)
    with Gradebook.open(course.db_path) as book:
        book.sync_roster(course.roster())
        (issued,) = accounts.issue(book, [("s1", "student")])
    app = create_app(root, executor=dask_executor_factory(cluster.settings(), course))
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        sign_in(client, "s1", issued.code)
        buggy = upload(client, "residual", (SAMPLES / "dev" / "residual.py").read_bytes())
        fixed = upload(client, "residual", (SAMPLES.parents[2] / "solutions" / "residual.py").read_bytes())
        assert wait_graded(client, buggy, timeout=120)["failed"]
        state = wait_graded(client, fixed, timeout=120)  # before the deadline: only the checks shown count
        assert state["failed"] == [] and state["score"] == state["max_score"] > 0, state


def _others_can_read(path: Path) -> bool:
    """Could a fresh unprivileged uid open ``path`` (read bit for others, search bit on every parent)?"""
    path = path.resolve()
    if not os.stat(path).st_mode & 0o004:
        return False
    return all(os.stat(p).st_mode & 0o001 for p in path.parents)


@pytest.mark.skipif(os.geteuid() != 0, reason="tier 2 (privilege drop) needs root")
def test_a_tier2_worker_that_would_expose_the_references_refuses(tmp_path):
    solutions = Path(__file__).resolve().parents[1] / "solutions" / "activations.py"
    c = Cluster(tmp_path, workers=1, env={"DEEPGRADE_NO_NAMESPACES": "1"})
    try:
        ref = solutions.read_bytes()
        job = Job("ref", "activations", {"activations.py": ref})
        if _others_can_read(solutions):
            with pytest.raises(ClusterError, match="cannot confine student code") as err:
                grade_on_cluster([job], c.settings(), OPTIONS)
            assert "chmod" in str(err.value)
        else:  # the checkout is closed to other users: tier 2 grades, and says so
            (result,) = grade_on_cluster([job], c.settings(), OPTIONS)
            assert result.score == 100 and "tier 2" in result.output
    finally:
        c.stop()
