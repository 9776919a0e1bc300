"""Uploads and the grading queue, in the course's gradebook.

An accepted upload is first written immutably under ``uploads/`` (content-addressed: the
folder is the content hash, the file is named after the topic, never after what the student
called it), then recorded as a submission and a queue entry in one transaction: once the
student sees "received", it is on disk and in the queue. The receipt time is the submission
time.

Queue entries go queued -> running -> done (or failed after ``MAX_ATTEMPTS``). A server that
dies leaves entries "running"; the next start puts them back to "queued" (at least once), and a
result is committed together with its entry's move to "done", only from "running" (exactly once).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from autograder.gradebook.course import Course
from autograder.gradebook.late import late_days, late_seconds
from autograder.gradebook.store import Gradebook, iso, now_utc, parse_iso
from autograder.gradebook.sync import content_hash
from autograder.grading import Job, read_student_files
from autograder.results import SubmissionResult
from autograder.service.settings import ServiceSettings

UPLOADS = "uploads"
EXTENSIONS = (".py", ".ipynb")
MAX_ATTEMPTS = 3
TIME_SOURCE = "receipt"  # the service's receipt time is the submission time


class Refused(ValueError):
    """The upload is not accepted; the message is for the student."""


@dataclass(frozen=True)
class Receipt:
    submission_id: int
    queue_id: int | None  # None: the same content was submitted before (not queued again)
    received_at: datetime


def upload_window_end(course: Course, student_id: str, topic: str) -> datetime | None:
    """The last moment an upload can still count: deadline (with extension) + grace + max late days."""
    deadline = course.deadline(student_id, topic)
    if deadline is None:
        return None
    policy = course.assignments[topic].late
    return deadline + timedelta(minutes=policy.grace_minutes, days=policy.max_days)


def _write_once(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` durably, once (same name, same bytes: content-addressed)."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    os.chmod(path, 0o444)


def receive(course: Course, book: Gradebook, settings: ServiceSettings, student_id: str, topic: str,
            filename: str, data: bytes, *, now: datetime | None = None) -> Receipt:
    """Accept one upload for grading, or raise ``Refused`` with the reason."""
    now = now or now_utc()
    if topic not in course.assignments:
        raise Refused(f"{topic!r} is not an assignment of this course")
    ext = Path(filename or "").suffix.lower()
    if ext not in EXTENSIONS:
        raise Refused(f"upload {topic}.py or {topic}.ipynb (got a file named {filename[:80]!r})")
    if not data.strip():
        raise Refused("the file is empty")
    if len(data) > settings.max_upload_bytes:
        raise Refused(f"the file is larger than {settings.max_upload_kb} kB")
    end = upload_window_end(course, student_id, topic)
    if end is not None and now > end:
        raise Refused(f"uploads for {course.assignments[topic].title} closed on {course.local(end)} "
                      "(the last day a late submission could still count)")
    name = f"{topic}{ext}"
    digest = content_hash({name: data})
    folder = course.root / UPLOADS / digest[:2] / digest
    _write_once(folder / name, data)  # before the commit: anything recorded is on disk
    deadline = course.deadline(student_id, topic)
    policy = course.assignments[topic].late
    with book.transaction() as db:
        db.execute("INSERT OR IGNORE INTO students (student_id, in_roster) VALUES (?, 0)", (student_id,))
        _check_limits(db, course, settings, student_id, topic, now)
        old = db.execute("SELECT id FROM submissions WHERE student_id = ? AND topic = ? AND content_hash = ?",
                         (student_id, topic, digest)).fetchone()
        if old is not None:
            return Receipt(int(old["id"]), None, now)
        cur = db.execute(
            "INSERT INTO submissions (student_id, topic, path, content_hash, submitted_at, time_source, "
            "late_seconds, late_days, first_seen, is_current) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (student_id, topic, str(folder.relative_to(course.root)), digest, iso(now), TIME_SOURCE,
             late_seconds(now, deadline), late_days(now, deadline, policy), iso(now)))
        sub_id = int(cur.lastrowid)
        q = db.execute("INSERT INTO queue (submission_id, reason, enqueued_at, requested_by) VALUES (?, ?, ?, ?)",
                       (sub_id, "submit", iso(now), student_id))
        return Receipt(sub_id, int(q.lastrowid), now)


def _check_limits(db: sqlite3.Connection, course: Course, settings: ServiceSettings, student_id: str, topic: str,
                  now: datetime) -> None:
    """Resubmission limits from [service]: per day (in the course's time zone) and a cooldown."""
    if not settings.max_per_day and not settings.cooldown_seconds:
        return
    rows = db.execute("SELECT submitted_at FROM submissions WHERE student_id = ? AND topic = ? AND time_source = ? "
                      "ORDER BY id DESC", (student_id, topic, TIME_SOURCE)).fetchall()
    times = [parse_iso(r["submitted_at"]) for r in rows]
    if settings.cooldown_seconds and times:
        wait = settings.cooldown_seconds - (now - times[0]).total_seconds()
        if wait > 0:
            raise Refused(f"please wait {wait:.0f} s before submitting {topic} again")
    if settings.max_per_day:
        today = now.astimezone(course.timezone).date()
        used = sum(1 for t in times if t.astimezone(course.timezone).date() == today)
        if used >= settings.max_per_day:
            raise Refused(f"you have used all {settings.max_per_day} submissions of {topic} for today "
                          f"({today.isoformat()}, {course.timezone_name}); try again tomorrow")


# ---------------------------------------------------------------------------- the queue

def recover(book: Gradebook) -> int:
    """Entries left "running" by a server that died go back to "queued"."""
    with book.transaction() as db:
        return db.execute("UPDATE queue SET state = 'queued', started_at = NULL WHERE state = 'running'").rowcount


def claim(book: Gradebook, limit: int) -> list[sqlite3.Row]:
    """Up to ``limit`` queued entries, oldest first, now "running"."""
    with book.transaction() as db:
        rows = db.execute("SELECT q.id, q.submission_id, q.reason, s.student_id, s.topic, s.path FROM queue q "
                          "JOIN submissions s ON s.id = q.submission_id WHERE q.state = 'queued' "
                          "ORDER BY q.id LIMIT ?", (limit,)).fetchall()
        stamp = iso(now_utc())
        for r in rows:
            db.execute("UPDATE queue SET state = 'running', started_at = ?, attempts = attempts + 1 WHERE id = ?",
                       (stamp, r["id"]))
        return rows


def job_for(course: Course, row: sqlite3.Row) -> Job:
    """The grading job of a claimed entry: the stored upload, read like a student's folder."""
    files, note = read_student_files(course.root / row["path"], row["topic"])
    return Job(row["student_id"], row["topic"], files, note)


def complete(book: Gradebook, course: Course, settings: ServiceSettings, run_id: int, queue_id: int,
             result: SubmissionResult) -> bool:
    """Record a result and close its entry in one transaction; False if the entry was not running
    (already recorded: a result is never recorded twice)."""

    class AlreadyDone(Exception):
        pass

    row = book.conn.execute("SELECT submission_id, state FROM queue WHERE id = ?", (queue_id,)).fetchone()
    if row is None or row["state"] != "running":
        return False

    def close_entry(db: sqlite3.Connection, grading_id: int) -> None:
        n = db.execute("UPDATE queue SET state = 'done', finished_at = ?, grading_id = ?, error = '' "
                       "WHERE id = ? AND state = 'running'", (iso(now_utc()), grading_id, queue_id)).rowcount
        if n != 1:
            raise AlreadyDone
        sub = db.execute("SELECT student_id, topic FROM submissions WHERE id = ?",
                         (row["submission_id"],)).fetchone()
        choose_counted(db, sub["student_id"], sub["topic"], settings.counts)

    try:
        book.record_grading(run_id, row["submission_id"], result, course, also=close_entry)
    except AlreadyDone:
        return False
    return True


def choose_counted(db: sqlite3.Connection, student_id: str, topic: str, counts: str) -> None:
    """Mark the submission that counts (is_current): the last graded one, or the best (latest on ties)."""
    order = "g.final_score DESC, s.id DESC" if counts == "best" else "s.id DESC"
    best = db.execute(
        "SELECT s.id FROM submissions s JOIN gradings g ON g.id = (SELECT MAX(id) FROM gradings "
        f"WHERE submission_id = s.id) WHERE s.student_id = ? AND s.topic = ? ORDER BY {order} LIMIT 1",
        (student_id, topic)).fetchone()
    if best is not None:
        db.execute("UPDATE submissions SET is_current = (id = ?) WHERE student_id = ? AND topic = ?",
                   (best["id"], student_id, topic))


def fail(book: Gradebook, queue_id: int, error: str) -> str:
    """A grading attempt failed: queue it again, or give up after MAX_ATTEMPTS. Returns the new state."""
    with book.transaction() as db:
        row = db.execute("SELECT attempts FROM queue WHERE id = ? AND state = 'running'", (queue_id,)).fetchone()
        if row is None:
            return "unknown"
        state = "failed" if row["attempts"] >= MAX_ATTEMPTS else "queued"
        db.execute("UPDATE queue SET state = ?, error = ?, finished_at = ? WHERE id = ?",
                   (state, error[:2000], iso(now_utc()) if state == "failed" else None, queue_id))
        return state


def enqueue_regrade(book: Gradebook, submission_ids: list[int], actor: str) -> int:
    """Queue submissions for regrading (not those already waiting); the action goes to the audit log."""
    n = 0
    with book.transaction() as db:
        stamp = iso(now_utc())
        for sid in submission_ids:
            waiting = db.execute("SELECT 1 FROM queue WHERE submission_id = ? AND state IN ('queued', 'running')",
                                 (sid,)).fetchone()
            if waiting is None:
                db.execute("INSERT INTO queue (submission_id, reason, enqueued_at, requested_by) "
                           "VALUES (?, 'regrade', ?, ?)", (sid, stamp, actor))
                n += 1
    return n


def status(book: Gradebook, submission_id: int) -> dict:
    """Where a submission is: queued (with its place), grading, graded or failed."""
    q = book.conn.execute("SELECT * FROM queue WHERE submission_id = ? ORDER BY id DESC LIMIT 1",
                          (submission_id,)).fetchone()
    graded = book.conn.execute("SELECT COUNT(*) FROM gradings WHERE submission_id = ?",
                               (submission_id,)).fetchone()[0]
    if q is None or q["state"] == "done":
        return {"state": "graded" if graded else "unknown"}
    if q["state"] == "queued":
        ahead = book.conn.execute("SELECT COUNT(*) FROM queue WHERE state = 'queued' AND id < ?",
                                  (q["id"],)).fetchone()[0]
        return {"state": "queued", "ahead": int(ahead), "regrade": q["reason"] == "regrade"}
    if q["state"] == "running":
        return {"state": "grading", "regrade": q["reason"] == "regrade"}
    return {"state": "failed", "error": q["error"], "graded_before": bool(graded)}


def queue_counts(book: Gradebook) -> dict[str, int]:
    rows = book.conn.execute("SELECT state, COUNT(*) AS n FROM queue GROUP BY state").fetchall()
    counts = {"queued": 0, "running": 0, "done": 0, "failed": 0}
    counts.update({r["state"]: int(r["n"]) for r in rows})
    return counts


def audit(book: Gradebook, actor: str, action: str, target: str = "", detail: str = "") -> None:
    """A staff action, for the dashboard's audit log."""
    with book.transaction() as db:
        db.execute("INSERT INTO audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                   (iso(now_utc()), actor, action, target, detail))
