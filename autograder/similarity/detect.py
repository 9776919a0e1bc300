"""Which submissions of one topic share code: sources, settings, ranked pairs and clusters.

A *source* is one student's topic module (a notebook counts through its code cells) or one
compared-against reference (last term's submissions, a solution found online). The topic's
starter code is subtracted from every source first, so nobody is matched on what everybody
was given; reference sources are compared with students but never with each other.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from autograder.similarity import fingerprints as fp

INSTALL_HINT = "similarity needs copydetect: pip install 'deepgrade[similarity]'"

# Calibrated on the bundled material (python bench/bench_similarity.py --calibrate): planted copies
# (renamed, reordered, restyled) of the reference and of the graders' alternative correct
# implementations score at least 0.90 on both sides, every topic; independent implementations
# (reference, alternatives, the sample class, stub-only students) at most 0.48 on the larger side.
# Matched tokens count the student's own code only: two identical obvious answers (one or two
# short functions in the stub) match 25-90 tokens; the smallest whole copy (residual) 181.
DEFAULT_THRESHOLD = 0.65
DEFAULT_MIN_MATCHED = 120
DEFAULT_KGRAM = 40
DEFAULT_WINDOW = 1


class SimilarityError(ValueError):
    """The comparison cannot run as asked (unknown topic, missing folder, bad setting)."""


@dataclass(frozen=True)
class Settings:
    """When a pair is flagged for review, and how fingerprints are taken.

    A pair is flagged when the larger of its two similarity figures reaches ``threshold``
    and the code they share is at least ``min_matched`` normalized tokens long: once the
    starter code is removed, two short answers can be alike by necessity.
    """

    threshold: float = DEFAULT_THRESHOLD
    min_matched: int = DEFAULT_MIN_MATCHED
    kgram: int = DEFAULT_KGRAM  # noise threshold: shorter matches are never seen
    window: int = DEFAULT_WINDOW  # winnowing window; matches of kgram + window - 1 are always seen
    listed: float = 0.25  # pairs below this (larger figure) are left out of the table and files

    def check(self) -> Settings:
        """Self, or a SimilarityError naming the bad setting."""
        if not 0 < self.threshold <= 1:
            raise SimilarityError(f"threshold = {self.threshold!r}: expected a fraction in (0, 1], e.g. 0.65")
        if not 0 <= self.listed <= self.threshold:
            raise SimilarityError(f"listed = {self.listed!r}: expected a fraction between 0 and the threshold")
        for name in ("min_matched", "kgram", "window"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "min_matched" else 1):
                raise SimilarityError(f"{name} = {value!r}: expected a whole number"
                                      f" {'>= 0' if name == 'min_matched' else '>= 1'}")
        return self


@dataclass
class Source:
    """One compared text: a student's submission or a reference."""

    name: str  # the student id, or "<reference folder>/<name>"
    text: str
    reference: bool = False
    origin: str = ""  # the file it was read from, for the reader
    print: fp.Fingerprint | None = field(default=None, repr=False)


@dataclass
class Pair:
    """Two sources and what they share."""

    a: Source
    b: Source
    similarity_a: float  # share of a's own code (starter removed) that b also has
    similarity_b: float
    matched: int  # normalized tokens of a's code that match b
    flagged: bool
    regions_a: list[tuple[int, int, int]] = field(default_factory=list, repr=False)
    regions_b: list[tuple[int, int, int]] = field(default_factory=list, repr=False)

    @property
    def similarity(self) -> float:
        """The larger figure: how much of one of them the other holds."""
        return max(self.similarity_a, self.similarity_b)

    @property
    def slug(self) -> str:
        """A file-name-safe id of the pair (its page is pairs/<slug>.html)."""
        from autograder.names import output_name

        return f"{output_name(self.a.name)}--{output_name(self.b.name)}"


@dataclass
class Report:
    """The result of comparing one topic's sources."""

    topic: str
    settings: Settings
    sources: list[Source]
    pairs: list[Pair]  # listed pairs, most similar first
    clusters: list[list[str]]  # groups of three or more sources joined by flagged pairs
    notes: list[str]  # sources that could not be read, and why
    compared: int  # pairs compared
    seconds: float

    @property
    def flagged(self) -> list[Pair]:
        return [p for p in self.pairs if p.flagged]

    @property
    def students(self) -> int:
        return sum(not s.reference for s in self.sources)


# ---------------------------------------------------------------------------- reading


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _read_folder(folder: Path, topic: str | None, root: Path) -> tuple[dict[str, bytes], str]:
    """One folder through the safe reader (notebooks become their code cells); it must lie in root."""
    from autograder.grading import read_student_files

    result = read_student_files(folder, topic, root=root)
    # The reader returns (files, notes); accept a bare mapping too, the shape its brief names.
    files, note = result if isinstance(result, tuple) else (result, "")
    return files, note


def _unreadable(text: str) -> bool:
    """The reader's stand-in for a file it could not read: one `raise ImportError(reason)` line."""
    return text.startswith("raise ImportError(") and text.count("\n") <= 1


def student_sources(submissions: Path, topic: str) -> tuple[list[Source], list[str]]:
    """Each ``<submissions>/<student_id>/`` folder's ``<topic>.py`` (or notebook) as a source."""
    from autograder.names import student_id_from_folder

    if not submissions.is_dir():
        raise SimilarityError(f"no submissions folder {submissions}")
    sources, notes = [], []
    module = f"{topic}.py"
    for folder in sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files, note = _read_folder(folder, topic, submissions)
        text = _decode(files[module]) if module in files else ""
        student = student_id_from_folder(folder.name)  # the id grading gives the same folder
        if text and not _unreadable(text):
            notebook = not (folder / module).is_file() and (folder / f"{topic}.ipynb").is_file()
            origin = f"{folder.name}/{topic}.ipynb (code cells)" if notebook else f"{folder.name}/{module}"
            sources.append(Source(student, text, origin=origin))
        elif note:
            notes.append(f"{student}: {note}")
    return sources, notes


