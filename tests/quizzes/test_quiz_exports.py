"""Every export format, checked against its format: Moodle XML, GIFT, QTI 1.2 (Canvas), HTML, Markdown, key."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from gift_parser import GiftError, parse_gift
from quiz_helpers import sample_quiz, tiny_spec, write

from quizzes.assemble import assemble
from quizzes.build import build_quiz, write_formats
from quizzes.errors import QuizError
from quizzes.exports.gift import gift_escape
from quizzes.exports.lms import MOODLE_FRACTIONS, canvas_scale, snap_fraction
from quizzes.exports.qti import item_element, qti_files
from quizzes.model import Tolerance, Variant

ALLOWED = {f"{x:.5f}".rstrip("0").rstrip(".") for x in MOODLE_FRACTIONS}
ALLOWED |= {"-" + a for a in ALLOWED if a != "0"}
QTI = "{http://www.imsglobal.org/xsd/ims_qtiasiv1p2}"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tiny")
    result = build_quiz(tiny_spec(tmp), tmp / "out", variants=5)
    return result


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample") / "out"
    write_formats(sample_quiz(), out)
    return out


# --- Moodle -----------------------------------------------------------------------------------

def test_moodle_fractions_snap_to_allowed_values():
    assert snap_fraction(100 / 3) == pytest.approx(33.33333)
    assert snap_fraction(100 / 6) == pytest.approx(16.66667)
    assert snap_fraction(100 / 7) == pytest.approx(14.28571)
    assert snap_fraction(-100 / 2) == -50
    assert snap_fraction(100 / 11) == 10  # no 9.09 in Moodle: nearest allowed value


def test_moodle_xml_structure(sample):
    root = ET.parse(sample / "moodle" / "quiz.xml").getroot()
    assert root.tag == "quiz"
    categories = root.findall("question[@type='category']")
    quiz = sample_quiz()
    assert len(categories) == len(quiz.questions)  # one category per question holding its variants
    paths = [c.findtext("category/text") for c in categories]
    assert all(p.startswith("$course$/top/deepgrade/") for p in paths)
    assert len({p.rsplit("/", 1)[1] for p in paths}) == len(paths)
    questions = [q for q in root.findall("question") if q.get("type") != "category"]
    assert {q.get("type") for q in questions} == {"multichoice", "numerical", "truefalse"}
    for q in questions:
        assert q.findtext("name/text") and q.find("questiontext").get("format") == "html"
        assert q.findtext("generalfeedback/text")  # the worked explanation
        answers = q.findall("answer")
        fractions = [a.get("fraction") for a in answers]
        assert set(fractions) <= ALLOWED | {"100", "0"}, fractions
        for a in answers:
            if a.get("fraction") in ("0",) or a.get("fraction", "").startswith("-"):
                assert a.findtext("feedback/text"), "every distractor names its misconception"
        if q.get("type") == "multichoice" and q.findtext("single") == "false":
            positive = sum(float(f) for f in fractions if float(f) > 0)
            assert positive == pytest.approx(100, abs=0.01)
            assert any(float(f) < 0 for f in fractions)  # right-minus-wrong
        if q.get("type") == "multichoice" and q.findtext("single") == "true":
            assert fractions.count("100") == 1


def test_moodle_numeric_tolerance_is_absolute_per_variant(sample):
    root = ET.parse(sample / "moodle" / "quiz.xml").getroot()
    numeric = [q for q in root.findall("question[@type='numerical']")]
    assert numeric
    for q in numeric:
        right = q.find("answer[@fraction='100']")
        value, tol = float(right.findtext("text")), float(right.findtext("tolerance"))
        # a 1% relative tolerance (3 significant digits) becomes 1% of this variant's answer; a stated
        # number of decimals d gives one unit in the last place, 10^-d (half a unit for whole numbers)
        assert tol == pytest.approx(0.01 * abs(value)) or tol in (0.5, 0.1, 0.01, 0.001, 0.0001)
        misconceptions = q.findall("answer[@fraction='0']")
        assert misconceptions and all(abs(float(m.findtext("text")) - value) > tol for m in misconceptions)


# --- GIFT -------------------------------------------------------------------------------------

def test_gift_escape():
    assert gift_escape("a~b=c#d{e}f:g\\h") == "a\\~b\\=c\\#d\\{e\\}f\\:g\\\\h"
    assert gift_escape("\\frac{a}{b}") == "\\\\frac\\{a\\}\\{b\\}"
    assert gift_escape("two\nlines") == "two\\nlines"


def test_gift_parses_back_with_a_strict_parser(tiny):
    text = (tiny.out / "gift" / "quiz.gift").read_text(encoding="utf-8")
    questions = parse_gift(text)
    by_name = {q.name: q for q in questions}
    single = by_name["tiny-single v1"]
    # Specials and LaTeX braces survive the round trip (markdown escapes aside, the text is intact).
    assert single.text == "Which is right? Note: a = b {really} ~ maybe #1, and \\\\frac{a}{b}."
    assert single.text_format == "markdown"
    assert [(a.weight, a.text) for a in single.answers] == [(100, "right {1}"), (0, "wrong: a=b"), (0, "wrong two")]
    assert single.answers[1].feedback == "misconception #1: confused ~ with ="
    assert single.general_feedback == "Because {it is}: see \\\\frac{a}{b}."
    multiple = by_name["tiny-multiple v1"]
    assert [a.weight for a in multiple.answers] == [50, 50, -50, -50]
    tf = by_name["tiny-tf v1"]
    assert tf.kind == "truefalse" and tf.truth is True and tf.tf_feedback[0] == "It is 1 for z > 0."
    numeric = [q for q in questions if q.name.startswith("tiny-numeric")]
    assert numeric and all(q.kind == "numeric" for q in numeric)
    for q in numeric:
        (w, value, tol, _), *wrong = q.numeric
        assert w == 100 and tol == pytest.approx(0.02 * value)  # relative 2% made absolute
        assert wrong[0][0] == 0 and wrong[0][3] == "multiplied instead of powered"
    assert {q.category.rsplit("/", 1)[1] for q in questions} == {"tiny-single", "tiny-multiple", "tiny-tf",
                                                                 "tiny-numeric"}


def test_strict_gift_parser_rejects_unescaped_specials():
    with pytest.raises(GiftError, match="unescaped ':'"):
        parse_gift("::q::Note: this{=a ~b}")
    with pytest.raises(GiftError, match="answer block"):
        parse_gift("::q::Set {1, 2}{=a ~b}")
    with pytest.raises(GiftError, match="stray backslash"):
        parse_gift("::q::\\frac{=a ~b}")


def test_shipped_bank_exports_to_valid_gift(sample):
    questions = parse_gift((sample / "gift" / "quiz.gift").read_text(encoding="utf-8"))
    assert len({q.category for q in questions}) == len(sample_quiz().questions)
    for q in questions:
        assert q.general_feedback
        if q.kind == "choice":
            assert any(a.weight > 0 for a in q.answers)


# --- QTI (Canvas) ------------------------------------------------------------------------------

def _item_paths(item: ET.Element) -> set[str]:
    """Tag paths inside an item, without namespaces and without feedback-only branches."""
    out = set()

    def walk(el: ET.Element, prefix: str) -> None:
        tag = el.tag.split("}")[-1]
        path = f"{prefix}/{tag}"
        out.add(path)
        for child in el:
            walk(child, path)

    walk(item, "")
    return out


def _qti_items(xml_bytes: bytes) -> list[ET.Element]:
    return ET.fromstring(xml_bytes).findall(f".//{QTI}item")


def test_qti_package_structure(tiny):
    with zipfile.ZipFile(tiny.out / "qti" / "quiz_qti.zip") as zf:
        names = zf.namelist()
        assert names[0] == "imsmanifest.xml"
        manifest = ET.fromstring(zf.read("imsmanifest.xml"))
        ns = {"cp": "http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1"}
        hrefs = [f.get("href") for f in manifest.findall(".//cp:file", ns)]
        assert set(hrefs) == set(names) - {"imsmanifest.xml"}  # everything listed, nothing missing
        types = {r.get("type") for r in manifest.findall(".//cp:resource", ns)}
        assert "imsqti_xmlv1p2" in types
        banks = [n for n in names if n.startswith("non_cc_assessments/")]
        assert len(banks) == 1  # one bank per topic: the tiny bank has one topic
        bank = ET.fromstring(zf.read(banks[0]))
        assert bank.find(f"{QTI}objectbank") is not None
        assessment_file = next(n for n in names if n.endswith(".xml") and "/assessment_meta" not in n
                               and n != "imsmanifest.xml" and not n.startswith("non_cc"))
        assessment = ET.fromstring(zf.read(assessment_file))
        groups = assessment.findall(f"{QTI}assessment/{QTI}section/{QTI}section")
        assert len(groups) == 4
        for g in groups:
            assert g.findtext(f"{QTI}selection_ordering/{QTI}selection/{QTI}selection_number") == "1"
        types = {fe.text for fe in assessment.iter(f"{QTI}fieldentry")}
        assert {"multiple_choice_question", "multiple_answers_question", "true_false_question",
                "numerical_question"} <= types
        meta = ET.fromstring(zf.read(next(n for n in names if n.endswith("assessment_meta.xml"))))
        assert meta.tag.endswith("quiz") and meta.findtext("{http://canvas.instructure.com/xsd/cccv1p0}title")


def test_qti_numeric_bounds_and_multiple_answer_scoring(tiny):
    files = qti_files(assemble(tiny.quiz.spec, variants=5))
    assessment = next(v for k, v in files.items() if k.endswith(".xml") and "meta" not in k
                      and k != "imsmanifest.xml" and not k.startswith("non_cc"))
    for item in _qti_items(assessment):
        qtype = item.find(f".//{QTI}fieldentry").text
        if qtype == "numerical_question":
            lo = float(item.find(f".//{QTI}vargte").text)
            hi = float(item.find(f".//{QTI}varlte").text)
            exact = float(item.find(f".//{QTI}varequal").text)
            assert lo < exact < hi
        if qtype == "multiple_answers_question":
            cond = item.find(f".//{QTI}respcondition[@continue='No']/{QTI}conditionvar/{QTI}and")
            assert len(cond.findall(f"{QTI}varequal")) == 2 and len(cond.findall(f"{QTI}not")) == 2
        assert item.find(f".//{QTI}setvar").text == "100"
        assert item.find(f"{QTI}itemfeedback[@ident='general_fb']") is not None


TEXT2QTI_QUIZ = """\
Quiz title: Tiny
Quiz description: Tiny.

