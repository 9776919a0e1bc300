"""`deepgrade similarity`: disguised copies are flagged, independent solutions and stub-only students
are not, references are compared against but not among themselves, notebooks count by their code
cells, and the pages escape student code and highlight the right lines."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("copydetect")

from autograder.gradebook import CourseError, Gradebook, grade_course, load_course  # noqa: E402
from autograder.grading import available_topics  # noqa: E402
from autograder.names import output_name  # noqa: E402
from autograder.reports.classreport import write_report as write_class_report  # noqa: E402
from autograder.similarity import Settings, SimilarityError, Source, compare, compare_folder  # noqa: E402
from autograder.similarity.fingerprints import fingerprint, normalize, shared_matrix, starter_hashes  # noqa: E402
from autograder.similarity.pages import write_report  # noqa: E402
from cli import main  # noqa: E402
from tests.conftest import ROOT, SAMPLES, SOLUTIONS  # noqa: E402
from tests.course_helpers import fake_grader, make_course, submit  # noqa: E402
from tests.similarity_cases import disguise, rename_identifiers, reorder_definitions, restyle_comments  # noqa: E402

EDITS = {"renamed": rename_identifiers, "reordered": reorder_definitions, "restyled": restyle_comments,
         "all three": disguise}


def alternatives(topic: str) -> dict[str, str]:
    """The graders' alternative correct implementations of ``topic`` (tests/test_grader_<topic>.py)."""
    import importlib

    module = importlib.import_module(f"tests.test_grader_{topic}")
    return dict(getattr(module, "ALTERNATIVES", None) or {"alternative": module.ALTERNATIVE})


def stub(topic: str) -> str:
    return (ROOT / "assignments" / topic / f"{topic}.py").read_text()


def reference(topic: str) -> str:
    return (SOLUTIONS / f"{topic}.py").read_text()


def write_class(folder: Path, topic: str, sources: dict[str, str]) -> Path:
    for student, text in sources.items():
        (folder / student).mkdir(parents=True, exist_ok=True)
        (folder / student / f"{topic}.py").write_text(text)
    return folder


def flagged(report) -> set[frozenset[str]]:
    return {frozenset((p.a.name, p.b.name)) for p in report.flagged}


# ---------------------------------------------------------------------------- planted copies


@pytest.mark.parametrize("topic", available_topics())
def test_disguised_copies_of_a_correct_solution_are_flagged(topic):
    """Renamed, reordered, restyled and all three: each copy is flagged with its original, high on
    both sides; nothing else in the class is."""
    original = next(iter(alternatives(topic).values()))
    sources = [Source("original", original), Source("reference", reference(topic))]
    sources += [Source(f"s-{s}", (SAMPLES / s / f"{topic}.py").read_text()) for s in ("ben", "chloe", "dev")]
    sources += [Source(label, edit(original, 11)) for label, edit in EDITS.items()]
    report = compare(topic, sources)
    pairs = {frozenset((p.a.name, p.b.name)): p for p in report.pairs}
    for label in EDITS:
        pair = pairs[frozenset(("original", label))]
        assert pair.flagged, f"{topic}: the {label} copy was not flagged ({pair.similarity_a:.2f})"
        assert min(pair.similarity_a, pair.similarity_b) >= 0.85
    copies = {"original", *EDITS}
    assert all(set(p) <= copies for p in flagged(report)), [tuple(p) for p in flagged(report) if not set(p) <= copies]


def inline_helper(original: str) -> str:
    """The clipping alternative with its `clip_by_global_norm` written out where clip_by_norm and the
    adaptive clipper call it (the function itself stays: the graders call it)."""
    inlined = original.replace(
        "def clip_by_norm(grad, max_norm):\n    return clip_by_global_norm([grad], max_norm)[0][0]",
        "def clip_by_norm(grad, max_norm):\n    total = float(np.sqrt(float((grad ** 2).sum())))\n"
        "    coef = min(1.0, max_norm / (total + 1e-6))\n    return grad * coef",
    ).replace('        _, n = clip_by_global_norm(grads, float("inf"))',
              "        n = float(np.sqrt(sum(float((g ** 2).sum()) for g in grads)))")
    assert inlined.count("clip_by_global_norm(") == original.count("clip_by_global_norm(") - 2
    return inlined


