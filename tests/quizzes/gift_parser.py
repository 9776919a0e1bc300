"""A strict GIFT parser for the tests: reads our GIFT export back and fails on anything ambiguous.

The PyPI candidates (pygiftparser, gift) are unmaintained since 2017, so the tests carry their
own. It follows Moodle's qformat_gift rules: `\\` escapes one of ~ = # { } : n or a backslash;
a blank line ends a question; `::name::` starts it; `{...}` holds the answers; `####` starts
the general feedback; `%w%` is a weight; `#` separates an answer from its feedback; TRUE/FALSE
answers are `{TRUE#wrong feedback#right feedback}`. Being strict, it also rejects unescaped
specials in places where Moodle would silently guess (a ':' or '=' in question text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SPECIALS = set("~=#{}:")
ESCAPES = {"~": "~", "=": "=", "#": "#", "{": "{", "}": "}", ":": ":", "n": "\n", "\\": "\\"}


class GiftError(ValueError):
    """The text is not valid (strict) GIFT."""


@dataclass
class Answer:
    weight: float
    text: str
    feedback: str


@dataclass
class GiftQuestion:
    category: str
    name: str
    text_format: str
    text: str
    kind: str  # choice | truefalse | numeric
    answers: list[Answer] = field(default_factory=list)
    numeric: list[tuple[float, float, float, str]] = field(default_factory=list)  # weight, value, tol, feedback
    truth: bool | None = None
    tf_feedback: tuple[str, str] = ("", "")
    general_feedback: str = ""


def _tokens(text: str) -> list[tuple[str, bool]]:
    """(char, is_special) pairs; escaped characters are never special."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text) or text[i + 1] not in ESCAPES:
                raise GiftError(f"stray backslash before {text[i + 1:i + 2]!r}")
            out.append((ESCAPES[text[i + 1]], False))
            i += 2
            continue
        out.append((ch, ch in SPECIALS))
        i += 1
    return out


def _plain(tokens: list[tuple[str, bool]], where: str) -> str:
    for ch, special in tokens:
        if special:
            raise GiftError(f"unescaped {ch!r} in {where}")
    return "".join(ch for ch, _ in tokens)


def _split(tokens: list[tuple[str, bool]], sep: str) -> list[list[tuple[str, bool]]]:
    parts: list[list[tuple[str, bool]]] = [[]]
    for tok in tokens:
        if tok == (sep, True):
            parts.append([])
        else:
            parts[-1].append(tok)
    return parts


def _answer_body(tokens: list[tuple[str, bool]]) -> tuple[list[tuple[str, bool]], str]:
    """Split off the general feedback (####...)."""
    joined = "".join("\0" if (c == "#" and s) else "x" for c, s in tokens)
    pos = joined.find("\0\0\0\0")
    if pos < 0:
        return tokens, ""
    return tokens[:pos], _plain(tokens[pos + 4:], "general feedback").strip()


def parse_question(block: str, category: str) -> GiftQuestion:
    m = re.match(r"::(.*?)::", block, re.S)
    if not m:
        raise GiftError(f"question without ::name:: {block[:40]!r}")
    rest_tokens = _tokens(block[m.end():])
    name = _plain(_tokens(m.group(1)), "name")
    fmt = ""
    text_so_far = "".join(c for c, _ in rest_tokens[:12])
    fm = re.match(r"\[(markdown|html|plain|moodle)\]", text_so_far)
    if fm:
        fmt = fm.group(1)
        rest_tokens = rest_tokens[fm.end():]
    opens = [i for i, t in enumerate(rest_tokens) if t == ("{", True)]
    closes = [i for i, t in enumerate(rest_tokens) if t == ("}", True)]
    if len(opens) != 1 or len(closes) != 1 or closes[0] < opens[0]:
        raise GiftError(f"{name}: need exactly one unescaped {{...}} answer block")
    if closes[0] != len(rest_tokens) - 1 and _plain(rest_tokens[closes[0] + 1:], "tail").strip():
        raise GiftError(f"{name}: text after the answer block")
    text = _plain(rest_tokens[:opens[0]], f"{name} question text")
    body, general = _answer_body(rest_tokens[opens[0] + 1:closes[0]])
    q = GiftQuestion(category, name, fmt, text, "choice", general_feedback=general)
    raw = "".join(c for c, _ in body).strip()
    lead = next((i for i, t in enumerate(body) if t[0].strip()), None)
    if lead is not None and body[lead] == ("#", True):
        q.kind = "numeric"
        entries = _split(body[lead + 1:], "=")
        if "".join(c for c, _ in entries[0]).strip():
            raise GiftError(f"{name}: numeric answers must start with '='")
        for entry in entries[1:]:
            weight = 100.0
            chars = "".join(c for c, _ in entry)
            wm = re.match(r"%(-?[\d.]+)%", chars)
            if wm:
                weight, entry = float(wm.group(1)), entry[wm.end():]
            value_part, *fb = _split(entry, "#")
            if len(fb) > 1:
                raise GiftError(f"{name}: two feedbacks in one numeric answer")
            vt = _split(value_part, ":")
            if len(vt) != 2:
                raise GiftError(f"{name}: numeric answer needs value:tolerance")
            value, tol = float(_plain(vt[0], "value")), float(_plain(vt[1], "tolerance"))
            q.numeric.append((weight, value, tol, _plain(fb[0], "feedback").strip() if fb else ""))
        return q
    word = raw.split("#")[0].strip()
    if word in ("TRUE", "FALSE", "T", "F"):
        q.kind = "truefalse"
        parts = _split(body, "#")
        q.truth = word in ("TRUE", "T")
        fbs = [_plain(p, "feedback").strip() for p in parts[1:]]
        q.tf_feedback = (fbs[0] if fbs else "", fbs[1] if len(fbs) > 1 else "")
        return q
    current: list[tuple[str, bool]] | None = None
    marks: list[tuple[str, list[tuple[str, bool]]]] = []
    for tok in body:
        if tok in (("=", True), ("~", True)):
            current = []
            marks.append((tok[0], current))
        elif current is None:
            if tok[0].strip():
                raise GiftError(f"{name}: text before the first answer")
        else:
            current.append(tok)
    if not marks:
        raise GiftError(f"{name}: no answers")
    for mark, entry in marks:
        chars = "".join(c for c, _ in entry)
        weight = 100.0 if mark == "=" else 0.0
        wm = re.match(r"%(-?[\d.]+)%", chars)
        if wm:
            weight, entry = float(wm.group(1)), entry[wm.end():]
        text_part, *fb = _split(entry, "#")
        if len(fb) > 1:
            raise GiftError(f"{name}: two feedbacks in one answer")
        q.answers.append(Answer(weight, _plain(text_part, "answer").strip(),
                                _plain(fb[0], "feedback").strip() if fb else ""))
    return q


def parse_gift(document: str) -> list[GiftQuestion]:
    """Parse a whole GIFT file."""
    questions, category = [], ""
    for block in re.split(r"\n[ \t]*\n", document.strip()):
        lines = [ln for ln in block.splitlines() if not ln.lstrip().startswith("//")]
        if not lines:
            continue
        if lines[0].startswith("$CATEGORY:"):
            if len(lines) != 1:
                raise GiftError("a $CATEGORY line must stand alone")
            category = lines[0][len("$CATEGORY:"):].strip()
            continue
        questions.append(parse_question("\n".join(lines), category))
    return questions
