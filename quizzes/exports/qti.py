"""QTI 1.2 export for Canvas (Classic Quizzes): a zip with imsmanifest.xml, the assessment and
one question bank per topic.

The assessment has one question group per question (pick 1, with all its variants), so Canvas
gives each student one variant, as R/exams's Canvas export does; the banks under
non_cc_assessments/ hold every variant of a topic for reuse. Canvas keeps 4 decimals of
numeric answers, so an answer or tolerance below 1e-4 is rescaled by a power of ten and the
stem says so (or the export refuses with a clear message when no scaling works). Matching
questions are Canvas matching_question items (each prompt worth an equal share, distractors as
extra answers); Classic Quizzes have no ordering type, so ordering questions are left out and the
build warns (see lms.unsupported).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

from ..assemble import BuiltQuiz
from ..model import Variant
from ..params import short_hash
from .lms import absolute_tolerance, canvas_scale, kept_variants
from .text import html_block, html_inline, plain

QTI_NS = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
CP_NS = "http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1"
CANVAS_NS = "http://canvas.instructure.com/xsd/cccv1p0"
FIXED_TIME = (2024, 1, 1, 0, 0, 0)  # zip entry timestamps: rebuilds are byte-identical
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _mattext(parent: ET.Element, html: str) -> None:
    ET.SubElement(ET.SubElement(parent, "material"), "mattext", texttype="text/html").text = html


def _meta(parent: ET.Element, fields: dict[str, str]) -> None:
    md = ET.SubElement(parent, "qtimetadata")
    for label, entry in fields.items():
        field = ET.SubElement(md, "qtimetadatafield")
        ET.SubElement(field, "fieldlabel").text = label
        ET.SubElement(field, "fieldentry").text = entry


def _feedback(item: ET.Element, ident: str, html: str) -> None:
    fb = ET.SubElement(item, "itemfeedback", ident=ident)
    _mattext(ET.SubElement(fb, "flow_mat"), html)


def _condition(resp: ET.Element, cont: str) -> tuple[ET.Element, ET.Element]:
    cond = ET.SubElement(resp, "respcondition", {"continue": cont})
    return cond, ET.SubElement(cond, "conditionvar")


def matching_item(v: Variant, ident: str, points: float) -> ET.Element:
    """A matching variant as a Canvas matching_question: one response_lid per prompt, all answers in each."""
    item = ET.Element("item", ident=ident, title=v.qid)
    prompt_ids = [f"{ident}_p{i}" for i in range(len(v.prompts))]
    answer_ids = [f"{ident}_a{k}" for k in range(len(v.choices))]
    _meta(ET.SubElement(item, "itemmetadata"), {
        "question_type": "matching_question",
        "points_possible": f"{points:g}",
        "original_answer_ids": ",".join(prompt_ids),
        "assessment_question_identifierref": f"{ident}_ref",
    })
    pres = ET.SubElement(item, "presentation")
    _mattext(pres, str(html_block(v.stem)))
    for pid, prompt in zip(prompt_ids, v.prompts, strict=True):
        lid = ET.SubElement(pres, "response_lid", ident=f"response_{pid}")
        ET.SubElement(ET.SubElement(lid, "material"), "mattext", texttype="text/plain").text = plain(prompt)
        render = ET.SubElement(lid, "render_choice")
        for aid, choice in zip(answer_ids, v.choices, strict=True):
            label = ET.SubElement(render, "response_label", ident=aid)
            ET.SubElement(ET.SubElement(label, "material"), "mattext").text = plain(choice.text)
    resp = ET.SubElement(item, "resprocessing")
    outcomes = ET.SubElement(resp, "outcomes")
    ET.SubElement(outcomes, "decvar", maxvalue="100", minvalue="0", varname="SCORE", vartype="Decimal")
    share = 100 / len(v.prompts)
    for pid, k in zip(prompt_ids, v.matches, strict=True):
        cond = ET.SubElement(resp, "respcondition")
        ET.SubElement(ET.SubElement(cond, "conditionvar"), "varequal", respident=f"response_{pid}").text = \
            answer_ids[k]
        ET.SubElement(cond, "setvar", varname="SCORE", action="Add").text = f"{share:.2f}"
    _feedback(item, "general_fb", str(html_block(v.explanation)))
    return item


def item_element(v: Variant, ident: str, points: float) -> ET.Element:
    """One variant as a Canvas QTI <item>."""
    if v.type == "matching":
        return matching_item(v, ident, points)
    item = ET.Element("item", ident=ident, title=v.qid)
    qtype = {"single": "multiple_choice_question", "multiple": "multiple_answers_question",
             "truefalse": "true_false_question", "numeric": "numerical_question"}[v.type]
    choice_ids = [f"{ident}_c{i}" for i in range(len(v.choices))]
    stem = str(html_block(v.stem))
    scale = 0
    if v.type == "numeric":
        scale = canvas_scale(v)
        if scale:
            stem += (f"<p><em>Enter your answer multiplied by 10{str(scale).translate(_SUPERSCRIPT)} "
                     f"(for example, 1.5e-{scale} is entered as 1.5).</em></p>")
    _meta(ET.SubElement(item, "itemmetadata"), {
        "question_type": qtype,
        "points_possible": f"{points:g}",
        "original_answer_ids": ",".join(choice_ids) if choice_ids else f"{ident}_num",
        "assessment_question_identifierref": f"{ident}_ref",
    })
    pres = ET.SubElement(item, "presentation")
    _mattext(pres, stem)
    resp = ET.Element("resprocessing")
    outcomes = ET.SubElement(resp, "outcomes")
    ET.SubElement(outcomes, "decvar", maxvalue="100", minvalue="0", varname="SCORE", vartype="Decimal")
    cond, var = _condition(resp, "Yes")
    ET.SubElement(var, "other")
    ET.SubElement(cond, "displayfeedback", feedbacktype="Response", linkrefid="general_fb")
    feedbacks = [("general_fb", str(html_block(v.explanation)))]
    if v.type == "numeric":
        assert v.answer is not None
        lid = ET.SubElement(pres, "response_str", ident="response1", rcardinality="Single")
        ET.SubElement(ET.SubElement(lid, "render_fib", fibtype="Decimal"), "response_label", ident="answer1")
        answer, tol = v.answer * 10**scale, absolute_tolerance(v) * 10**scale
        cond, var = _condition(resp, "No")
        either = ET.SubElement(var, "or")
        ET.SubElement(either, "varequal", respident="response1").text = f"{answer:.4f}"
        both = ET.SubElement(either, "and")
        ET.SubElement(both, "vargte", respident="response1").text = f"{answer - tol:.4f}"
        ET.SubElement(both, "varlte", respident="response1").text = f"{answer + tol:.4f}"
        ET.SubElement(cond, "setvar", action="Set", varname="SCORE").text = "100"
    else:
        card = "Multiple" if v.type == "multiple" else "Single"
        lid = ET.SubElement(pres, "response_lid", ident="response1", rcardinality=card)
        render = ET.SubElement(lid, "render_choice")
        for cid, choice in zip(choice_ids, v.choices, strict=True):
            _mattext(ET.SubElement(render, "response_label", ident=cid), str(html_inline(choice.text)))
        for cid, choice in zip(choice_ids, v.choices, strict=True):
            if not choice.correct and choice.feedback:
                cond, var = _condition(resp, "Yes")
                ET.SubElement(var, "varequal", respident="response1").text = cid
                ET.SubElement(cond, "displayfeedback", feedbacktype="Response", linkrefid=f"{cid}_fb")
                feedbacks.append((f"{cid}_fb", str(html_block(choice.feedback))))
        cond, var = _condition(resp, "No")
        if v.type == "multiple":
            group = ET.SubElement(var, "and")
            for cid, choice in zip(choice_ids, v.choices, strict=True):
                target = group if choice.correct else ET.SubElement(group, "not")
                ET.SubElement(target, "varequal", respident="response1").text = cid
        else:
            right = choice_ids[v.correct_indices()[0]]
            ET.SubElement(var, "varequal", respident="response1").text = right
        ET.SubElement(cond, "setvar", action="Set", varname="SCORE").text = "100"
    item.append(resp)
    for ident_fb, html in feedbacks:
        _feedback(item, ident_fb, html)
    return item


def _root() -> ET.Element:
    return ET.Element("questestinterop", {"xmlns": QTI_NS})


class _Items:
    """Each variant's <item> rendered once as XML text; the quiz and the banks reuse it.

    Building and serializing ~10,000 items twice was the bulk of a large export, so the
    documents are assembled from a small ElementTree skeleton with a comment placeholder per
    group, filled with the serialized items. Idents are unique hashes, so the bank copy is the
    same text with the quiz ident swapped for the bank ident.
    """

    def __init__(self, quiz: BuiltQuiz) -> None:
        self.quiz = quiz
        self._text: dict[str, tuple[str, str]] = {}

    def get(self, v: Variant, ident: str) -> str:
        """The item for variant v with the given ident, as XML text."""
        if v.vid not in self._text:
            item = item_element(v, ident, self.quiz.points_of(v.qid))
            ET.indent(item, space=" ")
            self._text[v.vid] = (ident, ET.tostring(item, encoding="unicode"))
        first_ident, text = self._text[v.vid]
        return text if first_ident == ident else text.replace(first_ident, ident)


def _fill(root: ET.Element, parts: dict[str, list[str]]) -> str:
    ET.indent(root, space=" ")
    text = ET.tostring(root, encoding="unicode")
    for key, items in parts.items():
        text = text.replace(f"<!--items:{key}-->", "\n".join(items), 1)
    return text


def assessment_xml(quiz: BuiltQuiz, assess_id: str, items: _Items | None = None) -> str:
    """The quiz: a question group (section picking one variant) per question, as XML text."""
    items = items or _Items(quiz)
    root = _root()
    assessment = ET.SubElement(root, "assessment", ident=assess_id, title=plain(quiz.spec.title))
    _meta(assessment, {"cc_maxattempts": "1"})
    top = ET.SubElement(assessment, "section", ident="root_section")
    parts = {}
    for qid, variants in kept_variants(quiz, "qti").items():
        points = quiz.points_of(qid)
        gid = f"g{short_hash(assess_id, qid, length=16)}"
        group = ET.SubElement(top, "section", ident=gid, title=qid)
        selection = ET.SubElement(ET.SubElement(group, "selection_ordering"), "selection")
        ET.SubElement(selection, "selection_number").text = "1"
        ET.SubElement(ET.SubElement(selection, "selection_extension"), "points_per_item").text = f"{points:g}"
        group.append(ET.Comment(f"items:{gid}"))
        parts[gid] = [items.get(v, f"q{short_hash(assess_id, v.vid, length=16)}") for v in variants]
    return _fill(root, parts)


def bank_xml(quiz: BuiltQuiz, bank_id: str, title: str, variants: list[Variant], items: _Items | None = None) -> str:
    """A Canvas question bank (objectbank) with every variant of one topic's questions, as XML text."""
    items = items or _Items(quiz)
    root = _root()
    bank = ET.SubElement(root, "objectbank", ident=bank_id)
    _meta(bank, {"bank_title": title})
    bank.append(ET.Comment(f"items:{bank_id}"))
    return _fill(root, {bank_id: [items.get(v, f"b{short_hash(bank_id, v.vid, length=16)}") for v in variants]})


