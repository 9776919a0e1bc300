"""A course folder: ``deepgrade.toml`` (what is assigned, when it is due, how lateness costs),
``roster.csv`` and ``submissions/<topic>/<student_id>/``.

``load_course`` reads and validates the file; every mistake is a ``CourseError`` naming the
file and the setting, so an instructor can fix it without reading code.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from autograder.cluster.settings import ClusterSettings
from autograder.gradebook.late import LatePolicy, with_extension
from autograder.reports.material import Material, MaterialError, default_material, material_from_table

if TYPE_CHECKING:
    from autograder.sandbox.proxy import Budget

COURSE_FILE = "deepgrade.toml"
GRADEBOOK_FILE = "gradebook.sqlite"


class CourseError(ValueError):
    """The course folder or its deepgrade.toml cannot be used as it is."""


@dataclass(frozen=True)
class Assignment:
    """One assigned topic."""

    topic: str
    title: str
    due: datetime | None  # aware; None: never late
    weight: float
    points: float | None  # scale scores to this many points; None: the graders' own total
    late: LatePolicy
    due_has_time: bool = True  # False: `due` was a bare date, which means the start of that day


@dataclass(frozen=True)
class Quiz:
    """A quiz built with `deepgrade quiz build` whose responses the course grades."""

    name: str
    title: str
    key: Path  # the build folder (or its answer_key.json)
    responses: Path  # student_id,q1,q2,... as `deepgrade quiz grade` reads it
    weight: float
    points: float | None


@dataclass(frozen=True)
class RosterEntry:
    """One student of the roster; ``extra`` holds optional LMS columns (canvas_id, section, ...)."""

    student_id: str
    name: str = ""
    email: str = ""
    extra: dict = field(default_factory=dict, hash=False, compare=False)


@dataclass
class Course:
    """A loaded, validated course folder."""

    root: Path
    name: str
    timezone: tzinfo
    timezone_name: str
    roster_path: Path
    submissions_dir: Path
    late: LatePolicy
    assignments: dict[str, Assignment]
    quizzes: dict[str, Quiz]
    extensions: dict[tuple[str, str], float]  # (student_id, topic) -> days
    budget: Budget | None = None  # [grading]: what one submission may cost per topic (None: the default)
    submission_time: str = "manifest"  # where submission times come from (SUBMISSION_TIME_SOURCES)
    similarity: dict = field(default_factory=dict)  # [similarity], checked by _similarity
    material: Material = field(default_factory=default_material)  # [material]: review pointers, document names
    unsafe_no_sandbox: bool = False  # [sandbox]: grade unconfined where this machine cannot confine student code
    cluster: ClusterSettings | None = None  # [cluster]: grade on this Dask scheduler (None: on this machine)

    @property
    def db_path(self) -> Path:
        return self.root / GRADEBOOK_FILE

    @property
    def topics(self) -> list[str]:
        return list(self.assignments)

    def extension_days(self, student_id: str, topic: str) -> float:
        return self.extensions.get((student_id, topic), 0.0)

    def deadline(self, student_id: str, topic: str) -> datetime | None:
        """The student's deadline for a topic: due date plus extension (None: no due date)."""
        return with_extension(self.assignments[topic].due, self.extension_days(student_id, topic))

    def local(self, when: datetime | None) -> str:
        """A time as the course reads it: '2025-10-06 23:59 CEST'."""
        if when is None:
            return "-"
        return when.astimezone(self.timezone).strftime("%Y-%m-%d %H:%M %Z").strip()

    def roster(self) -> list[RosterEntry]:
        return read_roster(self.roster_path) if self.roster_path.exists() else []


# ---------------------------------------------------------------------------- loading

_SECTIONS = {"course", "late", "assignments", "quizzes", "extensions", "service", "similarity", "material", "grading", "sandbox", "cluster"}  # [service]: autograder.service; [similarity]: autograder.similarity
_COURSE_KEYS = {"name", "timezone", "roster", "submissions", "submission_time"}
_LATE_KEYS = {"percent_per_day", "grace_minutes", "max_days"}
_ASSIGNMENT_KEYS = {"title", "due", "weight", "points", "late"}
_QUIZ_KEYS = {"title", "key", "responses", "weight", "points"}


