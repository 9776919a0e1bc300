"""Small helpers shared by the exporters."""

from __future__ import annotations

import re

from ..model import Item, Variant
from ..render import fmt_num

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """A student id as a file name: anything but letters, digits, '.', '_' and '-' becomes '_'."""
    name = _UNSAFE.sub("_", text).strip("._")
    return name or "student"


def tolerance_text(v: Variant) -> str:
    """The tolerance as a reader would say it: '±1%' or '±0.01'."""
    assert v.tolerance is not None
    if v.tolerance.kind == "rel":
        return f"±{v.tolerance.value * 100:g}%"
    return f"±{fmt_num(v.tolerance.value)}"


def answer_text(item: Item) -> str:
    """The right answer for a key: 'B' / 'A, C' with option text, or a number with its tolerance."""
    v = item.variant
    if v.type == "numeric":
        assert v.answer is not None
        return f"{fmt_num(v.answer)} ({tolerance_text(v)})"
    letters = item.correct_letters()
    if v.type in ("multiple", "ordering", "matching"):
        return letters.replace(",", ", ")
    text = " ".join(v.choices[item.order[ord(letters) - 65]].text.replace("`", "").split())
    return f"{letters}: {text}" if len(text) <= 40 else f"{letters}: {text[:36]}…"
