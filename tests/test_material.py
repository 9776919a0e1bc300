"""Course-material references as data: the shipped defaults, a course's [material], --material files,
http(s)-only links in feedback pages, and quiz text that names course documents."""

from __future__ import annotations

import re
import textwrap
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from autograder.gradebook import Gradebook, grade_course, load_course
from autograder.gradebook.course import CourseError
from autograder.reports.feedback import write_feedback
from autograder.reports.material import (
    MaterialError,
    default_material,
    load_material_file,
    material_from_table,
    pointer,
)
from quizzes.build import build_quiz
from quizzes.cli import quiz as quiz_cli
from quizzes.errors import QuizError
from tests.course_helpers import fake_grader, make_course, submit

AFTER = datetime(2030, 1, 1, tzinfo=timezone.utc)


def test_shipped_defaults_are_todays_references():
    assert pointer("activations", "sigmoid_derivative_peak").startswith("Lecture notes week 5, §1.2 Sigmoid")
    assert pointer("activations", "sigmoid_values").startswith("Lecture notes week 5, §3.1")  # shorter prefix
    assert pointer("activations", "leaky_relu_derivative_values").endswith("ReLU Variants, the Extended Family")
    assert pointer("activations", "relu_derivative_at_zero").endswith("Why ReLU Works")
    assert pointer("activations", "something_else").startswith("Lecture notes week 5, Part I")  # topic fallback
    assert pointer("nosuchtopic", "x") == ""
    assert default_material().documents["lecture"] == "the lecture"


def test_a_table_overrides_on_top_of_the_defaults_or_alone():
    table = {"review": {"activations": "Unit 3, §2",
                        "activations.sigmoid": {"text": "Unit 3, §2.4", "url": "https://example.edu/u3#2.4"}},
             "documents": {"lecture": "the week 5 slides"}}
    m = material_from_table(table, "test")
    ref = m.pointer("activations", "sigmoid_derivative_peak")
    assert (ref.text, ref.url) == ("Unit 3, §2.4", "https://example.edu/u3#2.4")
    assert m.pointer("activations", "tanh_values").text == "Unit 3, §2"  # the course's own entries come first
    assert m.pointer("activations", "sigmoid_values").url == "https://example.edu/u3#2.4"
    assert m.pointer("clipping", "clip_by_norm_values").text.startswith("Lecture notes week 5, §4.2")  # kept
    only = material_from_table({**table, "defaults": False}, "test")
    assert only.pointer("clipping", "clip_by_norm_values") is None
    bare = material_from_table({"review": {"residual": "https://example.edu/residual"}}, "t")
    assert bare.pointer("residual", "x").url == "https://example.edu/residual"


@pytest.mark.parametrize("table, message", [
    ({"review": {"activations": {"text": "x", "url": "javascript:alert(1)"}}}, "not an http(s) link"),
    ({"review": {"activations": {"text": "x", "url": "file:///etc/passwd"}}}, "not an http(s) link"),
    ({"review": {"Bad Key": "x"}}, "is not 'topic' or 'topic.check_prefix'"),
    ({"review": {"activations": ""}}, "the text is empty"),
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"defaults": "yes"}, "'defaults' must be true or false"),
])
def test_bad_material_is_refused_with_where(table, message):
    with pytest.raises(MaterialError, match=re.escape(message)):
        material_from_table(table, "deepgrade.toml [material]")


def test_material_file_with_or_without_the_table(tmp_path):
    a = tmp_path / "a.toml"
    a.write_text('[material.review]\nresidual = "Chapter 7"\n')
    b = tmp_path / "b.toml"
    b.write_text('[review]\nresidual = "Chapter 8"\n')
    assert load_material_file(a).pointer("residual", "x").text == "Chapter 7"
    assert load_material_file(b).pointer("residual", "x").text == "Chapter 8"
    (tmp_path / "c.toml").write_text("[review\n")
    with pytest.raises(MaterialError, match="not valid TOML"):
        load_material_file(tmp_path / "c.toml")


def _course(tmp_path, material: str):
    root = make_course(tmp_path / "c", ["s2"], ["residual"], due={"residual": "2025-10-06T23:59:00Z"})
    (root / "deepgrade.toml").write_text((root / "deepgrade.toml").read_text() + material)
    return root


def test_course_material_reaches_feedback_as_a_link(tmp_path):
    root = _course(tmp_path, textwrap.dedent("""
        [material.review]
        "residual.backward" = { text = "Unit 7 notes, §3 <backprop>", url = "https://example.edu/u7?a=1&b=2#3" }
        """))
    submit(root, "residual", "s2")
    course = load_course(root)
    grade_course(course, grader=fake_grader(good=set()))
    with Gradebook.open(course.db_path) as book:
        html_path, md_path = write_feedback(course, book, student="s2", topic="residual", now=AFTER)
    html, md = html_path.read_text(), md_path.read_text()
    assert '<a href="https://example.edu/u7?a=1&amp;b=2#3">Unit 7 notes, §3 &lt;backprop&gt;</a>' in html
    assert "Review: [Unit 7 notes, §3 <backprop>](<https://example.edu/u7?a=1&b=2#3>)" in md
    assert html.count("Unit 7 notes") == 1  # only the backward check; other checks keep the shipped pointer
    assert "Review: Lecture notes week 5, §3.4" in re.sub("<[^>]+>", "", html)


def test_course_refuses_a_non_http_link(tmp_path):
    root = _course(tmp_path, '\n[material.review]\nresidual = { text = "x", url = "data:text/html,hi" }\n')
    with pytest.raises(CourseError, match=r"\[material\] review.residual: 'data:text/html,hi' is not an http\(s\)"):
        load_course(root)


def test_quiz_build_renames_course_documents(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("title: T\nseed: 1\ndraw:\n  - {ids: [opt-adam-defaults, over-large-lambda]}\n")
    material = tmp_path / "material.toml"
    material.write_text('[material.documents]\nlecture = "the week 5 slides"\nnotebook = "our lab notebook"\n')
    build_quiz(spec, tmp_path / "default", variants=1, formats="md")
    default = (tmp_path / "default" / "md" / "answer_key.md").read_text(encoding="utf-8")
    assert "the lecture's SimpleAdam" in default and "The notebook's table" in default
    result = CliRunner().invoke(quiz_cli, ["build", str(spec), "--variants", "1", "--out", str(tmp_path / "own"),
                                           "--format", "md", "--material", str(material)])
    assert result.exit_code == 0, result.output
    own = (tmp_path / "own" / "md" / "answer_key.md").read_text(encoding="utf-8")
    assert "the week 5 slides' SimpleAdam" in own and "Our lab notebook's table" in own
    assert "lecture" not in own.lower().replace("lecture notes", "")
    # the next build in the same process is back to the shipped names
    build_quiz(spec, tmp_path / "again", variants=1, formats="md")
    assert (tmp_path / "again" / "md" / "answer_key.md").read_text(encoding="utf-8") == default


def test_quiz_build_reports_a_bad_material_file(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("title: T\nseed: 1\ndraw:\n  - {ids: [opt-adam-defaults]}\n")
    bad = tmp_path / "bad.toml"
    bad.write_text('[material.review]\nresidual = { text = "x", url = "javascript:alert(1)" }\n')
    with pytest.raises(QuizError, match="only http:// and https:// links are allowed"):
        build_quiz(spec, tmp_path / "out", variants=1, formats="md", material=bad)
