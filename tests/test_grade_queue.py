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
