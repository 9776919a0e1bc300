"""`deepgrade quiz build`: a spec and a roster in, every requested format out, all or nothing.

A format that cannot hold a question type (GIFT and Canvas QTI 1.2 have no ordering questions) is
written without those questions and the build warns, naming the format and the question; with
strict=True (`--strict`) that is an error instead and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .assemble import BuiltQuiz, assemble
from .errors import QuizError
from .exports.gift import write_gift
from .exports.html import write_html
from .exports.key import write_key
from .exports.lms import skipped_questions
from .exports.markdown import write_markdown
from .exports.moodle import write_moodle
from .exports.qti import write_qti
from .fsutil import atomic_dir
from .material import use_material

WRITERS: dict[str, Callable[[BuiltQuiz, Path], list[Path]]] = {
    "html": write_html,
    "md": write_markdown,
    "moodle": write_moodle,
    "gift": write_gift,
    "qti": write_qti,
    "key": write_key,
}
ALL_FORMATS = tuple(WRITERS)  # the default: everything that needs nothing but Python


def _write_pdf(quiz: BuiltQuiz, dest: Path) -> list[Path]:
    from .exports.pdf import write_pdf  # late: only a PDF build needs Chromium

    return write_pdf(quiz, dest)


WRITERS["pdf"] = _write_pdf  # printed papers, A4 and Letter (needs Chromium; see exports/pdf.py)
KNOWN_FORMATS = tuple(WRITERS)


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote."""

    out: Path
    quiz: BuiltQuiz
    files: dict[str, list[Path]]
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        """A few lines for the terminal."""
        n_q = len(self.quiz.questions)
        lines = [f"built {len(self.quiz.students)} quiz(zes) x {n_q} questions "
                 f"({self.quiz.total_points:g} points) into {self.out}"]
        for fmt, paths in self.files.items():
            shown = ", ".join(str(p.relative_to(self.out)) for p in paths[:2])
            more = f" (+{len(paths) - 2} more)" if len(paths) > 2 else ""
            lines.append(f"  {fmt:<7} {shown}{more}")
        return "\n".join(lines)


def parse_formats(formats: str | Iterable[str]) -> list[str]:
    """'html,md' → ['html', 'md']; unknown names are an error listing the known ones."""
    names = [f.strip().lower() for f in (formats.split(",") if isinstance(formats, str) else formats)]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in WRITERS]
    if unknown or not names:
        raise QuizError(f"unknown format {unknown[0] if unknown else ''!r}; choose from {','.join(KNOWN_FORMATS)}")
    return list(dict.fromkeys(names))


def write_formats(quiz: BuiltQuiz, out: Path, formats: Iterable[str] = ALL_FORMATS) -> dict[str, list[Path]]:
    """Write the formats of an assembled quiz into out (atomically: all of them or nothing)."""
    files: dict[str, list[Path]] = {}
    with atomic_dir(out, "build") as tmp:
        for fmt in parse_formats(list(formats)):
            files[fmt] = [Path(p).relative_to(tmp) for p in WRITERS[fmt](quiz, tmp / fmt)]
    out = Path(out).resolve()
    return {fmt: [out / p for p in paths] for fmt, paths in files.items()}


def format_warnings(quiz: BuiltQuiz, formats: Iterable[str]) -> list[str]:
    """One line per (format, question) that the format leaves out, e.g. an ordering question in GIFT."""
    return [f"{reason}: {fmt}/ is written without question {qid!r}"
            for fmt in formats for qid, reason in skipped_questions(quiz, fmt)]


def build_quiz(spec: str | Path, out: str | Path, roster: str | Path | None = None, variants: int | None = None,
               formats: str | Iterable[str] = ALL_FORMATS, strict: bool = False,
               material: str | Path | None = None) -> BuildResult:
    """Assemble a quiz from a spec and a roster (or N anonymous variants) and write the formats.

    A question a format cannot hold is left out of that format with a warning; strict makes it an error.
    material is a course-material file whose [documents] rename the course documents quiz text
    mentions ({{ doc.lecture }}); None keeps the shipped names.
    """
    wanted = parse_formats(formats)
    use_material(material)
    try:
        quiz = assemble(spec, roster=roster, variants=variants)
    finally:
        if material is not None:
            use_material(None)  # the next build in this process starts from the shipped names again
    warnings = format_warnings(quiz, wanted)
    if strict and warnings:
        more = f" (and {len(warnings) - 1} more)" if len(warnings) > 1 else ""
        raise QuizError(f"--strict: {warnings[0]}{more}; leave out the format or the question, "
                        "or build without --strict")
    files = write_formats(quiz, Path(out), wanted)
    return BuildResult(Path(out).resolve(), quiz, files, tuple(warnings))
