"""Moodle XML export: each question's variants as questions in a category of their own.

As R/exams does it: the quiz then holds one "random question from category" slot per
question, and Moodle draws one variant per student. Numeric tolerances are absolute (a
relative one is converted per variant), multiple-answer weights snap to Moodle's fractions.
Ordering questions use Moodle's ordering type (standard since Moodle 4.4) graded by "longest
ordered subset", as `deepgrade quiz grade` does; matching questions use Moodle's matching
type, where each prompt is worth the same share, with distractors as answers without a prompt.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ..assemble import BuiltQuiz
from ..model import Variant
from .lms import absolute_tolerance, category_path, fraction_text, multiple_answer_fractions
from .text import html_block, html_inline


def _text(parent: ET.Element, tag: str, text: str, fmt: str | None = "html") -> ET.Element:
    el = ET.SubElement(parent, tag, {"format": fmt} if fmt else {})
    ET.SubElement(el, "text").text = text
    return el


def _category(root: ET.Element, path: str, info: str) -> None:
    q = ET.SubElement(root, "question", type="category")
    cat = ET.SubElement(q, "category")
    ET.SubElement(cat, "text").text = path
    _text(q, "info", info)


def _common(q: ET.Element, v: Variant, name: str, points: float) -> None:
    ET.SubElement(ET.SubElement(q, "name"), "text").text = name
    _text(q, "questiontext", str(html_block(v.stem)))
    _text(q, "generalfeedback", str(html_block(v.explanation)))
    ET.SubElement(q, "defaultgrade").text = f"{points:g}"
    ET.SubElement(q, "penalty").text = "0"
    ET.SubElement(q, "hidden").text = "0"
    ET.SubElement(q, "idnumber").text = v.vid


def _answer(q: ET.Element, fraction: str, text: str, feedback: str, fmt: str = "html") -> ET.Element:
    ans = ET.SubElement(q, "answer", fraction=fraction, format=fmt)
    ET.SubElement(ans, "text").text = text
    _text(ans, "feedback", str(html_block(feedback)) if feedback else "")
    return ans


def _combined_feedback(q: ET.Element) -> None:
    _text(q, "correctfeedback", "Correct.")
    _text(q, "partiallycorrectfeedback", "Partly correct.")
    _text(q, "incorrectfeedback", "Incorrect.")


def _ordering(v: Variant, name: str, points: float) -> ET.Element:
    q = ET.Element("question", type="ordering")
    _common(q, v, name, points)
    for tag, text in (("layouttype", "VERTICAL"), ("selecttype", "ALL"), ("selectcount", str(len(v.choices))),
                      ("gradingtype", "LONGEST_ORDERED_SUBSET"), ("showgrading", "SHOW"),
                      ("numberingstyle", "none")):
        ET.SubElement(q, tag).text = text
    _combined_feedback(q)
    ET.SubElement(q, "shownumcorrect")
    for k, choice in enumerate(v.choices, start=1):  # the fraction holds each item's right position
        ans = ET.SubElement(q, "answer", fraction=f"{k:.7f}", format="html")
        ET.SubElement(ans, "text").text = str(html_inline(choice.text))
    return q


def _matching(v: Variant, name: str, points: float) -> ET.Element:
    q = ET.Element("question", type="matching")
    _common(q, v, name, points)
    ET.SubElement(q, "shuffleanswers").text = "true"  # always: the bank order would give the key away
    _combined_feedback(q)
    for prompt, k in zip(v.prompts, v.matches, strict=True):
        sub = _text(q, "subquestion", str(html_block(prompt)))
        ET.SubElement(ET.SubElement(sub, "answer"), "text").text = v.choices[k].text.replace("`", "")
    for k, choice in enumerate(v.choices):
        if k not in v.matches:  # a distractor: an answer with an empty prompt
            sub = _text(q, "subquestion", "")
            ET.SubElement(ET.SubElement(sub, "answer"), "text").text = choice.text.replace("`", "")
    return q


def question_element(v: Variant, name: str, points: float, shuffle: bool) -> ET.Element:
    """One variant as a Moodle <question>."""
    if v.type == "ordering":
        return _ordering(v, name, points)
    if v.type == "matching":
        return _matching(v, name, points)
    if v.type == "numeric":
        q = ET.Element("question", type="numerical")
        _common(q, v, name, points)
        assert v.answer is not None
        tol = absolute_tolerance(v)
        ans = _answer(q, "100", repr(v.answer), "Correct.", fmt="moodle_auto_format")
        ET.SubElement(ans, "tolerance").text = repr(tol)
        for value, feedback in v.misconceptions:
            wrong = _answer(q, "0", repr(value), feedback, fmt="moodle_auto_format")
            ET.SubElement(wrong, "tolerance").text = repr(tol)
        ET.SubElement(q, "unitgradingtype").text = "0"
        ET.SubElement(q, "unitpenalty").text = "0"
        ET.SubElement(q, "showunits").text = "3"
        ET.SubElement(q, "unitsleft").text = "0"
        return q
    if v.type == "truefalse":
        q = ET.Element("question", type="truefalse")
        _common(q, v, name, points)
        for choice, word in zip(v.choices, ("true", "false"), strict=True):
            feedback = "Correct." if choice.correct else choice.feedback
            _answer(q, "100" if choice.correct else "0", word, feedback, fmt="moodle_auto_format")
        return q
    q = ET.Element("question", type="multichoice")
    _common(q, v, name, points)
    single = v.type == "single"
    ET.SubElement(q, "single").text = "true" if single else "false"
    ET.SubElement(q, "shuffleanswers").text = "true" if (shuffle and v.shuffle) else "false"
    ET.SubElement(q, "answernumbering").text = "ABCD"
    fractions = [100.0 if c.correct else 0.0 for c in v.choices] if single else multiple_answer_fractions(v)
    for choice, fraction in zip(v.choices, fractions, strict=True):
        feedback = "Correct." if choice.correct else choice.feedback
        _answer(q, fraction_text(fraction), str(html_inline(choice.text)), feedback)
    _text(q, "correctfeedback", "Correct.")
    _text(q, "partiallycorrectfeedback", "Partly correct.")
    _text(q, "incorrectfeedback", "Incorrect.")
    return q


def moodle_xml(quiz: BuiltQuiz) -> ET.ElementTree:
    """The whole quiz as a Moodle XML tree: per question a category with its variants."""
    root = ET.Element("quiz")
    for qid, variants in quiz.variants_by_question().items():
        first = variants[0]
        _category(root, category_path(quiz.spec.title, first.topic, qid),
                  f"{len(variants)} variant(s) of {qid}; add one random question from this category to the quiz.")
        for k, v in enumerate(variants, start=1):
            params = ", ".join(f"{name}={value}" for name, value in v.params)
            name = f"{qid} v{k}" + (f" ({params})" if params and len(params) < 80 else "")
            root.append(question_element(v, name, quiz.points_of(qid), quiz.spec.shuffle_choices))
    return ET.ElementTree(root)


def write_moodle(quiz: BuiltQuiz, dest: Path) -> list[Path]:
    """Write moodle/quiz.xml."""
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "quiz.xml"
    root = moodle_xml(quiz).getroot()
    ET.indent(root, space=" ")
    # Serializing to str and encoding once is several times faster than ET's encoded stream writes.
    path.write_text("<?xml version='1.0' encoding='utf-8'?>\n" + ET.tostring(root, encoding="unicode"),
                    encoding="utf-8")
    return [path]


__all__ = ["moodle_xml", "question_element", "write_moodle"]