1.  Which is right?
... Because.
*a) right
b) wrong
... misconception
c) wrong two

2.  Pick the even numbers.
[*] 2
[*] 4
[ ] 3
[ ] 5

3.  ReLU's derivative is 1 for positive inputs.
*a) True
b) False

4.  What is 0.25 ** 2?
=   0.0625 +- 0.00125
"""


def test_qti_items_match_text2qti_structure(tiny, tmp_path):
    pytest.importorskip("text2qti")
    from text2qti.config import Config
    from text2qti.qti import QTI as Text2QTI
    from text2qti.quiz import Quiz as Text2Quiz

    buf = io.BytesIO()
    Text2QTI(Text2Quiz(TEXT2QTI_QUIZ, config=Config(), source_name="quiz.md")).write(buf)
    with zipfile.ZipFile(buf) as zf:
        ref_manifest = ET.fromstring(zf.read("imsmanifest.xml"))
        ref_xml = zf.read(next(n for n in zf.namelist() if n.endswith(".xml") and "meta" not in n
                               and n != "imsmanifest.xml"))
        ref_meta = ET.fromstring(zf.read(next(n for n in zf.namelist() if n.endswith("assessment_meta.xml"))))
    ref_items = {item.find(f".//{QTI}fieldentry").text: item for item in _qti_items(ref_xml)}
    with zipfile.ZipFile(tiny.out / "qti" / "quiz_qti.zip") as zf:
        ours_manifest = ET.fromstring(zf.read("imsmanifest.xml"))
        ours_xml = zf.read(next(n for n in zf.namelist() if n.endswith(".xml") and "meta" not in n
                                and n != "imsmanifest.xml" and not n.startswith("non_cc")))
        our_meta = ET.fromstring(zf.read(next(n for n in zf.namelist() if n.endswith("assessment_meta.xml"))))
    ours = {}
    for item in _qti_items(ours_xml):
        ours.setdefault(item.find(f".//{QTI}fieldentry").text, item)
    assert set(ref_items) == set(ours)
    for qtype, ref in ref_items.items():
        missing = _item_paths(ref) - _item_paths(ours[qtype])
        assert not missing, (qtype, missing)
        ref_labels = [f.text for f in ref.iter(f"{QTI}fieldlabel")]
        our_labels = [f.text for f in ours[qtype].iter(f"{QTI}fieldlabel")]
        assert ref_labels == our_labels
    # Same manifest vocabulary: the assessment resource type, a dependency on the Canvas meta file.
    ref_types = {r.get("type") for r in ref_manifest.iter() if r.tag.endswith("resource")}
    our_types = {r.get("type") for r in ours_manifest.iter() if r.tag.endswith("resource")}
    assert ref_types <= our_types
    assert our_meta.tag == ref_meta.tag
    ref_fields = {c.tag for c in ref_meta}
    assert {c.tag for c in our_meta} <= ref_fields


def _numeric_variant(answer: float, tol: Tolerance) -> Variant:
    return Variant(qid="tiny-num", vid="tiny-num@x", topic="t", type="numeric", difficulty="easy", points=1,
                   stem="How small?", explanation="Very.", answer=answer, tolerance=tol)


def test_canvas_small_answers_are_rescaled_with_a_note():
    v = _numeric_variant(0.25 ** 10, Tolerance("rel", 0.01))
    k = canvas_scale(v)
    # 0.25^10 ≈ 9.5e-7 with ±1%: the tolerance 9.5e-9 needs 10^5 to reach Canvas's 1e-4 resolution.
    assert k == 5 and v.answer * 10**k * 0.01 >= 1e-4
    item = item_element(v, "i1", 1)
    stem = item.find("presentation/material/mattext").text
    assert f"multiplied by 10{str(k).translate(str.maketrans('0123456789', '⁰¹²³⁴⁵⁶⁷⁸⁹'))}" in stem
    exact = float(item.find(".//varequal").text)
    assert exact == pytest.approx(v.answer * 10**k, abs=1e-4)
    assert canvas_scale(_numeric_variant(3.0, Tolerance("abs", 0.01))) == 0


def test_canvas_refuses_when_no_scaling_helps():
    with pytest.raises(QuizError, match="Canvas"):
        canvas_scale(_numeric_variant(1e-30, Tolerance("rel", 0.01)))


# --- HTML / Markdown / key ---------------------------------------------------------------------

def test_html_pages(sample):
    quiz = sample_quiz()
    student = quiz.students[0]
    page = (sample / "html" / "students" / f"{student.student_id}.html").read_text(encoding="utf-8")
    assert "<!doctype html>" in page and 'name="viewport"' in page
    assert 'class="idbox"' in page and student.student_id in page and student.name in page
    assert "@media print" in page and "break-after: page" in page and "break-inside: avoid" in page
    for item in student.items:
        first_words = item.variant.stem.split("\n")[0][:30]
        assert first_words.replace("'", "&#39;").replace("&", "&amp;")[:20] in page or first_words[:20] in page
    combined = (sample / "html" / "all_students.html").read_text(encoding="utf-8")
    assert combined.count('<section class="sheet"') == len(quiz.students)
    key = (sample / "html" / "answer_key.html").read_text(encoding="utf-8")
    assert key.count('<section class="sheet"') == len(quiz.students)
    assert student.items[0].variant.explanation.split()[0] in key


def test_markdown_pages(sample):
    quiz = sample_quiz()
    text = (sample / "md" / "all_students.md").read_text(encoding="utf-8")
    assert text.count("**Student ID:**") == len(quiz.students)
    key = (sample / "md" / "answer_key.md").read_text(encoding="utf-8")
    assert key.count("| # | Answer | Question |") == len(quiz.students)
    assert "<" not in re.sub(r"`[^`]*`", "", text.replace("\\<", "")).replace("< ", "")  # no raw HTML tags


def test_key_json_and_variants_csv(sample):
    quiz = sample_quiz()
    key = json.loads((sample / "key" / "answer_key.json").read_text(encoding="utf-8"))
    assert key["format"] == "deepgrade-quiz-key/1"
    assert [q["qid"] for q in key["questions"]] == [q.id for q, _ in quiz.questions]
    assert len(key["students"]) == len(quiz.students)
    for s in key["students"]:
        for item in s["items"]:
            v = key["variants"][item["vid"]]
            if v["type"] == "numeric":
                assert v["abs_tol"] > 0 and "misconceptions" in v
            else:
                assert sorted(item["order"]) == list(range(len(v["choices"])))
    with (sample / "key" / "variants.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(quiz.students) * len(quiz.questions)


# --- writing all or nothing --------------------------------------------------------------------

def test_a_failing_export_leaves_nothing_behind(tmp_path, monkeypatch):
    from quizzes import build

    def broken(quiz, dest):
        raise QuizError("boom")

    monkeypatch.setitem(build.WRITERS, "gift", broken)
    with pytest.raises(QuizError, match="boom"):
        build.build_quiz(tiny_spec(tmp_path), tmp_path / "out", variants=2)
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_build_refuses_to_overwrite_a_foreign_folder(tmp_path):
    write(tmp_path / "precious" / "thesis.tex", "do not delete")
    with pytest.raises(QuizError, match="refusing to overwrite"):
        build_quiz(tiny_spec(tmp_path), tmp_path / "precious", variants=2)
    assert (tmp_path / "precious" / "thesis.tex").exists()
    # ... while our own output folder is replaced on rebuild.
    build_quiz(tiny_spec(tmp_path), tmp_path / "out", variants=2, formats="key")
    build_quiz(tiny_spec(tmp_path), tmp_path / "out", variants=3, formats="gift")
    assert not (tmp_path / "out" / "key").exists() and (tmp_path / "out" / "gift" / "quiz.gift").exists()


def test_unknown_format_and_missing_roster_are_clear_errors(tmp_path):
    with pytest.raises(QuizError, match="unknown format 'docx'"):
        build_quiz(tiny_spec(tmp_path), tmp_path / "out", variants=2, formats="html,docx")
    with pytest.raises(QuizError, match="--roster"):
        build_quiz(tiny_spec(tmp_path), tmp_path / "out")
    roster = write(tmp_path / "roster.csv", "student_id,name\ns1,A\ns1,B\n")
    with pytest.raises(QuizError, match="appears twice") as err:
        build_quiz(tiny_spec(tmp_path), tmp_path / "out", roster=roster)
    assert err.value.line == 3
    assert not (tmp_path / "out").exists()


def test_spec_errors_name_the_line(tmp_path):
    bad = write(tmp_path / "spec.yaml", "title: x\nseed: 1\ndraw:\n  - {topic: activations, count: 99}\n")
    with pytest.raises(QuizError, match="asks for 99") as err:
        build_quiz(bad, tmp_path / "out", variants=1)
    assert err.value.line == 4
    typo = write(tmp_path / "spec2.yaml", "title: x\nseed: 1\nshufle_questions: true\ndraw:\n  - {ids: [act-dead-relu]}\n")
    with pytest.raises(QuizError, match="unknown key 'shufle_questions'") as err:
        build_quiz(typo, tmp_path / "out", variants=1)
    assert err.value.line == 3


def test_student_ids_become_safe_file_names(tmp_path):
    roster = write(tmp_path / "roster.csv", "student_id\n../../evil\nok-1\n")
    result = build_quiz(tiny_spec(tmp_path), tmp_path / "out", roster=roster, formats="html")
    names = sorted(p.name for p in (result.out / "html" / "students").iterdir())
    assert names == ["evil.html", "ok-1.html"]
    assert not Path(tmp_path / "evil.html").exists()