def find_course(course_dir: str | Path | None = None) -> Path:
    """The course folder: ``course_dir``, or the current folder when it has a deepgrade.toml."""
    if course_dir is None:
        here = Path.cwd()
        if (here / COURSE_FILE).is_file():
            return here
        raise CourseError(f"no {COURSE_FILE} in the current folder; pass --course DIR or create a course with "
                          "`deepgrade init DIR`")
    root = Path(course_dir)
    if not (root / COURSE_FILE).is_file():
        raise CourseError(f"{root} is not a course folder (no {COURSE_FILE}); create one with `deepgrade init {root}`")
    return root


def load_course(course_dir: str | Path | None = None) -> Course:
    """Read and validate ``deepgrade.toml``."""
    from autograder.grading import available_topics

    root = find_course(course_dir).resolve()
    path = root / COURSE_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CourseError(f"{path}: not valid TOML: {exc}") from None
    where = path.name
    _only(data, _SECTIONS, where, "section")
    info = _table(data, "course", where)
    _only(info, _COURSE_KEYS, f"{where} [course]", "setting")
    tz_name = _text(info, "timezone", f"{where} [course]", default="UTC")
    tz = _zone(tz_name, f"{where} [course] timezone")
    late = _late(_table(data, "late", where), f"{where} [late]", LatePolicy())

    known = available_topics()
    assignments: dict[str, Assignment] = {}
    for topic, spec in _table(data, "assignments", where).items():
        here = f"{where} [assignments.{topic}]"
        if topic not in known:
            raise CourseError(f"{here}: unknown topic {topic!r}; topics with graders: {', '.join(known)}")
        if not isinstance(spec, dict):
            raise CourseError(f"{here}: expected a table of settings")
        _only(spec, _ASSIGNMENT_KEYS, here, "setting")
        own_late = spec.get("late", {})
        if not isinstance(own_late, dict):
            raise CourseError(f"{here} late: expected a table like {{ percent_per_day = 5 }}")
        assignments[topic] = Assignment(
            topic=topic, title=_text(spec, "title", here, default=topic),
            due=_due(spec.get("due"), tz, f"{here} due"), due_has_time=_has_time(spec.get("due")),
            weight=_number(spec, "weight", here, default=1.0),
            points=_number(spec, "points", here, default=None, positive=True),
            late=_late(own_late, f"{here} late", late),
        )
    if not assignments:
        raise CourseError(f"{where}: no [assignments.<topic>] tables; assign at least one of: {', '.join(known)}")

    quizzes: dict[str, Quiz] = {}
    for name, spec in _table(data, "quizzes", where).items():
        here = f"{where} [quizzes.{name}]"
        if not isinstance(spec, dict):
            raise CourseError(f"{here}: expected a table of settings")
        if name in assignments:
            raise CourseError(f"{here}: a quiz cannot share its name with an assignment")
        _only(spec, _QUIZ_KEYS, here, "setting")
        for key in ("key", "responses"):
            if key not in spec:
                raise CourseError(f"{here}: missing {key} = \"...\"")
        quizzes[name] = Quiz(
            name=name, title=_text(spec, "title", here, default=name),
            key=root / _text(spec, "key", here), responses=root / _text(spec, "responses", here),
            weight=_number(spec, "weight", here, default=1.0),
            points=_number(spec, "points", here, default=None, positive=True),
        )

    extensions: dict[tuple[str, str], float] = {}
    for student, grants in _table(data, "extensions", where).items():
        here = f"{where} [extensions] {student}"
        if not isinstance(grants, dict):
            raise CourseError(f"{here}: expected {{ <topic> = <days> }}, e.g. {student} = {{ activations = 2 }}")
        for topic, days in grants.items():
            if topic not in assignments:
                raise CourseError(f"{here}: {topic!r} is not an assignment of this course "
                                  f"({', '.join(assignments)})")
            if isinstance(days, bool) or not isinstance(days, (int, float)) or not math.isfinite(days) or days < 0:
                raise CourseError(f"{here}: {topic} = {days!r}: days must be a number >= 0")
            extensions[(str(student), topic)] = float(days)

    roster_path = root / _text(info, "roster", f"{where} [course]", default="roster.csv")
    if extensions and roster_path.exists():
        check_extension_ids(extensions, read_roster(roster_path), f"{where} [extensions]")
    return Course(
        root=root, name=_text(info, "name", f"{where} [course]", default=root.name),
        timezone=tz, timezone_name=tz_name,
        roster_path=root / _text(info, "roster", f"{where} [course]", default="roster.csv"),
        submissions_dir=root / _text(info, "submissions", f"{where} [course]", default="submissions"),
        late=late, assignments=assignments, quizzes=quizzes, extensions=extensions,
        budget=_budget(_table(data, "grading", where), f"{where} [grading]"),
        submission_time=_submission_time(info, f"{where} [course]"),
        similarity=_similarity(_table(data, "similarity", where), f"{where} [similarity]", root),
        material=_material(_table(data, "material", where), f"{where} [material]"),
        unsafe_no_sandbox=_unsafe_no_sandbox(_table(data, "sandbox", where), f"{where} [sandbox]"),
        cluster=_cluster(_table(data, "cluster", where), f"{where} [cluster]", root),
    )


