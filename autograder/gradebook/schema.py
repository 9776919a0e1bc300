"""The gradebook's SQLite schema, versioned with ``PRAGMA user_version``.

``MIGRATIONS[i]`` turns a version-i database into version i+1. A database is migrated
forward when it is opened, inside one transaction, so a failed migration leaves it as it
was. Never edit a migration that has shipped: append a new one.

Times are ISO 8601 strings in UTC; scores are points.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

MIGRATIONS: list[str] = [
    # 0 -> 1: students, submissions, grading runs, per-check results, quiz totals, extensions.
    """
    CREATE TABLE students (
        student_id TEXT PRIMARY KEY,
        name TEXT NOT NULL DEFAULT '',
        email TEXT NOT NULL DEFAULT '',
        in_roster INTEGER NOT NULL DEFAULT 1,   -- 0: submitted but not on the roster
        extra TEXT NOT NULL DEFAULT '{}'        -- the roster's other columns, as JSON
    );
    CREATE TABLE submissions (
        id INTEGER PRIMARY KEY,
        student_id TEXT NOT NULL REFERENCES students(student_id),
        topic TEXT NOT NULL,
        path TEXT NOT NULL,
        content_hash TEXT NOT NULL,             -- sha256 of the folder's .py files (names and bytes)
        submitted_at TEXT NOT NULL,
        time_source TEXT NOT NULL,              -- 'mtime' or the manifest it came from
        late_seconds REAL NOT NULL DEFAULT 0,   -- after the deadline (due date + extension)
        late_days INTEGER NOT NULL DEFAULT 0,
        first_seen TEXT NOT NULL,
        is_current INTEGER NOT NULL DEFAULT 1,  -- the submission now in the folder
        UNIQUE (student_id, topic, content_hash)
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        engine_version TEXT NOT NULL,
        grader_versions TEXT NOT NULL,          -- JSON {topic: grader version}
        forced INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'running', -- running, finished, failed, interrupted
        pid INTEGER
    );
    CREATE TABLE gradings (
        id INTEGER PRIMARY KEY,
        submission_id INTEGER NOT NULL REFERENCES submissions(id),
        run_id INTEGER NOT NULL REFERENCES runs(id),
        graded_at TEXT NOT NULL,
        engine_version TEXT NOT NULL,
        grader_version TEXT NOT NULL,
        raw_score REAL NOT NULL,
        max_score REAL NOT NULL,
        late_days INTEGER NOT NULL DEFAULT 0,
        penalty REAL NOT NULL DEFAULT 0,        -- fraction of the raw score taken off
        final_score REAL NOT NULL,
        execution_time REAL NOT NULL DEFAULT 0,
        output TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE check_results (
        grading_id INTEGER NOT NULL REFERENCES gradings(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        check_id TEXT NOT NULL,
        name TEXT NOT NULL,
        points REAL NOT NULL,
        max_points REAL NOT NULL,
        status TEXT NOT NULL,
        message TEXT NOT NULL DEFAULT '',
        visibility TEXT NOT NULL DEFAULT 'visible',
        PRIMARY KEY (grading_id, position)
    );
    CREATE TABLE quiz_scores (
        student_id TEXT NOT NULL REFERENCES students(student_id),
        quiz TEXT NOT NULL,
        score REAL NOT NULL,
        max_score REAL NOT NULL,
        graded_at TEXT NOT NULL,
        source_hash TEXT NOT NULL,              -- answer key + responses: regrade only when they change
        PRIMARY KEY (student_id, quiz)
    );
    CREATE TABLE extensions (
        student_id TEXT NOT NULL,
        topic TEXT NOT NULL,
        days REAL NOT NULL,
        granted_at TEXT NOT NULL,
        PRIMARY KEY (student_id, topic)
    );
    """,
    # 1 -> 2: per-question quiz scores (for item analysis in the class report), and the
    # indexes the "current result" queries need once a term has thousands of gradings.
    """
    CREATE TABLE quiz_items (
        student_id TEXT NOT NULL,
        quiz TEXT NOT NULL,
        position INTEGER NOT NULL,              -- the question's number in the quiz spec
        qid TEXT NOT NULL,
        score REAL NOT NULL,
        points REAL NOT NULL,
        response TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (student_id, quiz, position),
        FOREIGN KEY (student_id, quiz) REFERENCES quiz_scores(student_id, quiz) ON DELETE CASCADE
    );
    CREATE INDEX gradings_by_submission ON gradings(submission_id, id);
    CREATE INDEX submissions_by_student ON submissions(student_id, topic);
    """,
    # 2 -> 3: the submission service (`deepgrade serve`): its grading queue, sign-in accounts
    # (codes stored only as scrypt hashes) and the staff audit log.
    """
    CREATE TABLE queue (
        id INTEGER PRIMARY KEY,
        submission_id INTEGER NOT NULL REFERENCES submissions(id),
        reason TEXT NOT NULL DEFAULT 'submit',  -- submit or regrade
        state TEXT NOT NULL DEFAULT 'queued',   -- queued, running, done, failed
        enqueued_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        grading_id INTEGER REFERENCES gradings(id),
        requested_by TEXT NOT NULL DEFAULT '',
        error TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX queue_by_state ON queue(state, id);
    CREATE INDEX queue_by_submission ON queue(submission_id);
    CREATE TABLE accounts (
        account TEXT PRIMARY KEY,               -- a roster student id, or staff:<name>
        role TEXT NOT NULL,                     -- student or staff
        code_hash TEXT NOT NULL,                -- scrypt$n$r$p$salt$hash; '' when revoked
        generation INTEGER NOT NULL DEFAULT 1,  -- bumped on rotation: older sessions end
        issued_at TEXT NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT ''
    );
    """,
    # 3 -> 4: staff overrides: a score set by hand (with a reason) for a student's assignment. It replaces the
    # graded score wherever the counted score is read (exports, class report, `deepgrade student`, the service).
    """
    CREATE TABLE overrides (
        student_id TEXT NOT NULL,
        topic TEXT NOT NULL,
        score REAL NOT NULL,                    -- final points, out of max_score
        max_score REAL NOT NULL,
        reason TEXT NOT NULL,
        set_by TEXT NOT NULL,                   -- the staff account
        set_at TEXT NOT NULL,
        PRIMARY KEY (student_id, topic)
    );
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaError(RuntimeError):
    """The database cannot be used by this version of deepgrade."""


def connect(path: Path, *, busy_timeout: float = 60.0) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the gradebook at ``path``.

    WAL lets reports read while a grading run writes; every write is an explicit
    transaction (``isolation_level=None``), so a kill at any point leaves only whole results.
    """
    conn = sqlite3.connect(str(path), timeout=busy_timeout, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # durable against a killed process; fsync on checkpoint
    conn.execute("PRAGMA foreign_keys=ON")
    try:
        migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, path: Path | str = "gradebook", target: int = SCHEMA_VERSION) -> int:
    """Bring the schema up to ``target``; return the version it had before."""
    before = version(conn)
    if before > SCHEMA_VERSION:
        raise SchemaError(f"{path} has gradebook schema version {before}, newer than this deepgrade understands "
                          f"({SCHEMA_VERSION}); upgrade deepgrade")
    if before >= target:
        return before
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = version(conn)  # another process may have migrated while we waited for the lock
        for step in range(current, target):
            for statement in _statements(MIGRATIONS[step]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {step + 1}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return before


def _statements(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit our transaction)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
