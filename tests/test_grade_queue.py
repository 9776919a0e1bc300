"""grade_jobs hands work out from a shared queue: whole students per task, results as they complete."""

from __future__ import annotations

from autograder.grading import STUDENTS_PER_TASK, Job, grade_jobs, student_tasks


def jobs_of(students: int, topics: tuple[str, ...] = ("activations", "clipping")) -> list[Job]:
    return [Job(f"s{i:03d}", t, {f"{t}.py": b""}) for i in range(students) for t in topics]


def test_tasks_keep_a_students_topics_together_and_cover_every_job():
    jobs = jobs_of(100)
    tasks = student_tasks(jobs, workers=2)
    assert sorted((j.student_id, j.topic) for task in tasks for j in task) == sorted((j.student_id, j.topic) for j in jobs)
    owner = {}
    for n, task in enumerate(tasks):
        for job in task:
            assert owner.setdefault(job.student_id, n) == n  # never split across tasks
    assert max(len({j.student_id for j in task}) for task in tasks) == STUDENTS_PER_TASK
    # a small class: one student per task, so a slow one never holds back another's
    assert all(len({j.student_id for j in task}) == 1 for task in student_tasks(jobs_of(6), workers=2))


def test_a_slow_student_does_not_hold_back_the_others():
    # s000's file takes seconds to import; with students dealt round-robin up front, s002 and
    # s004 would wait behind it. From a shared queue the other worker grades everyone else.
    slow = Job("s000", "activations", {"activations.py": b"import time\ntime.sleep(3)\n"})
    quick = [Job(f"s{i:03d}", "activations", {"activations.py": b"x = 1\n"}) for i in range(1, 7)]
    order: list[str] = []
    results = grade_jobs([slow, *quick], workers=2, on_result=lambda r: order.append(r.student_id))
    assert sorted(r.student_id for r in results) == [f"s{i:03d}" for i in range(7)]
    assert order[-1] == "s000", order  # streamed as they complete: the slow one last
    assert all(r.score == 0 for r in results)


def test_each_submissions_worker_is_its_own_and_none_is_left_behind():
    # The next submission's worker is started ahead, while the one before is graded: each
    # result must still come from its own files, and no worker may outlive the session.
    import time
    from pathlib import Path

    from autograder.grading import run_session
    from autograder.sandbox import Limits, Sandbox

    reference = (Path(__file__).resolve().parents[1] / "solutions" / "activations.py").read_bytes()
    jobs = [Job(f"s{i}", "activations", {"activations.py": reference + f"\nprint('I am s{i}')\n".encode()})
            for i in range(4)]
    jobs.insert(2, Job("nofile", "activations", {"other.py": b"x = 1\n"}))  # nothing to start ahead
    results = []
    with Sandbox(Limits()) as sandbox:
        run_session(jobs, results.append, sandbox=sandbox)
        children = Path(f"/proc/{sandbox.proc.pid}/task/{sandbox.proc.pid}/children")
        deadline = time.monotonic() + 10
        while children.read_text().split() and time.monotonic() < deadline:
            time.sleep(0.05)  # a killed worker's intermediate reports and exits
        assert children.read_text().split() == []
    by_id = {r.student_id: r for r in results}
    assert by_id["nofile"].score == 0
    for i in range(4):
        r = by_id[f"s{i}"]
        assert r.score == r.max_score == 100
        assert f"I am s{i}" in r.output and all(f"I am s{j}" not in r.output for j in range(4) if j != i)
