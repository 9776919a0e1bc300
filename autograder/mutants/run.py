"""Grade mutants of a topic's reference through the normal engine, and judge the graders.

A mutant is *killed* when at least one check fails on it (the reference scores 100, so any
lost point means the graders noticed the change), and *survives* otherwise. A survivor is
fine only when it is declared, with a reason, in ``autograder/graders/<topic>.equivalent.yaml``:

    - function: sigmoid
      original: z >= 0
      mutated: z > 0
      occurrence: 0          # optional, default 0
      kind: equivalent       # or: tolerated
      reason: at z == 0 both branches give 0.5

``equivalent`` means the same behaviour for every valid input; ``tolerated`` means
different, but within the documented tolerance. The mutation score leaves declared
survivors out: killed / (mutants - declared survivors).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from autograder.grading import GRADERS_DIR, Job, grade_jobs
from autograder.mutants.generate import Mutant, generate_mutants

ROOT = GRADERS_DIR.parents[1]
KINDS = ("equivalent", "tolerated")
# Messages that name no mistake: a check that kills a mutant with one of these teaches nothing.
GENERIC_MESSAGES = ("check failed", "the answer is not correct", "failed", "the grader could not judge this answer")


CONTROL = "reference"


class DeclarationError(ValueError):
    """A malformed equivalent.yaml."""


@dataclass(frozen=True)
class Declaration:
    """One declared surviving mutant."""

    function: str
    original: str
    mutated: str
    occurrence: int
    kind: str
    reason: str

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.function, self.original, self.mutated, self.occurrence)


@dataclass
class Outcome:
    """What grading did to one mutant."""

    ident: str
    function: str
    operator: str
    original: str
    mutated: str
    occurrence: int
    line: int
    before: str
    after: str
    status: str                  # killed | survived | equivalent | tolerated
    killed_by: list[str] = field(default_factory=list)  # failed check ids
    message: str = ""            # the first failed check's message
    reason: str = ""             # the declaration's reason, for declared survivors

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.function, self.original, self.mutated, self.occurrence)


@dataclass
class MutationReport:
    """Every mutant of one topic and what became of it."""

    topic: str
    seed: int
    outcomes: list[Outcome]
    unused_declarations: list[Declaration] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def undeclared_survivors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "survived"]

    @property
    def score(self) -> float:
        """Killed mutants over the mutants that are not declared survivors (1.0 when there are none)."""
        relevant = self.count("killed") + self.count("survived")
        return self.count("killed") / relevant if relevant else 1.0

    def to_dict(self) -> dict:
        return {"topic": self.topic, "seed": self.seed, "seconds": round(self.seconds, 1),
                "mutants": len(self.outcomes), "killed": self.count("killed"), "survived": self.count("survived"),
                "equivalent": self.count("equivalent"), "tolerated": self.count("tolerated"),
                "score": round(self.score, 4), "outcomes": [asdict(o) for o in self.outcomes],
                "unused_declarations": [asdict(d) for d in self.unused_declarations]}


# ---------------------------------------------------------------------------- declarations


def declarations_path(topic: str) -> Path:
    return GRADERS_DIR / f"{topic}.equivalent.yaml"


def load_declarations(topic: str) -> list[Declaration]:
    """The topic's declared survivors (none when the file does not exist)."""
    path = declarations_path(topic)
    if not path.exists():
        return []
    data = yaml.safe_load(path.read_text()) or []
    if not isinstance(data, list):
        raise DeclarationError(f"{path.name}: expected a list of declarations")
    out = []
    for n, item in enumerate(data, 1):
        if not isinstance(item, dict):
            raise DeclarationError(f"{path.name}: entry {n} is not a mapping")
        missing = {"function", "original", "mutated", "kind", "reason"} - set(item)
        if missing:
            raise DeclarationError(f"{path.name}: entry {n} lacks {', '.join(sorted(missing))}")
        if item["kind"] not in KINDS:
            raise DeclarationError(f"{path.name}: entry {n} has kind {item['kind']!r}; use one of {', '.join(KINDS)}")
        if not str(item["reason"]).strip():
            raise DeclarationError(f"{path.name}: entry {n} needs a one-line reason")
        out.append(Declaration(str(item["function"]), str(item["original"]), str(item["mutated"]),
                               int(item.get("occurrence", 0)), item["kind"], str(item["reason"]).strip()))
    return out