def _cluster(table: dict, where: str, root: Path) -> ClusterSettings | None:
    """[cluster] scheduler = "tls://HOST:8786" (+ tls_ca, tls_cert, tls_key; allow_insecure)."""
    from autograder.cluster.settings import ClusterError

    if not table:
        return None
    _only(table, {"scheduler", "tls_ca", "tls_cert", "tls_key", "allow_insecure"}, where, "setting")
    scheduler = _text(table, "scheduler", where)
    files = {k: root / _text(table, k, where) if k in table else None for k in ("tls_ca", "tls_cert", "tls_key")}
    allow = table.get("allow_insecure", False)
    if not isinstance(allow, bool):
        raise CourseError(f"{where}: allow_insecure = {allow!r}: expected true or false")
    settings = ClusterSettings(scheduler, allow_insecure=allow, **files)
    try:
        settings.validate()
    except ClusterError as exc:
        raise CourseError(f"{where}: {exc}") from None
    return settings


def _unsafe_no_sandbox(table: dict, where: str) -> bool:
    """[sandbox] unsafe_no_sandbox = true: the instructor's explicit opt-in to grading unconfined."""
    _only(table, {"unsafe_no_sandbox"}, where, "setting")
    value = table.get("unsafe_no_sandbox", False)
    if not isinstance(value, bool):
        raise CourseError(f"{where}: unsafe_no_sandbox = {value!r}: expected true or false")
    return value


_SIMILARITY_KEYS = {"threshold", "min_matched", "kgram", "references", "solution"}