def meta_xml(quiz: BuiltQuiz, assess_id: str) -> ET.Element:
    """assessment_meta.xml: the Canvas quiz settings."""
    root = ET.Element("quiz", {"identifier": assess_id, "xmlns": CANVAS_NS})
    fields = {
        "title": plain(quiz.spec.title),
        "description": str(html_block(quiz.spec.instructions)),
        "shuffle_answers": "true" if quiz.spec.shuffle_choices else "false",
        "scoring_policy": "keep_highest",
        "hide_results": "",
        "quiz_type": "assignment",
        "points_possible": f"{sum(quiz.points_of(qid) for qid in kept_variants(quiz, 'qti')):.1f}",
        "show_correct_answers": "true",
        "anonymous_submissions": "false",
        "could_be_locked": "false",
        "allowed_attempts": "1",
        "one_question_at_a_time": "false",
        "cant_go_back": "false",
        "available": "false",
    }
    for tag, text in fields.items():
        ET.SubElement(root, tag).text = text
    return root


def manifest_xml(assess_id: str, banks: list[tuple[str, str]]) -> ET.Element:
    """imsmanifest.xml: the assessment (with its meta as dependency) and the bank files."""
    root = ET.Element("manifest", {"identifier": f"{assess_id}_manifest", "xmlns": CP_NS})
    md = ET.SubElement(root, "metadata")
    ET.SubElement(md, "schema").text = "IMS Content"
    ET.SubElement(md, "schemaversion").text = "1.1.3"
    ET.SubElement(root, "organizations")
    resources = ET.SubElement(root, "resources")
    res = ET.SubElement(resources, "resource", identifier=assess_id, type="imsqti_xmlv1p2")
    ET.SubElement(res, "file", href=f"{assess_id}/{assess_id}.xml")
    ET.SubElement(res, "dependency", identifierref=f"{assess_id}_meta")
    meta = ET.SubElement(resources, "resource", identifier=f"{assess_id}_meta",
                         type="associatedcontent/imscc_xmlv1p1/learning-application-resource",
                         href=f"{assess_id}/assessment_meta.xml")
    ET.SubElement(meta, "file", href=f"{assess_id}/assessment_meta.xml")
    for bank_id, href in banks:
        res = ET.SubElement(resources, "resource", identifier=bank_id,
                            type="associatedcontent/imscc_xmlv1p1/learning-application-resource", href=href)
        ET.SubElement(res, "file", href=href)
    return root


