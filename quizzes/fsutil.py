"""Writing output folders all at once: build in a temporary sibling, then rename into place."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import QuizError

MARKER = ".deepgrade-quiz"


@contextlib.contextmanager
def atomic_dir(out: Path, kind: str) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces `out`, on error it is removed.

    An existing `out` is replaced only if it is empty or was written by us (it holds the
    marker file), so a mistyped --out never wipes an unrelated folder.
    """
    out = Path(out).resolve()
    if out.exists():
        if not out.is_dir():
            raise QuizError(f"{out} exists and is not a folder")
        if any(out.iterdir()) and not (out / MARKER).exists():
            raise QuizError(f"refusing to overwrite {out}: it is not empty and was not written by deepgrade quiz; "
                            "choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
        (tmp / MARKER).write_text(f"{kind}\n", encoding="utf-8")
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            old.rmdir()
            out.rename(old)
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
