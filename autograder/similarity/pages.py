"""The similarity report as files: index.html (ranked pairs, clusters), one side-by-side page per
flagged pair, similarity.json and similarity.csv.

Pages come from deepgrade's own templates with autoescaping on: student code is data, never
markup. Every page is self-contained (no scripts, no external files).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from pathlib import Path

from autograder.render import render
from autograder.results import atomic_write, csv_cell
from autograder.similarity.detect import Pair, Report, highlight

MAX_PAGES = 300  # side-by-side pages per report: more flagged pairs than this is a class-wide pattern
COLOURS = 6  # block colours cycle; neighbouring blocks never share one


def line_segments(text: str, regions: list[tuple[int, int, int]]) -> list[list[tuple[str, int | None]]]:
    """The text as lines of (piece, block or None): what the side-by-side page highlights."""
    marks: list[int | None] = [None] * len(text)
    for start, end, block in regions:
        for i in range(max(0, start), min(len(text), end)):
            marks[i] = block
    lines: list[list[tuple[str, int | None]]] = [[]]
    piece, current = "", None
    for ch, mark in zip(text, marks):
        if ch == "\n":
            if piece:
                lines[-1].append((piece, current))
            lines.append([])
            piece, current = "", mark
            continue
        if mark != current and piece:
            lines[-1].append((piece, current))
            piece = ""
        piece += ch
        current = mark
    if piece:
        lines[-1].append((piece, current))
    if text.endswith("\n"):
        lines.pop()
    return lines


def block_lines(text: str, regions: list[tuple[int, int, int]]) -> dict[int, tuple[int, int]]:
    """block -> (first line, last line), 1-based, over every region of that block."""
    out: dict[int, tuple[int, int]] = {}
    for start, end, block in regions:
        first = text.count("\n", 0, max(0, start)) + 1
        last = text.count("\n", 0, max(start, end - 1)) + 1
        lo, hi = out.get(block, (first, last))
        out[block] = (min(lo, first), max(hi, last))
    return out


def pair_context(report: Report, pair: Pair) -> dict:
    """What a side-by-side page shows."""
    lines_a, lines_b = block_lines(pair.a.text, pair.regions_a), block_lines(pair.b.text, pair.regions_b)
    blocks = [{"n": n, "colour": n % COLOURS, "a": lines_a.get(n), "b": lines_b.get(n)}
              for n in sorted(set(lines_a) | set(lines_b))]
    return {"report": report, "pair": pair, "blocks": blocks, "colours": COLOURS,
            "left": line_segments(pair.a.text, pair.regions_a), "right": line_segments(pair.b.text, pair.regions_b)}


def pair_row(pair: Pair, page: str | None) -> dict:
    """One pair for JSON and CSV."""
    return {"a": pair.a.name, "b": pair.b.name, "a_reference": pair.a.reference, "b_reference": pair.b.reference,
            "similarity_a": round(pair.similarity_a, 4), "similarity_b": round(pair.similarity_b, 4),
            "matched_tokens": pair.matched, "flagged": pair.flagged, "page": page}


def summary(report: Report, pages: dict[str, str] | None = None) -> dict:
    """The report as plain data (what --json prints and similarity.json holds)."""
    pages = pages or {}
    s = report.settings
    return {
        "topic": report.topic,
        "students": report.students,
        "references": len(report.sources) - report.students,
        "pairs_compared": report.compared,
        "flagged": len(report.flagged),
        "settings": {"threshold": s.threshold, "min_matched": s.min_matched, "kgram": s.kgram, "window": s.window,
                     "listed": s.listed},
        "pairs": [pair_row(p, pages.get(p.slug)) for p in report.pairs],
        "clusters": report.clusters,
        "notes": report.notes,
        "seconds": round(report.seconds, 3),
    }


def write_report(report: Report, out: Path, *, title: str | None = None, now: datetime | None = None,
                 max_pages: int = MAX_PAGES, inputs: str = "") -> Path:
    """Write index.html, pairs/*.html, similarity.json and similarity.csv into ``out``; return index.html.

    Side-by-side pages are written for the ``max_pages`` most similar flagged pairs;
    ``inputs`` (a digest of what was compared) is kept in similarity.json to reuse it.
    """
    out = Path(out)
    now = now or datetime.now(timezone.utc)
    pages: dict[str, str] = {}
    for pair in report.flagged[:max_pages]:
        highlight(pair, report.settings)
        rel = f"pairs/{pair.slug}.html"
        atomic_write(out / rel, render("similarity_pair.html", **pair_context(report, pair)))
        pages[pair.slug] = rel
    data = summary(report, pages)
    if inputs:
        data["inputs"] = inputs
    atomic_write(out / "similarity.json", json.dumps(data, indent=2) + "\n")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(pair_row(report.pairs[0], None)) if report.pairs else
                            ["a", "b", "a_reference", "b_reference", "similarity_a", "similarity_b",
                             "matched_tokens", "flagged", "page"], lineterminator="\n")
    writer.writeheader()
    # Student ids are text a spreadsheet could run: neutralized like every CSV deepgrade writes.
    writer.writerows({k: csv_cell(v) for k, v in pair_row(p, pages.get(p.slug)).items()} for p in report.pairs)
    atomic_write(out / "similarity.csv", buf.getvalue())
    index = out / "index.html"
    atomic_write(index, render("similarity.html", report=report, pages=pages, title=title or report.topic,
                               unpaged=max(0, len(report.flagged) - max_pages),
                               generated=now.strftime("%Y-%m-%d %H:%M %Z")))
    return index