def reference_sources(folder: Path, topic: str) -> tuple[list[Source], list[str]]:
    """A compared-against folder, in any of three layouts: ``<folder>/<topic>/<id>/``,
    ``<folder>/<id>/<topic>.py`` like a submissions folder, or loose ``.py``/``.ipynb`` files."""
    if not folder.is_dir():
        raise SimilarityError(f"no reference folder {folder}")
    label = folder.name or str(folder)
    base = folder / topic if (folder / topic).is_dir() else folder
    sources, notes = student_sources(base, topic)
    for s in sources:
        s.name, s.reference, s.origin = f"{label}/{s.name}", True, f"{label}/{s.origin}"
    loose, note = _read_folder(base, None, base)
    for name, data in sorted(loose.items()):
        stem = name[:-3] if name.endswith(".py") else name
        sources.append(Source(f"{label}/{stem}", _decode(data), reference=True, origin=f"{label}/{name}"))
    if note:
        notes.append(f"{label}: {note}")
    return sources, notes


def starter_code(topic: str) -> str:
    """The topic's generated student stub (what every student was given)."""
    from autograder.build import ASSIGNMENTS
    from autograder.grading import available_topics

    path = ASSIGNMENTS / topic / f"{topic}.py"
    if topic not in available_topics() or not path.is_file():
        raise SimilarityError(f"unknown topic {topic!r}; choose from: {', '.join(available_topics())}")
    return path.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------- comparing


def _fingerprints() -> ModuleType:
    """The fingerprinting module; copydetect is an optional extra, so say how to get it."""
    try:
        from autograder.similarity import fingerprints
    except ImportError:
        raise SimilarityError(INSTALL_HINT) from None
    return fingerprints


def compare(topic: str, sources: list[Source], settings: Settings | None = None, *,
            starter: str | None = None, notes: list[str] | None = None) -> Report:
    """Compare every student with every other student and every reference; rank and cluster."""
    settings = (settings or Settings()).check()
    fp = _fingerprints()
    started = time.perf_counter()
    k = settings.kgram
    given = fp.starter_hashes(starter if starter is not None else starter_code(topic), k)
    for s in sources:
        s.print = fp.fingerprint(s.text, k, settings.window, given)
    prints = [s.print for s in sources]
    shared = fp.shared_matrix(prints, k)  # shared[i, j]: chars of j also in i
    coverage = np.array([p.coverage for p in prints], dtype=float)
    is_ref = np.array([s.reference for s in sources], dtype=bool)

    n = len(sources)
    upper = np.triu(np.ones((n, n), dtype=bool), 1) & ~(is_ref[:, None] & is_ref[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        sim = np.where(coverage[None, :] > 0, shared / coverage[None, :], 0.0)  # sim[i, j]: share of j in i
    sim = np.minimum(sim, 1.0)
    larger = np.maximum(sim, sim.T)
    listed = upper & (larger >= settings.listed) & (larger > 0)
    pairs = []
    for i, j in zip(*np.nonzero(listed)):
        a, b = (sources[i], sources[j]) if not sources[i].reference else (sources[j], sources[i])
        ia, ib = (i, j) if a is sources[i] else (j, i)
        matched = int(shared[ib, ia])
        sim_a, sim_b = float(sim[ib, ia]), float(sim[ia, ib])
        flagged = max(sim_a, sim_b) >= settings.threshold and min(matched, int(shared[ia, ib])) >= settings.min_matched
        pairs.append(Pair(a, b, sim_a, sim_b, matched, flagged))
    pairs.sort(key=lambda p: (-p.flagged, -p.similarity, -p.matched, p.a.name, p.b.name))
    return Report(topic, settings, sources, pairs, clusters(pairs), list(notes or []),
                  compared=int(upper.sum()), seconds=time.perf_counter() - started)


def highlight(pair: Pair, settings: Settings) -> Pair:
    """Fill in the pair's matched regions (computed only for the pairs a page shows)."""
    if not pair.regions_a and pair.a.print is not None and pair.b.print is not None:
        pair.regions_a, pair.regions_b = _fingerprints().regions(pair.a.print, pair.b.print, settings.kgram)
    return pair


def clusters(pairs: list[Pair]) -> list[list[str]]:
    """Groups of three or more sources linked by flagged pairs (two students sharing a third's code)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p in pairs:
        if p.flagged:
            parent[find(p.a.name)] = find(p.b.name)
    groups: dict[str, list[str]] = {}
    for name in parent:
        groups.setdefault(find(name), []).append(name)
    return sorted((sorted(g) for g in groups.values() if len(g) >= 3), key=lambda g: (-len(g), g))


def compare_folder(topic: str, submissions: Path, *, references: Sequence[Path] = (), settings: Settings | None = None,
                   include_solution: bool = False) -> Report:
    """Compare the submissions of ``topic`` in ``submissions/<student_id>/`` (and the references)."""
    starter = starter_code(topic)
    sources, notes = student_sources(submissions, topic)
    for folder in references:
        more, more_notes = reference_sources(Path(folder), topic)
        sources += more
        notes += more_notes
    if include_solution:
        from autograder.build import SOLUTIONS

        sources.append(Source("instructor/solution", (SOLUTIONS / f"{topic}.py").read_text(encoding="utf-8"),
                              reference=True, origin=f"solutions/{topic}.py"))
    return compare(topic, sources, settings, starter=starter, notes=notes)
