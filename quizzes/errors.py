"""One error type for everything a user can get wrong: a bank, a spec, a roster, a responses file."""

from __future__ import annotations

from pathlib import Path


class QuizError(ValueError):
    """A user-facing error that names where the problem is: file, line, question id."""

    def __init__(self, message: str, *, file: str | Path | None = None, line: int | None = None,
                 qid: str | None = None) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.qid = qid
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        elif self.line:
            where = f"line {self.line}: "
        who = f"question {self.qid!r}: " if self.qid else ""
        return f"{where}{who}{self.message}"