def apply_declarations(report: MutationReport, declarations: list[Declaration]) -> MutationReport:
    """Mark declared survivors; a declaration that matches no survivor is reported as unused."""
    by_key = {d.key: d for d in declarations}
    used = set()
    for o in report.outcomes:
        if o.status in KINDS:  # re-applying: start from the graded status
            o.status, o.reason = "survived", ""
        d = by_key.get(o.key)
        if d is not None and o.status == "survived":
            o.status, o.reason = d.kind, d.reason
            used.add(d.key)
    report.unused_declarations = [d for d in declarations if d.key not in used]
    return report


# ---------------------------------------------------------------------------- grading


def reference_path(topic: str) -> Path:
    return ROOT / "solutions" / f"{topic}.py"


def topic_mutants(topic: str, *, seed: int = 0, limit: int | None = None) -> list[Mutant]:
    """The mutants of ``solutions/<topic>.py``."""
    return generate_mutants(reference_path(topic).read_text(), seed=seed, limit=limit)


def is_generic(message: str) -> bool:
    """A failure message that names no mistake."""
    text = message.strip().lower().rstrip(".")
    return len(text) < 15 or text in GENERIC_MESSAGES or text.startswith("the grader could not judge")


def run_mutants(topic: str, *, seed: int = 0, limit: int | None = None, workers: int | None = None,
                call_timeout: float = 2.0, mutants: list[Mutant] | None = None,
                on_outcome: Callable[[Outcome], None] | None = None, cluster: Any = None) -> MutationReport:
    """Grade every mutant of ``topic`` (or a ``limit`` sample) and apply its declarations.

    ``cluster``: a ``ClusterSettings``; the mutants are then graded on that Dask cluster.
    """
    import time

    start = time.perf_counter()
    if mutants is None:
        mutants = topic_mutants(topic, seed=seed, limit=limit)
    by_id = {m.ident: m for m in mutants}
    jobs = [Job(m.ident, topic, {f"{topic}.py": m.source.encode()}) for m in mutants]
    # The unchanged reference is graded alongside as a control: if it loses points, every
    # mutant would look killed and the measurement would mean nothing.
    jobs.append(Job(CONTROL, topic, {f"{topic}.py": reference_path(topic).read_bytes()}))
    outcomes: dict[str, Outcome] = {}
    control = []

    def collect(result) -> None:
        if result.student_id == CONTROL:
            control.append(result)
            return
        m = by_id[result.student_id]
        failed = [c for c in result.checks if c.status != "passed"]
        outcome = Outcome(m.ident, m.function, m.operator, m.original, m.mutated, m.occurrence, m.line, m.before,
                          m.after, "killed" if failed else "survived", [c.check_id for c in failed],
                          failed[0].output.strip() if failed else "")
        outcomes[m.ident] = outcome
        if on_outcome:
            on_outcome(outcome)

    grade_jobs(jobs, workers=workers, call_timeout=call_timeout, on_result=collect, cluster=cluster)
    if not control or control[0].score < control[0].max_score:
        detail = control[0].failures_text().splitlines()[0] if control else "it was not graded"
        raise RuntimeError(f"the reference solutions/{topic}.py does not score full marks, so mutants cannot be "
                           f"judged: {detail}")
    report = MutationReport(topic, seed, [outcomes[m.ident] for m in mutants if m.ident in outcomes])
    report.seconds = time.perf_counter() - start
    apply_declarations(report, load_declarations(topic))
    if limit is not None:  # a sample cannot tell which declarations are unused
        report.unused_declarations = [d for d in report.unused_declarations
                                      if d.key in {o.key for o in report.outcomes}]
    return report
