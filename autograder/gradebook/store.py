"""The gradebook: one SQLite file per course, read and written only through ``Gradebook``.

Every write is one short explicit transaction: a student's graded submission (the grading
row and all its check rows) is committed at once, so a run killed at any moment leaves
whole results or nothing for that student.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from autograder.gradebook import schema
from autograder.gradebook.course import Course, RosterEntry
from autograder.gradebook.late import final_score, late_days, late_seconds, penalty_fraction
from autograder.results import CheckResult, SubmissionResult


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def iso(when: datetime) -> str:
    """An aware datetime as the ISO 8601 UTC text the gradebook stores."""
    return when.astimezone(timezone.utc).isoformat(timespec="microseconds")


def parse_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


UNTRUSTED_TIMES = ("mtime", "first-seen", "none")  # recorded once; only a manifest time is re-read every run


@dataclass(frozen=True)
class Scanned:
    """A student's folder for one topic as found on disk, before grading."""

    student_id: str
    topic: str
    path: Path
    files: dict  # name -> bytes
    note: str
    content_hash: str
    submitted_at: datetime
    time_source: str


@dataclass(frozen=True)
class Graded:
    """A student's current submission for a topic and its latest grading."""

    student_id: str
    topic: str
    submission_id: int
    path: str
    content_hash: str
    submitted_at: datetime
    time_source: str
    late_seconds: float
    late_days: int
    grading_id: int
    graded_at: datetime
    engine_version: str
    grader_version: str
    raw_score: float
    max_score: float
    penalty: float
    final_score: float
    gradings: int  # how many times this submission was graded (more than 1: regraded)
    result: SubmissionResult
    override: Override | None = None  # set: final_score is the staff's score, not the grader's

    @property
    def percent(self) -> float:
        return 100.0 * self.final_score / self.max_score if self.max_score else 0.0


@dataclass(frozen=True)
class Override:
    """A score set by staff for a student's assignment: it counts instead of the graded score."""

    student_id: str
    topic: str
    score: float
    max_score: float
    reason: str
    set_by: str
    set_at: datetime


@dataclass(frozen=True)
class Student:
    student_id: str
    name: str
    email: str
    in_roster: bool
    extra: dict


