"""`deepgrade quiz build --format pdf`: papers printed by headless Chromium, checked page by page."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner
from quiz_helpers import write

from quizzes.cli import quiz as quiz_cli
from quizzes.exports.pdf import page_css, student_header
from quizzes.model import StudentQuiz

pypdf = pytest.importorskip("pypdf", reason="PDF export needs the pdf extra (pypdf)")
needs_chromium = pytest.mark.skipif(not any(shutil.which(b) for b in ("chromium", "chromium-browser",
                                                                       "google-chrome")),
                                    reason="PDF export prints with Chromium")

A4 = (595.0, 842.0)
LETTER = (612.0, 792.0)


def test_print_layer_puts_name_and_id_on_every_page_but_the_first():
    s = StudentQuiz("s1001", 'Ada "the first" Lovelace', "AB12CD", ())
    css = str(page_css("A4", student_header(s), "Quiz · paper AB12CD"))
    assert "size: A4" in css and 'counter(page) " of " counter(pages)' in css
    assert 'Name: Ada \\"the first\\" Lovelace   ID: s1001   Code: AB12CD' in css  # quotes escaped for CSS
    assert "@page :first { @top-right { content: none" in css
    assert "Name: ______________________" in student_header(StudentQuiz("V001", "", "X", ()))


@needs_chromium
@pytest.mark.slow
def test_pdf_papers_a4_and_letter(tmp_path):
    spec = write(tmp_path / "spec.yaml", """\
title: PDF quiz
seed: 3
draw:
  - {ids: [norm-bn-forward-order, health-finding-remedy-match, code-clip-by-norm, code-sigmoid-derivative,
           norm-statistics-match, code-batchnorm-normalize, act-relu-prevents, code-layernorm-axis]}
""")
    roster = write(tmp_path / "roster.csv", "student_id,name\ns1,Ada Lovelace\ns2,\n")
    result = CliRunner().invoke(quiz_cli, ["build", str(spec), "--roster", str(roster), "--out",
                                           str(tmp_path / "out"), "--format", "pdf,key"])
    assert result.exit_code == 0, result.output
    pdf = tmp_path / "out" / "pdf"
    for folder, size in (("a4", A4), ("letter", LETTER)):
        papers = {}
        for sid in ("s1", "s2"):
            reader = pypdf.PdfReader(pdf / folder / "students" / f"{sid}.pdf")
            texts = [p.extract_text() for p in reader.pages]
            assert len(texts) >= 2, "the sample is long enough for a second page"
            for i, (page, text) in enumerate(zip(reader.pages, texts, strict=True), start=1):
                assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx(size, abs=1)
                assert f"Page {i} of {len(texts)}" in text
                # the first page has the big name/ID box, every later one the header box
                assert "Student ID" in text if i == 1 else f"ID: {sid}" in text
            papers[sid] = texts
        assert "Name: Ada Lovelace" in papers["s1"][1] and "Name: ______" in papers["s2"][1]
        combined = pypdf.PdfReader(pdf / folder / "all_students.pdf")
        assert len(combined.pages) == len(papers["s1"]) + len(papers["s2"])
        # each paper keeps its own page numbers in the combined file
        assert f"Page 1 of {len(papers['s2'])}" in combined.pages[len(papers["s1"])].extract_text()
        key = pypdf.PdfReader(pdf / folder / "answer_key.pdf")
        key_text = "".join(p.extract_text() for p in key.pages)
        assert "ANSWER KEY" in key_text and "norm-bn-forward-order" in key_text and "Page 1 of" in key_text


def test_pdf_without_chromium_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPGRADE_CHROMIUM", str(tmp_path / "no-such-browser"))
    spec = write(tmp_path / "spec.yaml", "title: T\nseed: 1\ndraw:\n  - {ids: [act-relu-prevents]}\n")
    result = CliRunner().invoke(quiz_cli, ["build", str(spec), "--variants", "1", "--out", str(tmp_path / "o"),
                                           "--format", "pdf"])
    assert result.exit_code == 1
    assert "DEEPGRADE_CHROMIUM" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()
