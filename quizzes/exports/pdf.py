"""PDF export: the HTML papers printed by headless Chromium, for A4 and for US Letter.

pdf/<size>/students/<id>.pdf   one paper per student
pdf/<size>/all_students.pdf    every paper in one file, each starting on a new page
pdf/<size>/answer_key.pdf      the answer key, on its own

The pages are the ones the HTML export renders (same templates), with a print layer on top:
the paper size, a name/ID box in the top margin of every page after the first (the first page
has the big one), the quiz title and paper code in the bottom margin, and "page i of n"
counted per paper. CSS @page margin boxes do this, which Chromium supports since version 131.
The combined file is the per-student PDFs joined with pypdf, so every paper keeps its own
header and page numbers.

Printing uses Playwright driving the system's Chromium (one browser for the whole build) when
Playwright is installed, else `chromium --headless --print-to-pdf` per page. The browser is
found from $DEEPGRADE_CHROMIUM or as chromium / chromium-browser / google-chrome on PATH.
Install the Python side with `pip install 'deepgrade[pdf]'`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from markupsafe import Markup

from ..assemble import BuiltQuiz
from ..errors import QuizError
from ..model import StudentQuiz
from ..templating import render
from .common import answer_text, safe_name

PAPER_SIZES = {"a4": "A4", "letter": "letter"}  # folder name -> CSS @page size
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PRINT_TIMEOUT = 120.0  # seconds for one page; a first Chromium start on a busy machine can be slow


def _css_string(text: str) -> str:
    """text as a CSS string literal (margin-box content)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def page_css(size: str, header: str, footer: str) -> Markup:
    """The print layer: paper size, a name/ID box atop every page but the first, footer and page i of n."""
    return Markup(f"""
  @page {{ size: {size}; margin: 20mm 14mm 16mm;
    @top-right {{ content: {_css_string(header)}; font: 9pt "DejaVu Sans", sans-serif; color: #1d2330;
                 width: 120mm; height: 8mm; margin: 7mm 0 3mm; padding: 0 3mm; border: 1px solid #1d2330;
                 border-radius: 3px; white-space: pre; vertical-align: middle; text-align: left; }}
    @bottom-left {{ content: {_css_string(footer)}; font: 8pt "DejaVu Sans", sans-serif; color: #5b6475; }}
    @bottom-right {{ content: "Page " counter(page) " of " counter(pages); font: 8pt "DejaVu Sans", sans-serif;
                    color: #5b6475; }}
  }}
  @page :first {{ @top-right {{ content: none; border: none; }} }}
""")


def key_css(size: str, footer: str) -> Markup:
    """The answer key's print layer: paper size, a confidential banner, page i of n."""
    return Markup(f"""
  @page {{ size: {size}; margin: 16mm 14mm 16mm;
    @top-right {{ content: "ANSWER KEY: do not distribute"; font: 700 9pt "DejaVu Sans", sans-serif;
                 color: #b3261e; }}
    @bottom-left {{ content: {_css_string(footer)}; font: 8pt "DejaVu Sans", sans-serif; color: #5b6475; }}
    @bottom-right {{ content: "Page " counter(page) " of " counter(pages); font: 8pt "DejaVu Sans", sans-serif;
                    color: #5b6475; }}
  }}
""")


def student_header(s: StudentQuiz) -> str:
    """The name/ID box of one paper: the roster's name, or a line to write it on."""
    name = s.name or "_" * 22
    return f"Name: {name}   ID: {s.student_id}   Code: {s.code}"


class _Printer(Protocol):
    def print(self, html: str, out: Path) -> None: ...


class _PlaywrightPrinter:
    """One Chromium for the whole build, driven through Playwright."""

    def __init__(self, browser_path: str) -> None:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        except Exception:
            self._pw.stop()
            raise
        self._page = self._browser.new_page()

    def print(self, html: str, out: Path) -> None:
        self._page.set_content(html, wait_until="load", timeout=PRINT_TIMEOUT * 1000)
        self._page.pdf(path=str(out), prefer_css_page_size=True, print_background=True)

    def close(self) -> None:
        self._browser.close()
        self._pw.stop()


