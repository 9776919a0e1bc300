"""The ``[service]`` section of deepgrade.toml: which submission counts and how often students may submit.

```toml
[service]
counts = "last"          # or "best": the submission that counts for the grade
max_per_day = 0          # uploads per assignment per day in the course's time zone (0: no limit)
cooldown_seconds = 0     # least time between two uploads for one assignment
max_upload_kb = 1000     # larger uploads are refused while they stream in
session_hours = 12       # a sign-in lasts this long
trusted_proxies = []     # reverse proxies in front: their X-Forwarded-For names the client
user_header = ""         # SSO in the proxy: e.g. "X-Remote-User", believed only from trusted_proxies
```
"""

from __future__ import annotations

from dataclasses import dataclass, field

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from autograder.gradebook.course import COURSE_FILE, Course, CourseError

KEYS = {"counts", "max_per_day", "cooldown_seconds", "max_upload_kb", "session_hours", "trusted_proxies",
        "user_header"}


@dataclass(frozen=True)
class ServiceSettings:
    """How the service treats submissions of one course."""

    counts: str = "last"
    max_per_day: int = 0
    cooldown_seconds: float = 0.0
    max_upload_kb: int = 1000
    session_hours: float = 12.0
    trusted_proxies: tuple[str, ...] = field(default_factory=tuple)
    user_header: str = ""  # off unless set: a header any client could send must never sign anyone in

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_kb * 1000


def load_settings(course: Course) -> ServiceSettings:
    """Read and check ``[service]`` (every default applies when the section is missing)."""
    data = tomllib.loads((course.root / COURSE_FILE).read_text(encoding="utf-8")).get("service", {})
    where = f"{COURSE_FILE} [service]"
    if not isinstance(data, dict):
        raise CourseError(f"{where}: expected a table of settings")
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise CourseError(f"{where}: unknown setting {unknown[0]!r}; known: {', '.join(sorted(KEYS))}")
    counts = data.get("counts", "last")
    if counts not in ("last", "best"):
        raise CourseError(f"{where} counts = {counts!r}: choose \"last\" or \"best\"")

    def number(key: str, default: float, kind: type = float) -> float:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise CourseError(f"{where} {key} = {value!r}: expected a number >= 0")
        return kind(value)

    proxies = data.get("trusted_proxies", [])
    if not isinstance(proxies, list) or not all(isinstance(p, str) for p in proxies):
        raise CourseError(f"{where} trusted_proxies: expected a list of addresses like [\"127.0.0.1\"]")
    header = data.get("user_header", "")
    if not isinstance(header, str):
        raise CourseError(f"{where} user_header: expected a header name like \"X-Remote-User\"")
    if header and not proxies:
        raise CourseError(f"{where} user_header needs trusted_proxies: the addresses of the proxies that set it")
    return ServiceSettings(counts=counts, max_per_day=int(number("max_per_day", 0, int)),
                           cooldown_seconds=number("cooldown_seconds", 0.0),
                           max_upload_kb=max(1, int(number("max_upload_kb", 1000, int))),
                           session_hours=number("session_hours", 12.0) or 12.0,
                           trusted_proxies=tuple(proxies), user_header=header)
