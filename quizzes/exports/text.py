"""Turning bank text into each format's markup.

Bank text is plain Unicode (σ′(z) ≤ 0.25, 10⁻⁶, √) with `backticks` for code and blank
lines between paragraphs; single newlines inside a paragraph are soft wraps. Unicode
math reads well everywhere without MathJax, so each format only needs escaping. A block
fenced by ``` lines (a code-output question's snippet) is kept verbatim, line by line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from html import escape

from markupsafe import Markup

from ..model import Variant

_CODE = re.compile(r"`([^`]+)`")
_FENCE = re.compile(r"^```[^\n]*\n(.*?)\n```[ \t]*$", re.DOTALL | re.MULTILINE)


def blocks(text: str) -> list[tuple[bool, str]]:
    """(is_code, content) per block: prose paragraphs (soft wraps joined) and fenced code kept verbatim."""
    out: list[tuple[bool, str]] = []
    last = 0
    for m in _FENCE.finditer(text):
        out += [(False, p) for p in paragraphs(text[last:m.start()])]
        out.append((True, m.group(1)))
        last = m.end()
    out += [(False, p) for p in paragraphs(text[last:])]
    return out


def paragraphs(text: str) -> list[str]:
    """Paragraphs of prose: split at blank lines, soft wraps joined with spaces."""
    return [" ".join(block.split()) for block in re.split(r"\n\s*\n", text.strip()) if block.strip()]


@lru_cache(maxsize=65536)
def html_inline(text: str) -> Markup:
    """One paragraph as safe HTML: escaped, `code` spans as <code>."""
    out, last = [], 0
    for m in _CODE.finditer(text):
        out.append(escape(text[last:m.start()], quote=False))
        out.append(f"<code>{escape(m.group(1), quote=False)}</code>")
        last = m.end()
    out.append(escape(text[last:], quote=False))
    return Markup("".join(out))


@lru_cache(maxsize=65536)
def html_block(text: str) -> Markup:
    """Text as HTML paragraphs (cached: the same stems and explanations recur across students)."""
    return Markup("".join(f'<pre class="code"><code>{escape(p, quote=False)}</code></pre>' if code
                          else f"<p>{html_inline(p)}</p>" for code, p in blocks(text)))


# Markdown specials that would change the text: backslashes, asterisks, underscores at word edges
# (intraword ones like fan_in are literal in CommonMark and Markdown Extra), '<' that could open a
# tag, and '[' that could open a link. '|' matters only inside table cells.
_MD_SPECIAL = re.compile(r"\\|\*|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|<(?=[A-Za-z/!])|\[")
_MD_TABLE = re.compile(r"\|")


def _md_escape(text: str, table: bool) -> str:
    text = _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), text)
    return _MD_TABLE.sub(r"\|", text) if table else text


def md_inline(text: str, table: bool = False) -> str:
    """One paragraph as Markdown: specials escaped outside `code` spans (σ and friends pass through).

    With table=True, '|' is escaped too, for use inside a table cell.
    """
    out, last = [], 0
    for m in _CODE.finditer(text):
        out.append(_md_escape(text[last:m.start()], table))
        out.append(m.group(0))
        last = m.end()
    out.append(_md_escape(text[last:], table))
    return "".join(out)


@lru_cache(maxsize=65536)
def md_block(text: str) -> str:
    """Text as Markdown paragraphs (cached); code as an indented block, which every Markdown reads."""
    return "\n\n".join("\n".join("    " + line for line in p.splitlines()) if code else md_inline(p)
                       for code, p in blocks(text))


def plain(text: str) -> str:
    """Text as one plain line per paragraph, backticks dropped (CSV cells, titles)."""
    return " ".join(" ".join(p.split()) if code else p.replace("`", "") for code, p in blocks(text))


def lms_variants(variants: Iterable[Variant]) -> dict[str, list[Variant]]:
    """Distinct variants per question id, in order of first appearance.

    LMS exports hold content variants only: option order is left to the LMS's own shuffling.
    """
    out: dict[str, dict[str, Variant]] = {}
    for v in variants:
        out.setdefault(v.qid, {}).setdefault(v.vid, v)
    return {qid: list(vs.values()) for qid, vs in out.items()}