def test_a_copy_with_a_helper_inlined_is_still_flagged():
    original = alternatives("clipping")["torch_style_eps"]
    sources = [Source("original", original), Source("inlined", disguise(inline_helper(original), 5)),
               Source("reference", reference("clipping")), Source("other", alternatives("clipping")["deque_linalg"])]
    report = compare("clipping", sources)
    assert flagged(report) == {frozenset(("original", "inlined"))}
    assert min(report.flagged[0].similarity_a, report.flagged[0].similarity_b) >= 0.8


PURE_INLINE = {  # initialization's `_uniform(bound, shape, rng)` helper substituted into both callers
    "return _uniform(np.sqrt(6.0 / (fan_in + fan_out)), (fan_in, fan_out), rng)":
        "return (rng.random((fan_in, fan_out)) * 2.0 - 1.0) * np.sqrt(6.0 / (fan_in + fan_out))",
    "return _uniform(np.sqrt(6.0 / fan_in), (fan_in, fan_out), rng)":
        "return (rng.random((fan_in, fan_out)) * 2.0 - 1.0) * np.sqrt(6.0 / fan_in)",
    "def _uniform(bound, shape, rng):\n    return (rng.random(shape) * 2.0 - 1.0) * bound\n\n\n": "",
}


def test_inlining_a_helper_into_a_file_of_one_liners_still_ranks_the_pair_first():
    """The hard case: in initialization (five one-line functions) inlining the helper two of them call
    rewrites about 40% of the code, leaving the pair near the threshold; it is still listed first,
    well above every independent pair."""
    original = alternatives("initialization")["rng_random_and_standard_normal"]
    inlined = original
    for old, new in PURE_INLINE.items():
        assert old in inlined
        inlined = inlined.replace(old, new)
    sources = [Source("original", original), Source("inlined", rename_identifiers(inlined, 5)),
               Source("reference", reference("initialization")),
               Source("other", alternatives("initialization")["transposed_draws_and_reshape"])]
    sources += [Source(s, (SAMPLES / s / "initialization.py").read_text()) for s in ("ben", "chloe", "dev")]
    report = compare("initialization", sources)
    top = report.pairs[0]
    assert {top.a.name, top.b.name} == {"original", "inlined"} and top.similarity >= 0.5
    assert all(p.similarity < top.similarity - 0.1 for p in report.pairs[1:])


def test_three_students_sharing_one_source_form_a_cluster(tmp_path):
    topic = "optimizers"
    original = alternatives(topic)["alt_torch_style"]
    subs = write_class(tmp_path / "subs", topic, {
        "amy": original, "bo": disguise(original, 1), "cy": restyle_comments(reorder_definitions(original, 2), 2),
        "dee": reference(topic), "ed": alternatives(topic)["alt_in_place_state"],
        **{s: (SAMPLES / s / f"{topic}.py").read_text() for s in ("ben", "chloe", "dev")}})
    report = compare_folder(topic, subs)
    assert report.clusters == [["amy", "bo", "cy"]]
    assert flagged(report) == {frozenset(p) for p in (("amy", "bo"), ("amy", "cy"), ("bo", "cy"))}


# ---------------------------------------------------------------------------- what is not flagged