class _CommandLinePrinter:
    """chromium --headless --print-to-pdf, one process per page (no Playwright)."""

    def __init__(self, browser_path: str) -> None:
        self.browser = browser_path

    def print(self, html: str, out: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="deepgrade-pdf-") as tmp:
            page = Path(tmp) / "page.html"
            page.write_text(html, encoding="utf-8")
            cmd = [self.browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                   f"--user-data-dir={tmp}/profile", f"--print-to-pdf={out}", page.as_uri()]
            try:
                subprocess.run(cmd, capture_output=True, timeout=PRINT_TIMEOUT, check=False)
            except subprocess.TimeoutExpired:
                raise QuizError(f"Chromium did not print {out.name} within {PRINT_TIMEOUT:g} s") from None
        if not out.is_file() or out.stat().st_size == 0:
            raise QuizError(f"Chromium ({self.browser}) did not write {out.name}")

    def close(self) -> None:
        pass


def find_browser() -> str:
    """The Chromium to print with, or a QuizError saying how to get one."""
    wanted = os.environ.get("DEEPGRADE_CHROMIUM")
    if wanted:
        if not Path(wanted).is_file():
            raise QuizError(f"DEEPGRADE_CHROMIUM={wanted} is not a file")
        return wanted
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise QuizError("PDF export needs Chromium (apt-get install chromium), or set DEEPGRADE_CHROMIUM "
                    "to a Chrome/Chromium executable")


@contextmanager
def printer() -> Iterator[_Printer]:
    """A PDF printer for the build: Playwright when installed, else the Chromium command line."""
    browser = find_browser()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        chosen: _Printer = _CommandLinePrinter(browser)
    else:
        try:
            chosen = _PlaywrightPrinter(browser)
        except Exception as exc:  # a browser Playwright cannot drive: fall back, still one clear path
            if "Executable doesn't exist" in str(exc):
                raise QuizError(f"cannot start {browser} for PDF export: {exc}") from exc
            chosen = _CommandLinePrinter(browser)
    try:
        yield chosen
    finally:
        chosen.close()


def _merge(parts: list[Path], out: Path) -> None:
    try:
        from pypdf import PdfWriter
    except ImportError:
        raise QuizError("PDF export needs pypdf: pip install 'deepgrade[pdf]'") from None
    writer = PdfWriter()
    for part in parts:
        writer.append(str(part))
    with out.open("wb") as fh:
        writer.write(fh)


def write_pdf(quiz: BuiltQuiz, dest: Path) -> list[Path]:
    """Write pdf/a4/ and pdf/letter/: each student's paper, all papers in one file, the answer key."""
    try:
        import pypdf  # noqa: F401  - fail before printing anything
    except ImportError:
        raise QuizError("PDF export needs pypdf: pip install 'deepgrade[pdf]'") from None
    written: list[Path] = []
    sheets = [(s, Markup(render("_sheet.html.j2", spec=quiz.spec, s=s))) for s in quiz.students]
    footer = quiz.spec.title
    with printer() as pr:
        for folder, size in PAPER_SIZES.items():
            (dest / folder / "students").mkdir(parents=True, exist_ok=True)
            papers = []
            for s, sheet in sheets:
                html = render("quiz.html.j2", title=f"{quiz.spec.title} · {s.student_id}", sheets=[sheet],
                              page_css=page_css(size, student_header(s), f"{footer} · paper {s.code}"))
                path = dest / folder / "students" / f"{safe_name(s.student_id)}.pdf"
                pr.print(html, path)
                papers.append(path)
            combined = dest / folder / "all_students.pdf"
            _merge(papers, combined)
            key = dest / folder / "answer_key.pdf"
            pr.print(render("answer_key.html.j2", spec=quiz.spec, students=quiz.students, answer_text=answer_text,
                            page_css=key_css(size, f"{footer} · answer key")), key)
            written += [combined, key, *papers]
    return written


__all__ = ["PAPER_SIZES", "find_browser", "page_css", "write_pdf"]