def _bytes(root: ET.Element | str) -> bytes:
    if isinstance(root, ET.Element):
        ET.indent(root, space=" ")
        # Serializing to str and encoding once is much faster than ET's encoded stream writes.
        root = ET.tostring(root, encoding="unicode")
    return ("<?xml version='1.0' encoding='utf-8'?>\n" + root).encode("utf-8")


def qti_files(quiz: BuiltQuiz) -> dict[str, bytes]:
    """Every file of the QTI package, by its path inside the zip."""
    assess_id = f"a{short_hash(quiz.spec.seed, quiz.spec.title, length=24)}"
    files: dict[str, bytes] = {}
    by_topic: dict[str, list[Variant]] = {}
    for variants in kept_variants(quiz, "qti").values():
        by_topic.setdefault(variants[0].topic, []).extend(variants)
    banks = []
    items = _Items(quiz)
    for topic, variants in by_topic.items():
        bank_id = f"k{short_hash(assess_id, topic, length=24)}"
        href = f"non_cc_assessments/{bank_id}.xml.qti"
        title = f"{plain(quiz.spec.title)}: {topic}"
        files[href] = _bytes(bank_xml(quiz, bank_id, title, variants, items))
        banks.append((bank_id, href))
    files[f"{assess_id}/{assess_id}.xml"] = _bytes(assessment_xml(quiz, assess_id, items))
    files[f"{assess_id}/assessment_meta.xml"] = _bytes(meta_xml(quiz, assess_id))
    files["imsmanifest.xml"] = _bytes(manifest_xml(assess_id, banks))
    return files


def write_qti(quiz: BuiltQuiz, dest: Path) -> list[Path]:
    """Write qti/quiz_qti.zip."""
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "quiz_qti.zip"
    files = qti_files(quiz)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in ["imsmanifest.xml", *sorted(n for n in files if n != "imsmanifest.xml")]:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[name])
    return [path]


__all__ = ["item_element", "qti_files", "write_qti"]