@pytest.mark.parametrize("topic", available_topics())
def test_independent_solutions_and_stub_only_students_are_not_flagged(topic):
    """The graders' alternative implementations and the sample class (written independently), plus
    two students who handed in the stub, with the reference solution as a compared-against source:
    no pair reaches the threshold."""
    sources = [Source(f"alt-{name}", text) for name, text in alternatives(topic).items()]
    sources += [Source(s, (SAMPLES / s / f"{topic}.py").read_text()) for s in ("ben", "chloe", "dev", "eve", "mallory")]
    sources += [Source("stub-only", stub(topic)), Source("stub-restyled", restyle_comments(stub(topic), 3))]
    sources.append(Source("solution", reference(topic), reference=True))
    report = compare(topic, sources)
    assert not report.flagged, [(p.a.name, p.b.name, round(p.similarity, 2)) for p in report.flagged]
    n = len(sources) - 1
    assert report.compared == n * (n - 1) // 2 + n  # every two students, and each with the solution
    # The margin the defaults were chosen with (bench/bench_similarity.py --calibrate).
    assert max((p.similarity for p in report.pairs), default=0) < 0.55


OBVIOUS = {
    "clip_by_value": "return [np.clip(g, -clip_value, clip_value) for g in grads]",
    "clip_by_norm": "norm = np.linalg.norm(grad)\n    if norm > max_norm:\n        return grad * (max_norm / norm)\n"
                    "    return grad.copy()",
}


def fill(text: str, bodies: dict[str, str]) -> str:
    for name, body in bodies.items():
        text = text.replace(f'raise NotImplementedError("{name}: your code here")', body)
    return text


def test_the_stub_is_subtracted_and_short_obvious_answers_are_not_flagged():
    """Stub-only students share nothing; two students with the same obvious one- and four-line answers
    match fully but on too few tokens of their own to flag; the starter code is never highlighted."""
    one = fill(stub("clipping"), OBVIOUS)
    report = compare("clipping", [Source("a", one), Source("b", one), Source("stub", stub("clipping")),
                                  Source("stub2", restyle_comments(stub("clipping"), 1))], Settings(listed=0.0))
    pairs = {frozenset((p.a.name, p.b.name)): p for p in report.pairs}
    same = pairs[frozenset(("a", "b"))]
    assert same.similarity_a == pytest.approx(1.0) and not same.flagged
    assert 0 < same.matched < Settings().min_matched
    assert not any({"stub", "stub2"} & set(p) for p in pairs)  # nothing of their own to match
    # Without the stub subtracted, the same two would be flagged on the given code.
    unsubtracted = compare("clipping", [Source("a", one), Source("b", one)], starter="")
    assert unsubtracted.flagged


def test_only_the_starter_codes_kgrams_are_removed_even_when_code_repeats():
    """A student who repeats a line keeps every k-gram of it (copydetect's own boilerplate removal
    assumes each k-gram occurs once per file: it dropped repeats, differently from run to run)."""
    from copydetect import utils as cd

    k = Settings().kgram
    repeated = "\ndef helper(g):\n    return [np.clip(x, -1.0, 1.0) for x in g] + [np.clip(x, -1.0, 1.0) for x in g]\n"
    text = reference("clipping") + repeated + repeated
    given = starter_hashes(stub("clipping"), k)
    every = cd.hashed_kgrams(normalize(text)[0], k)
    expected = np.nonzero(~np.isin(every, given.kgrams))[0]
    assert fingerprint(text, k, 1, given).positions.tolist() == expected.tolist()


# ---------------------------------------------------------------------------- references, notebooks


def test_references_are_compared_against_but_not_among_themselves(tmp_path):
    topic = "clipping"
    original = alternatives(topic)["deque_linalg"]
    subs = write_class(tmp_path / "subs", topic, {"amy": disguise(original, 3), "ben": reference(topic)})
    last = write_class(tmp_path / "last-term", topic, {"old1": original, "old2": original})  # two identical refs
    online = tmp_path / "online"
    online.mkdir()
    (online / "github_gist.py").write_text(alternatives(topic)["torch_style_eps"])
    report = compare_folder(topic, subs, references=[last, online])
    names = {s.name for s in report.sources}
    assert {"last-term/old1", "last-term/old2", "online/github_gist"} <= names
    assert flagged(report) == {frozenset(("amy", "last-term/old1")), frozenset(("amy", "last-term/old2"))}
    assert all(not (p.a.reference and p.b.reference) for p in report.pairs)
    assert all(not p.a.reference for p in report.pairs)  # the student is always side A
    assert report.compared == 1 + 2 * 3  # amy~ben, and each student with each of the three references
    # --solution: a student who handed in the reference solution is flagged against it
    leaked = compare_folder(topic, subs, include_solution=True)
    assert flagged(leaked) == {frozenset(("ben", "instructor/solution"))}