class Gradebook:
    """A course's gradebook database."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path

    @classmethod
    def open(cls, path: str | Path) -> Gradebook:
        """Open (create, migrate) the gradebook file at ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(schema.connect(path), path)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (including KeyboardInterrupt)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # ------------------------------------------------------------------ students and extensions
    def sync_roster(self, roster: Iterable[RosterEntry]) -> None:
        """Roster students in, with their names and LMS columns; students no longer listed stay, flagged."""
        roster = list(roster)
        with self.transaction() as db:
            if roster:
                db.execute("UPDATE students SET in_roster = 0")
            for e in roster:
                db.execute(
                    "INSERT INTO students (student_id, name, email, in_roster, extra) VALUES (?, ?, ?, 1, ?) "
                    "ON CONFLICT (student_id) DO UPDATE SET name = excluded.name, email = excluded.email, "
                    "in_roster = 1, extra = excluded.extra",
                    (e.student_id, e.name, e.email, json.dumps(e.extra, sort_keys=True)))

    def _ensure_student(self, db: sqlite3.Connection, student_id: str) -> None:
        db.execute("INSERT OR IGNORE INTO students (student_id, in_roster) VALUES (?, 0)", (student_id,))

    def students(self) -> list[Student]:
        rows = self.conn.execute("SELECT * FROM students ORDER BY student_id").fetchall()
        return [Student(r["student_id"], r["name"], r["email"], bool(r["in_roster"]), json.loads(r["extra"]))
                for r in rows]

    def student(self, student_id: str) -> Student | None:
        return next((s for s in self.students() if s.student_id == student_id), None)

    def sync_extensions(self, course: Course) -> None:
        """The extensions table mirrors deepgrade.toml's [extensions], keeping when each was first granted."""
        with self.transaction() as db:
            have = {(r["student_id"], r["topic"]): r["days"] for r in db.execute("SELECT * FROM extensions")}
            for key in set(have) - set(course.extensions):
                db.execute("DELETE FROM extensions WHERE student_id = ? AND topic = ?", key)
            for (sid, topic), days in course.extensions.items():
                if have.get((sid, topic)) != days:
                    db.execute("INSERT OR REPLACE INTO extensions VALUES (?, ?, ?, ?)",
                               (sid, topic, days, iso(now_utc())))

    def extensions(self, student_id: str | None = None) -> list[sqlite3.Row]:
        sql, args = "SELECT * FROM extensions", ()
        if student_id is not None:
            sql, args = sql + " WHERE student_id = ?", (student_id,)
        return self.conn.execute(sql + " ORDER BY student_id, topic", args).fetchall()

    # ------------------------------------------------------------------ submissions and lateness
    def record_submissions(self, scanned: Iterable[Scanned]) -> dict[tuple[str, str], int]:
        """Record what is in the folders now; return (student, topic) -> submission id.

        A folder whose content was seen before keeps its first submission time unless a
        manifest (the LMS's record) says otherwise or the course's time source changed; new
        content is a new submission.
        """
        ids: dict[tuple[str, str], int] = {}
        with self.transaction() as db:
            for s in scanned:
                self._ensure_student(db, s.student_id)
                row = db.execute("SELECT id, time_source, submitted_at, first_seen FROM submissions "
                                 "WHERE student_id = ? AND topic = ? AND content_hash = ?",
                                 (s.student_id, s.topic, s.content_hash)).fetchone()
                if row is None:
                    submitted_at = s.submitted_at
                    if s.time_source == "first-seen":
                        # Only a sibling file changed (same own-files part of the hash): still first seen then.
                        own = s.content_hash.split(":")[0]
                        seen = db.execute("SELECT MIN(submitted_at) FROM submissions WHERE student_id = ? AND "
                                          "topic = ? AND time_source = 'first-seen' AND (content_hash = ? OR "
                                          "content_hash LIKE ?)", (s.student_id, s.topic, own, own + ":%")).fetchone()
                        submitted_at = parse_iso(seen[0]) or submitted_at
                    cur = db.execute(
                        "INSERT INTO submissions (student_id, topic, path, content_hash, submitted_at, time_source, "
                        "first_seen) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (s.student_id, s.topic, str(s.path), s.content_hash, iso(submitted_at), s.time_source,
                         iso(now_utc())))
                    sub_id = int(cur.lastrowid)
                else:
                    sub_id = int(row["id"])
                    # A manifest's time always applies; a file time or first-seen is recorded once, and
                    # replaced only when the course switches to another source.
                    changed = s.time_source != row["time_source"] or (
                        s.time_source not in UNTRUSTED_TIMES and row["submitted_at"] != iso(s.submitted_at))
                    if changed:
                        when = row["first_seen"] if s.time_source == "first-seen" else iso(s.submitted_at)
                        db.execute("UPDATE submissions SET submitted_at = ?, time_source = ? WHERE id = ?",
                                   (when, s.time_source, sub_id))
                db.execute("UPDATE submissions SET is_current = (id = ?) WHERE student_id = ? AND topic = ?",
                           (sub_id, s.student_id, s.topic))
                ids[(s.student_id, s.topic)] = sub_id
        return ids

    def refresh_lateness(self, course: Course) -> int:
        """Recompute late days and final scores from the course's current due dates, extensions and
        policies (they may have changed since grading). Returns how many rows changed."""
        changed = 0
        with self.transaction() as db:
            subs = db.execute("SELECT id, student_id, topic, submitted_at, time_source, late_days, late_seconds "
                              "FROM submissions").fetchall()
            days_of: dict[int, tuple[int, str]] = {}
            for r in subs:
                if r["topic"] not in course.assignments:
                    continue
                # No trustworthy time (no manifest, no opt-in source): never late.
                deadline = None if r["time_source"] == "none" else course.deadline(r["student_id"], r["topic"])
                submitted = parse_iso(r["submitted_at"])
                assert submitted is not None
                seconds = late_seconds(submitted, deadline)
                days = late_days(submitted, deadline, course.assignments[r["topic"]].late)
                days_of[r["id"]] = (days, r["topic"])
                if (days, seconds) != (r["late_days"], r["late_seconds"]):
                    db.execute("UPDATE submissions SET late_days = ?, late_seconds = ? WHERE id = ?",
                               (days, seconds, r["id"]))
                    changed += 1
            for g in db.execute("SELECT id, submission_id, raw_score, late_days, penalty, final_score "
                                "FROM gradings").fetchall():
                if g["submission_id"] not in days_of:
                    continue
                days, topic = days_of[g["submission_id"]]
                policy = course.assignments[topic].late
                penalty, final = penalty_fraction(days, policy), final_score(g["raw_score"], days, policy)
                if (days, penalty, final) != (g["late_days"], g["penalty"], g["final_score"]):
                    db.execute("UPDATE gradings SET late_days = ?, penalty = ?, final_score = ? WHERE id = ?",
                               (days, penalty, final, g["id"]))
                    changed += 1
        return changed

    def is_graded(self, submission_id: int, grader_version: str) -> bool:
        """Was this exact submission graded by these exact graders?"""
        return self.conn.execute("SELECT 1 FROM gradings WHERE submission_id = ? AND grader_version = ? LIMIT 1",
                                 (submission_id, grader_version)).fetchone() is not None

    # ------------------------------------------------------------------ runs and results
    def start_run(self, engine_version: str, grader_versions: dict[str, str], forced: bool) -> int:
        with self.transaction() as db:
            cur = db.execute("INSERT INTO runs (started_at, engine_version, grader_versions, forced, pid) "
                             "VALUES (?, ?, ?, ?, ?)",
                             (iso(now_utc()), engine_version, json.dumps(grader_versions, sort_keys=True),
                              int(forced), os.getpid()))
            return int(cur.lastrowid)

    def finish_run(self, run_id: int, status: str = "finished") -> None:
        with self.transaction() as db:
            db.execute("UPDATE runs SET finished_at = ?, status = ? WHERE id = ?", (iso(now_utc()), status, run_id))

    def mark_interrupted_runs(self) -> int:
        """Runs still 'running' when we hold the course lock were killed: say so."""
        with self.transaction() as db:
            return db.execute("UPDATE runs SET status = 'interrupted' WHERE status = 'running'").rowcount

    def runs(self) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM runs ORDER BY id").fetchall()

    def record_grading(self, run_id: int, submission_id: int, result: SubmissionResult, course: Course, *,
                       also: Callable[[sqlite3.Connection, int], None] | None = None) -> int:
        """Store one graded submission and all its checks in one transaction.

        ``also(db, grading_id)`` runs inside that transaction (the service marks its queue entry
        done there, so a result is recorded exactly once even if the process dies right after).
        """
        with self.transaction() as db:
            sub = db.execute("SELECT topic, late_days FROM submissions WHERE id = ?", (submission_id,)).fetchone()
            policy = course.assignments[sub["topic"]].late if sub["topic"] in course.assignments else None
            days = sub["late_days"]
            penalty = penalty_fraction(days, policy) if policy else 0.0
            final = final_score(result.score, days, policy) if policy else result.score
            cur = db.execute(
                "INSERT INTO gradings (submission_id, run_id, graded_at, engine_version, grader_version, raw_score, "
                "max_score, late_days, penalty, final_score, execution_time, output) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (submission_id, run_id, iso(now_utc()), result.engine_version, result.grader_version, result.score,
                 result.max_score, days, penalty, final, result.execution_time, result.output))
            grading_id = int(cur.lastrowid)
            db.executemany(
                "INSERT INTO check_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(grading_id, i, c.check_id, c.name, c.score, c.max_score, c.status, c.output, c.visibility)
                 for i, c in enumerate(result.checks)])
            if also is not None:
                also(db, grading_id)
            return grading_id

    def _checks(self, grading_id: int, student_id: str, topic: str) -> list[CheckResult]:
        rows = self.conn.execute("SELECT * FROM check_results WHERE grading_id = ? ORDER BY position",
                                 (grading_id,)).fetchall()
        return [CheckResult(check_id=r["check_id"], name=r["name"], topic=topic, score=r["points"],
                            max_score=r["max_points"], status=r["status"], output=r["message"],
                            visibility=r["visibility"]) for r in rows]

    def _graded(self, r: sqlite3.Row) -> Graded:
        result = SubmissionResult(
            student_id=r["student_id"], topic=r["topic"], checks=self._checks(r["grading_id"], r["student_id"],
                                                                               r["topic"]),
            execution_time=r["execution_time"], output=r["output"], engine_version=r["engine_version"],
            grader_version=r["grader_version"])
        return Graded(
            student_id=r["student_id"], topic=r["topic"], submission_id=r["submission_id"], path=r["path"],
            content_hash=r["content_hash"], submitted_at=parse_iso(r["submitted_at"]), time_source=r["time_source"],
            late_seconds=r["late_seconds"], late_days=r["late_days"], grading_id=r["grading_id"],
            graded_at=parse_iso(r["graded_at"]), engine_version=r["engine_version"],
            grader_version=r["grader_version"], raw_score=r["raw_score"], max_score=r["max_score"],
            penalty=r["penalty"], final_score=r["final_score"], gradings=r["n_gradings"], result=result)

    _GRADED_SQL = (
        "SELECT s.id AS submission_id, s.student_id, s.topic, s.path, s.content_hash, s.submitted_at, "
        "s.time_source, s.late_seconds, s.late_days, g.id AS grading_id, g.graded_at, g.engine_version, "
        "g.grader_version, g.raw_score, g.max_score, g.penalty, g.final_score, g.execution_time, g.output, "
        "(SELECT COUNT(*) FROM gradings WHERE submission_id = s.id) AS n_gradings "
        "FROM submissions s JOIN gradings g ON g.id = (SELECT MAX(id) FROM gradings WHERE submission_id = s.id) ")

    def current(self, topic: str | None = None, student_id: str | None = None) -> list[Graded]:
        """Each student's current submission per topic with its latest grading (ungraded ones omitted)."""
        sql, args = self._GRADED_SQL + "WHERE s.is_current = 1", []
        if topic is not None:
            sql, args = sql + " AND s.topic = ?", [*args, topic]
        if student_id is not None:
            sql, args = sql + " AND s.student_id = ?", [*args, student_id]
        rows = self.conn.execute(sql + " ORDER BY s.topic, s.student_id", args).fetchall()
        overrides = {(o.student_id, o.topic): o for o in self.overrides(student_id=student_id)}
        return [self._with_override(self._graded(r), overrides.get((r["student_id"], r["topic"]))) for r in rows]

    @staticmethod
    def _with_override(g: Graded, o: Override | None) -> Graded:
        """The counted result with the staff's score in place of the grader's (checks stay as graded)."""
        if o is None:
            return g
        score = o.score * g.max_score / o.max_score if o.max_score and g.max_score else o.score
        return dataclasses.replace(g, final_score=round(score, 4), override=o)

    # ------------------------------------------------------------------ staff overrides
    def overrides(self, student_id: str | None = None) -> list[Override]:
        """Every staff override (of one student), by topic."""
        sql, args = "SELECT * FROM overrides", ()
        if student_id is not None:
            sql, args = sql + " WHERE student_id = ?", (student_id,)
        return [Override(r["student_id"], r["topic"], r["score"], r["max_score"], r["reason"], r["set_by"],
                         parse_iso(r["set_at"]))
                for r in self.conn.execute(sql + " ORDER BY student_id, topic", args)]

    def override(self, student_id: str, topic: str) -> Override | None:
        return next((o for o in self.overrides(student_id) if o.topic == topic), None)

    def set_override(self, student_id: str, topic: str, score: float, max_score: float, reason: str,
                     set_by: str) -> Override:
        """Set (or replace) the score that counts for ``student_id`` on ``topic``; a reason is required."""
        reason = reason.strip()
        if not reason:
            raise ValueError("give a reason for the override (the student sees it)")
        if not 0 <= score <= max_score:
            raise ValueError(f"the score must be between 0 and {max_score:g}")
        with self.transaction() as db:
            self._ensure_student(db, student_id)
            db.execute("INSERT OR REPLACE INTO overrides VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (student_id, topic, score, max_score, reason, set_by, iso(now_utc())))
        override = self.override(student_id, topic)
        assert override is not None
        return override

    def clear_override(self, student_id: str, topic: str) -> bool:
        """Let the graded score count again; False when there was no override."""
        with self.transaction() as db:
            return db.execute("DELETE FROM overrides WHERE student_id = ? AND topic = ?",
                              (student_id, topic)).rowcount > 0

    def graded_submission(self, submission_id: int) -> Graded | None:
        """One submission (current or not) with its latest grading; None while ungraded."""
        row = self.conn.execute(self._GRADED_SQL + "WHERE s.id = ?", (submission_id,)).fetchone()
        return self._graded(row) if row else None

    def history(self, student_id: str) -> list[dict]:
        """Every submission of a student, oldest first, each with all its gradings."""
        subs = self.conn.execute("SELECT * FROM submissions WHERE student_id = ? ORDER BY topic, id",
                                 (student_id,)).fetchall()
        out = []
        for s in subs:
            gradings = self.conn.execute(
                "SELECT g.*, r.forced FROM gradings g JOIN runs r ON r.id = g.run_id WHERE g.submission_id = ? "
                "ORDER BY g.id", (s["id"],)).fetchall()
            out.append({"submission": s, "gradings": gradings})
        return out

    def counts(self) -> dict[str, int]:
        """Rows per table (for tests and `deepgrade student`'s footer)."""
        tables = ["students", "submissions", "runs", "gradings", "check_results", "quiz_scores", "quiz_items",
                  "extensions", "overrides"]
        return {t: int(self.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in tables}

    # ------------------------------------------------------------------ quizzes
    def quiz_source_hash(self, quiz: str) -> str | None:
        row = self.conn.execute("SELECT source_hash FROM quiz_scores WHERE quiz = ? LIMIT 1", (quiz,)).fetchone()
        return row["source_hash"] if row else None

    def record_quiz(self, quiz: str, results: Iterable, source_hash: str, question_ids: list[str]) -> int:
        """Replace a quiz's scores (``quizzes.grading.StudentResult`` objects) in one transaction.

        Items are stored by their number in the quiz spec (``question_ids`` order), not their
        place on each student's shuffled paper, so item analysis lines them up.
        """
        results = list(results)
        number = {qid: n for n, qid in enumerate(question_ids, start=1)}
        with self.transaction() as db:
            db.execute("DELETE FROM quiz_items WHERE quiz = ?", (quiz,))
            db.execute("DELETE FROM quiz_scores WHERE quiz = ?", (quiz,))
            stamp = iso(now_utc())
            for r in results:
                self._ensure_student(db, r.student_id)
                db.execute("INSERT INTO quiz_scores VALUES (?, ?, ?, ?, ?, ?)",
                           (r.student_id, quiz, r.score, r.max_score, stamp, source_hash))
                db.executemany("INSERT INTO quiz_items VALUES (?, ?, ?, ?, ?, ?, ?)",
                               [(r.student_id, quiz, number[i.qid], i.qid, i.score, i.points, i.response)
                                for i in r.items])
        return len(results)

    def quiz_scores(self, quiz: str | None = None, student_id: str | None = None) -> list[sqlite3.Row]:
        sql, args = "SELECT * FROM quiz_scores WHERE 1 = 1", []
        if quiz is not None:
            sql, args = sql + " AND quiz = ?", [*args, quiz]
        if student_id is not None:
            sql, args = sql + " AND student_id = ?", [*args, student_id]
        return self.conn.execute(sql + " ORDER BY quiz, student_id", args).fetchall()

    def quiz_items(self, quiz: str) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM quiz_items WHERE quiz = ? ORDER BY student_id, position",
                                 (quiz,)).fetchall()
