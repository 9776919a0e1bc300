"""Late days and the late penalty: plain arithmetic on aware datetimes, no database.

A submission is on time when it arrives no later than its deadline (the due date plus the
student's extension). Up to ``grace_minutes`` later it still counts as on time. Beyond the
grace period every started 24 hours after the deadline is one late day, so 1 second late is
1 day, exactly 24 hours late is 1 day and 24 hours plus 1 second is 2 days. Each late day
takes ``percent_per_day`` percent off the raw score; more than ``max_days`` late days score
zero. Raw and final scores are both kept: the penalty never changes what the graders said.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

DAY_SECONDS = 86_400


@dataclass(frozen=True)
class LatePolicy:
    """How lateness costs points."""

    percent_per_day: float = 10.0
    grace_minutes: float = 0.0
    max_days: int = 7  # more late days than this score zero

    def describe(self) -> str:
        """One line for feedback pages and the README of a course."""
        grace = f", {self.grace_minutes:g} min grace" if self.grace_minutes else ""
        return (f"{self.percent_per_day:g}% off per late day{grace}; "
                f"more than {self.max_days} late day{'s' if self.max_days != 1 else ''} scores zero")


def late_seconds(submitted: datetime, deadline: datetime | None) -> float:
    """Seconds after the deadline (0 when on time or when there is no deadline)."""
    if deadline is None:
        return 0.0
    if submitted.tzinfo is None or deadline.tzinfo is None:
        raise ValueError("submission times and deadlines must carry a time zone")
    return max(0.0, (submitted - deadline).total_seconds())


def late_days(submitted: datetime, deadline: datetime | None, policy: LatePolicy) -> int:
    """Started days late, after the grace period forgives a small delay."""
    seconds = late_seconds(submitted, deadline)
    if seconds <= policy.grace_minutes * 60:
        return 0
    return math.ceil(seconds / DAY_SECONDS)


def penalty_fraction(days: int, policy: LatePolicy) -> float:
    """The fraction of the raw score taken off for ``days`` late days (1.0 beyond max_days)."""
    if days <= 0:
        return 0.0
    if days > policy.max_days:
        return 1.0
    return min(1.0, days * policy.percent_per_day / 100.0)


def final_score(raw: float, days: int, policy: LatePolicy) -> float:
    """The score after the late penalty."""
    return round(raw * (1.0 - penalty_fraction(days, policy)), 6)


def with_extension(due: datetime | None, extension_days: float) -> datetime | None:
    """A student's deadline: the due date plus their extension (days may be fractional)."""
    if due is None:
        return None
    return due + timedelta(days=extension_days)