def notebook(code_cells: list[str], output: str) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Clipping\nWrite your code below.")]
    for code in code_cells:
        nb.cells.append(nbformat.v4.new_code_cell(code, outputs=[nbformat.v4.new_output("stream", text=output)]))
    return nbformat.writes(nb)


def test_notebooks_are_compared_through_their_code_cells_never_their_outputs(tmp_path):
    topic = "clipping"
    original = alternatives(topic)["deque_linalg"]
    subs = write_class(tmp_path / "subs", topic, {"amy": original})
    # cy's notebook holds a copy of amy's code in its cells; dee's holds the reference in its cells
    # and amy's code only in an output (say, a printed file): only cy is flagged with amy.
    for student, cells, output in (("cy", [disguise(original, 4)], "ok"),
                                   ("dee", [reference(topic)], original * 3)):
        (subs / student).mkdir()
        (subs / student / f"{topic}.ipynb").write_text(notebook(cells, output))
    report = compare_folder(topic, subs)
    assert {s.name: s.origin for s in report.sources} == {
        "amy": "amy/clipping.py", "cy": "cy/clipping.ipynb (code cells)", "dee": "dee/clipping.ipynb (code cells)"}
    assert flagged(report) == {frozenset(("amy", "cy"))}


def test_unreadable_submissions_are_named_not_compared(tmp_path):
    topic = "clipping"
    subs = write_class(tmp_path / "subs", topic, {"amy": reference(topic), "bo": reference(topic)})
    (subs / "cy").mkdir()
    (subs / "cy" / f"{topic}.ipynb").write_text("{ this is not a notebook")
    report = compare_folder(topic, subs)
    assert {s.name for s in report.sources} == {"amy", "bo"}
    assert any(n.startswith("cy: ") for n in report.notes)


# ---------------------------------------------------------------------------- the engine against copydetect


def test_all_pairs_figures_equal_copydetects_own_pairwise_comparison():
    """With nothing subtracted, the vectorized all-pairs figures are copydetect's compare_files."""
    from copydetect import CodeFingerprint, compare_files

    texts = [reference("clipping"), *alternatives("clipping").values(), (SAMPLES / "ben" / "clipping.py").read_text(),
             disguise(reference("clipping"), 2)]
    k = Settings().kgram
    prints = [fingerprint(t, k, 1, starter_hashes("", k)) for t in texts]
    ours = shared_matrix(prints, k)
    import io

    theirs = [CodeFingerprint("x.py", k, 1, fp=io.StringIO(t)) for t in texts]
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            overlap, (sim_i, sim_j), _ = compare_files(theirs[i], theirs[j])
            assert ours[j, i] == overlap
            assert ours[j, i] / prints[i].coverage == pytest.approx(sim_i)
            assert ours[i, j] / prints[j].coverage == pytest.approx(sim_j)


def test_matched_regions_point_at_the_same_code_on_both_sides():
    """Each highlighted region, normalized, is the same token sequence as its partner on the other
    side, also after a class definition (where copydetect's own offsets go astray)."""
    original = alternatives("clipping")["deque_linalg"]
    assert "class AdaptiveClipper" in original
    report = compare("clipping", [Source("a", original), Source("b", rename_identifiers(original, 9))])
    from autograder.similarity.detect import highlight

    pair = highlight(report.flagged[0], report.settings)
    by_block_a = {blk: (s, e) for s, e, blk in pair.regions_a}
    by_block_b = {blk: (s, e) for s, e, blk in pair.regions_b}
    assert by_block_a.keys() == by_block_b.keys() and len(by_block_a) >= 1
    for blk, (s, e) in by_block_a.items():
        sb, eb = by_block_b[blk]
        assert normalize(pair.a.text[s:e])[0] == normalize(pair.b.text[sb:eb])[0]
    covered = "".join(pair.a.text[s:e] for s, e in by_block_a.values())
    assert "self.norms.append" in covered and "np.percentile" in covered
    # no region starts or ends on whitespace: the highlight fits the code
    assert all(not pair.a.text[s].isspace() and not pair.a.text[e - 1].isspace() for s, e, _ in pair.regions_a)