def _similarity(table: dict, where: str, root: Path) -> dict:
    """[similarity]: when `deepgrade similarity` flags a pair, and the folders it compares against."""
    _only(table, _SIMILARITY_KEYS, where, "setting")
    out: dict[str, Any] = {}
    if "threshold" in table:
        value = table["threshold"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise CourseError(f"{where}: threshold = {value!r}: expected a fraction in (0, 1], e.g. 0.65")
        out["threshold"] = float(value)
    for key, least in (("min_matched", 0), ("kgram", 1)):
        if key in table:
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise CourseError(f"{where}: {key} = {value!r}: expected a whole number >= {least}")
            out[key] = value
    refs = table.get("references", [])
    if not isinstance(refs, list) or not all(isinstance(r, str) and r.strip() for r in refs):
        raise CourseError(f"{where}: references must be a list of folders, e.g. [\"references/last-term\"]")
    out["references"] = [root / r for r in refs]
    if not isinstance(table.get("solution", False), bool):
        raise CourseError(f"{where}: solution must be true or false")
    out["solution"] = table.get("solution", False)
    return out


def _budget(table: dict, where: str) -> Budget | None:
    """[grading] budget_seconds / cpu_budget_seconds: the most grading one submission may cost per topic."""
    from autograder.sandbox.proxy import Budget

    _only(table, {"budget_seconds", "cpu_budget_seconds"}, where, "setting")
    if not table:
        return None
    default = Budget()
    return Budget(wall=_number(table, "budget_seconds", where, default=default.wall, positive=True),
                  cpu=_number(table, "cpu_budget_seconds", where, default=default.cpu, positive=True))


def _only(table: dict, allowed: set[str], where: str, what: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise CourseError(f"{where}: unknown {what} {', '.join(map(repr, unknown))}; "
                          f"expected one of: {', '.join(sorted(allowed))}")


def _material(table: dict, where: str) -> Material:
    """[material]: the course's own review pointers and document names, over the shipped defaults."""
    try:
        return material_from_table(table, where)
    except MaterialError as exc:
        raise CourseError(str(exc)) from None


def _table(data: dict, key: str, where: str) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise CourseError(f"{where}: [{key}] must be a table")
    return value


def _text(table: dict, key: str, where: str, default: str | None = None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise CourseError(f"{where}: {key} must be a non-empty string")
    return value


def _number(table: dict, key: str, where: str, default: float | None, positive: bool = False) -> Any:
    if key not in table:
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 \
            or (positive and value == 0):
        raise CourseError(f"{where}: {key} = {value!r}: expected a number {'> 0' if positive else '>= 0'}")
    return float(value)


def _late(table: dict, where: str, base: LatePolicy) -> LatePolicy:
    _only(table, _LATE_KEYS, where, "setting")
    pct = _number(table, "percent_per_day", where, base.percent_per_day)
    if pct > 100:
        raise CourseError(f"{where}: percent_per_day = {pct:g}: expected at most 100")
    max_days = table.get("max_days", base.max_days)
    if isinstance(max_days, bool) or not isinstance(max_days, int) or max_days < 0:
        raise CourseError(f"{where}: max_days = {max_days!r}: expected a whole number of days >= 0")
    return LatePolicy(percent_per_day=pct, grace_minutes=_number(table, "grace_minutes", where, base.grace_minutes),
                      max_days=max_days)


def _zone(name: str, where: str) -> tzinfo:
    if name.upper() in ("UTC", "Z", "ETC/UTC"):
        return timezone.utc
    try:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CourseError(f"{where}: unknown time zone {name!r}; use an IANA name such as "
                          "'Europe/Berlin', 'America/New_York' or 'UTC'") from None


def parse_time(value: Any, tz: tzinfo, where: str) -> datetime:
    """A TOML datetime/date or an ISO 8601 string as an aware datetime (no offset: the course zone).

    A date without a time means the START of that day (00:00 in the course's zone), whether it
    is written as a TOML date or as text; ``course_warnings`` says so for every due date
    written that way, since "due on the 6th" is easily read as the end of it.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            try:
                value = date.fromisoformat(text)
            except ValueError:
                raise CourseError(f"{where}: {value!r} is not a date/time like '2025-10-06 23:59' or "
                                  "'2025-10-06T23:59:00+02:00'") from None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=tz)
    if isinstance(value, date):
        return datetime.combine(value, time(0, 0), tzinfo=tz)
    raise CourseError(f"{where}: {value!r} is not a date/time")


def _due(value: Any, tz: tzinfo, where: str) -> datetime | None:
    return None if value is None else parse_time(value, tz, where)


# ---------------------------------------------------------------------------- roster

_ID_COLUMNS = ("student_id", "id", "student", "sis_user_id", "username")


def read_roster(path: Path) -> list[RosterEntry]:
    """roster.csv: student_id, name, email, then any optional columns (canvas_id, section, ...)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip().lower() for h in reader.fieldnames or []]
            id_col = next((c for c in _ID_COLUMNS if c in header), None)
            if id_col is None:
                raise CourseError(f"{path}: the roster needs a student_id column (header: {', '.join(header)})")
            entries, seen = [], set()
            for line, row in enumerate(reader, start=2):
                surplus = row.pop(None, None) or []  # cells beyond the header (a trailing comma)
                if any(str(cell).strip() for cell in surplus):
                    raise CourseError(f"{path}:{line}: {len(surplus)} more cell(s) than the header has columns "
                                      f"({', '.join(header)})")
                row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
                sid = row.pop(id_col, "")
                if not sid:
                    continue
                if sid in seen:
                    raise CourseError(f"{path}:{line}: student {sid!r} is listed twice")
                seen.add(sid)
                name = row.pop("name", "") or " ".join(x for x in (row.get("first_name"), row.get("last_name")) if x)
                entries.append(RosterEntry(sid, name, row.pop("email", ""), {k: v for k, v in row.items() if v}))
            return entries
    except OSError as exc:
        raise CourseError(f"cannot read the roster {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CourseError(f"{path}: the roster is not UTF-8 text") from None


# ---------------------------------------------------------------------------- scaffolding

EXAMPLE_ROSTER = [
    ("s1001", "Ada Lovelace", "ada@example.edu"),
    ("s1002", "Alan Turing", "alan@example.edu"),
    ("s1003", "Grace Hopper", "grace@example.edu"),
]


def scaffold_course(course_dir: str | Path, *, name: str | None = None, topics: list[str] | None = None,
                    timezone_name: str = "UTC", first_due: datetime | None = None,
                    roster: list[tuple[str, str, str]] | None = None) -> list[Path]:
    """Write deepgrade.toml, an example roster.csv and submissions/<topic>/<student_id>/ folders.

    Due dates start a week after ``first_due`` (default: now) and follow weekly, at 23:59 in
    the course's time zone. An existing deepgrade.toml is never overwritten.
    """
    from autograder.grading import available_topics
    from autograder.render import render

    root = Path(course_dir)
    if (root / COURSE_FILE).exists():
        raise CourseError(f"{root / COURSE_FILE} already exists; edit it instead")
    known = available_topics()
    topics = topics or known
    unknown = [t for t in topics if t not in known]
    if unknown:
        raise CourseError(f"unknown topic {', '.join(unknown)}; choose from: {', '.join(known)}")
    tz = _zone(timezone_name, "--timezone")
    start = (first_due or datetime.now(tz)).astimezone(tz)
    dues = [(start + timedelta(days=7 * (i + 1))).strftime("%Y-%m-%d 23:59") for i in range(len(topics))]
    roster = roster if roster is not None else EXAMPLE_ROSTER
    root.mkdir(parents=True, exist_ok=True)
    written = []
    text = render("deepgrade.toml.j2", course_name=name or root.resolve().name, timezone=timezone_name,
                  assignments=list(zip(topics, dues)), example_student=roster[0][0] if roster else "s1001",
                  example_topic=topics[0])
    (root / COURSE_FILE).write_text(text, encoding="utf-8")
    written.append(root / COURSE_FILE)
    roster_path = root / "roster.csv"
    if not roster_path.exists():
        with roster_path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["student_id", "name", "email"])
            writer.writerows(roster)
        written.append(roster_path)
    for topic in topics:
        for sid, _, _ in roster:
            (root / "submissions" / topic / sid).mkdir(parents=True, exist_ok=True)
        written.append(root / "submissions" / topic)
    load_course(root)  # what we wrote must load
    return written


# ---------------------------------------------------------------------------- checks and warnings

SUBMISSION_TIME_SOURCES = ("manifest", "first-seen", "mtime")


def _submission_time(info: dict, where: str) -> str:
    """[course] submission_time: manifest (the default), first-seen or mtime (see the README's caveats)."""
    value = info.get("submission_time", "manifest")
    if value not in SUBMISSION_TIME_SOURCES:
        raise CourseError(f"{where}: submission_time = {value!r}: expected one of "
                          f"{', '.join(map(repr, SUBMISSION_TIME_SOURCES))}")
    return value


def _has_time(value: Any) -> bool:
    """Does a due date carry a time of day? (A TOML date or 'YYYY-MM-DD' text does not.)"""
    if isinstance(value, str):
        return len(value.strip()) > 10
    return not (isinstance(value, date) and not isinstance(value, datetime))


def check_extension_ids(extensions: dict[tuple[str, str], float], roster: list[RosterEntry], where: str) -> None:
    """Refuse an extension for an id that is not on the roster (a typo would penalise the real student)."""
    import difflib

    ids = [e.student_id for e in roster]
    for student in sorted({s for s, _ in extensions}):
        if student not in ids:
            close = difflib.get_close_matches(student, ids, n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(close)}?" if close else "; check roster.csv"
            raise CourseError(f"{where}: {student!r} is not on the roster{hint}")


def course_warnings(course: Course) -> list[str]:
    """What an instructor should know before trusting late penalties: missing or date-only due dates."""
    warnings = []
    for topic, a in course.assignments.items():
        if a.due is None:
            warnings.append(f"[assignments.{topic}] has no due date: no late penalty is applied to it")
        elif not a.due_has_time:
            warnings.append(f"[assignments.{topic}] due date has no time: it means {course.local(a.due)}, the start "
                            f"of that day; write e.g. \"{a.due.astimezone(course.timezone):%Y-%m-%d} 23:59\" for the end")
    return warnings
