"""`deepgrade quiz build`: a spec and a roster in, every requested format out, all or nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .assemble import BuiltQuiz, assemble
from .errors import QuizError
from .exports.gift import write_gift
from .exports.html import write_html
from .exports.key import write_key
from .exports.markdown import write_markdown
from .exports.moodle import write_moodle
from .exports.qti import write_qti
from .fsutil import atomic_dir

WRITERS: dict[str, Callable[[BuiltQuiz, Path], list[Path]]] = {
    "html": write_html,
    "md": write_markdown,
    "moodle": write_moodle,
    "gift": write_gift,
    "qti": write_qti,
    "key": write_key,
}
ALL_FORMATS = tuple(WRITERS)


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote."""

    out: Path
    quiz: BuiltQuiz
    files: dict[str, list[Path]]

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
        raise QuizError(f"unknown format {unknown[0] if unknown else ''!r}; choose from {','.join(ALL_FORMATS)}")
    return list(dict.fromkeys(names))


def write_formats(quiz: BuiltQuiz, out: Path, formats: Iterable[str] = ALL_FORMATS) -> dict[str, list[Path]]:
    """Write the formats of an assembled quiz into out (atomically: all of them or nothing)."""
    files: dict[str, list[Path]] = {}
    with atomic_dir(out, "build") as tmp:
        for fmt in parse_formats(list(formats)):
            files[fmt] = [Path(p).relative_to(tmp) for p in WRITERS[fmt](quiz, tmp / fmt)]
    out = Path(out).resolve()
    return {fmt: [out / p for p in paths] for fmt, paths in files.items()}


def build_quiz(spec: str | Path, out: str | Path, roster: str | Path | None = None, variants: int | None = None,
               formats: str | Iterable[str] = ALL_FORMATS) -> BuildResult:
    """Assemble a quiz from a spec and a roster (or N anonymous variants) and write the formats."""
    wanted = parse_formats(formats)
    quiz = assemble(spec, roster=roster, variants=variants)
    files = write_formats(quiz, Path(out), wanted)
    return BuildResult(Path(out).resolve(), quiz, files)