# ---------------------------------------------------------------------------- pages, CSV, JSON, CLI


HOSTILE = '"</span></pre><script>alert(1)</script>"'


@pytest.fixture
def planted(tmp_path) -> Path:
    topic = "clipping"
    original = alternatives(topic)["deque_linalg"]
    copy = disguise(original, 6).replace("import numpy as np", f"import numpy as np\nBANNER = {HOSTILE}  # <b>x</b>")
    return write_class(tmp_path / "subs", topic, {
        "amy": original, "bo": copy, "cy<img src=x>": restyle_comments(original, 1), "dev": reference(topic),
        "eve": alternatives(topic)["torch_style_eps"]})


def test_cli_writes_the_ranked_table_pages_csv_and_json(planted, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["similarity", "clipping", str(planted), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 pair(s) flagged for review" in result.output and "group of 3: amy, bo, cy<img src=x>" in result.output
    index = (out / "index.html").read_text()
    assert "for review" in index and "not a finding" in index
    assert "<script>" not in index and "<img" not in index and "cy&lt;img src=x&gt;" in index
    pages = sorted((out / "pairs").glob("*.html"))
    cy = output_name("cy<img src=x>")
    assert cy.startswith("_cy-img-src-x-")
    assert [p.name for p in pages] == sorted(["amy--bo.html", f"amy--{cy}.html", f"bo--{cy}.html"])
    for page in pages:
        assert f'href="pairs/{page.name}"' in index
        html = page.read_text()
        assert "<script>" not in html and "<b>x</b>" not in html and "<img" not in html
    bo = (out / "pairs" / "amy--bo.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in bo and 'class="m0"' in bo
    rows = list(csv.DictReader((out / "similarity.csv").open()))
    assert {(r["a"], r["b"]) for r in rows if r["flagged"] == "True"} == \
        {("amy", "bo"), ("amy", "cy<img src=x>"), ("bo", "cy<img src=x>")}
    assert all(0 <= float(r["similarity_a"]) <= 1 for r in rows)
    data = json.loads((out / "similarity.json").read_text())
    assert data["flagged"] == 3 and data["clusters"] == [["amy", "bo", "cy<img src=x>"]] and data["students"] == 5
    assert data["pairs"][0]["page"].startswith("pairs/")

    as_json = CliRunner().invoke(main, ["similarity", "clipping", str(planted), "--out", str(out), "--json",
                                        "--threshold", "0.99"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert data["settings"]["threshold"] == 0.99 and data["flagged"] < 3


@pytest.mark.parametrize("args, message", [
    (["nope", "{subs}"], "unknown topic 'nope'"),
    (["clipping", "{tmp}/missing"], "no submissions folder"),
    (["clipping", "{subs}", "--reference", "{tmp}/missing"], "no reference folder"),
    (["clipping"], "Missing argument 'SUBMISSIONS'"),
    (["clipping", "{subs}", "--threshold", "0"], "Invalid value for '--threshold'"),
])
def test_cli_bad_input_is_one_line_without_a_traceback(planted, tmp_path, args, message):
    args = [a.format(subs=planted, tmp=tmp_path) for a in args]
    result = CliRunner().invoke(main, ["similarity", *args, "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output


def test_settings_are_checked():
    with pytest.raises(SimilarityError, match="threshold"):
        Settings(threshold=1.5).check()
    with pytest.raises(SimilarityError, match="kgram"):
        Settings(kgram=0).check()


# ---------------------------------------------------------------------------- in a course


def test_course_thresholds_references_command_and_class_report_section(tmp_path, monkeypatch):
    topic = "clipping"
    original = alternatives(topic)["deque_linalg"]
    root = make_course(tmp_path / "c", ["amy", "bo", "ben"], [topic],
                       toml_extra='\n[similarity]\nthreshold = 0.5\nreferences = ["last-term"]\n')
    submit(root, topic, "amy", original)
    submit(root, topic, "bo", restyle_comments(original, 2))
    submit(root, topic, "ben", sample="ben")
    write_class(root / "last-term", topic, {"old": alternatives(topic)["torch_style_eps"]})
    course = load_course(root)
    assert course.similarity["threshold"] == 0.5 and course.similarity["references"] == [root / "last-term"]

    result = CliRunner().invoke(main, ["similarity", "--course", str(root), "--json"])
    assert result.exit_code == 0, result.output
    [data] = json.loads(result.output)
    assert data["settings"]["threshold"] == 0.5 and data["references"] == 1
    assert [(p["a"], p["b"]) for p in data["pairs"] if p["flagged"]] == [("amy", "bo")]
    assert (root / "reports" / "similarity" / topic / "pairs" / "amy--bo.html").is_file()

    grade_course(course, grader=fake_grader())
    with Gradebook.open(course.db_path) as book:
        html = write_class_report(course, book).read_text()
    section = html[html.index('id="similarity"'):html.index('id="gradebook"')]
    assert "Similar submissions, for review" in section and "at least 50%" in section
    assert 'href="similarity/clipping/pairs/amy--bo.html"' in section and "amy · bo" in section

    # Nothing changed since `deepgrade similarity`: the report reuses its result; a new file is compared.
    import autograder.similarity.detect as detect

    def no_comparison(*args, **kwargs):
        raise AssertionError("compared again although nothing changed")

    monkeypatch.setattr(detect, "compare_folder", no_comparison)
    with Gradebook.open(course.db_path) as book:
        write_class_report(course, book)
    monkeypatch.undo()
    submit(root, topic, "ben", disguise(original, 8))
    with Gradebook.open(course.db_path) as book:
        html = write_class_report(course, book).read_text()
    assert "amy · ben" in html or "ben · amy" in html


@pytest.mark.parametrize("extra, message", [
    ("threshold = 2", "threshold = 2: expected a fraction"),
    ("references = \"last-term\"", "references must be a list"),
    ("kgram = 0", "kgram = 0: expected a whole number >= 1"),
    ("treshold = 0.5", "unknown setting 'treshold'"),
])
def test_course_similarity_settings_are_validated(tmp_path, extra, message):
    root = make_course(tmp_path / "c", ["amy"], ["clipping"])
    (root / "deepgrade.toml").write_text((root / "deepgrade.toml").read_text() + f"\n[similarity]\n{extra}\n")
    with pytest.raises(CourseError, match=re.escape(message)):
        load_course(root)


# ---------------------------------------------------------------------------- looked at in a browser


@pytest.mark.skipif(not shutil.which("chromium"), reason="needs Chromium")
def test_pair_page_renders_two_highlighted_columns_in_chromium(planted, tmp_path):
    report = compare_folder("clipping", planted)
    write_report(report, tmp_path / "out")
    page = tmp_path / "out" / "pairs" / "amy--bo.html"
    png = tmp_path / "pair.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={png}",
                    "--window-size=1200,1400", page.as_uri()], check=True, capture_output=True, timeout=120)
    from PIL import Image

    pixels = np.asarray(Image.open(png).convert("RGB")).astype(int)
    highlight = (np.abs(pixels - [0xff, 0xe0, 0x8a]).sum(axis=2) < 30) | \
                (np.abs(pixels - [0xb9, 0xe4, 0xc9]).sum(axis=2) < 30)
    columns = np.nonzero(highlight.any(axis=0))[0]
    assert highlight.sum() > 5000  # matched code is painted
    assert columns.min() < 600 < columns.max()  # ... in both columns, side by side
