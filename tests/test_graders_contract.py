"""Every hidden grader module keeps the contract: 100 points, named checks, valid visibility."""

from __future__ import annotations

import ast

import pytest

from autograder.grading import GRADERS_DIR, available_topics
from autograder.results import VISIBILITIES


def checks(topic: str) -> list[tuple[str, dict, str | None]]:
    """(name, markers, docstring) of every test function in a grader module, read statically."""
    tree = ast.parse((GRADERS_DIR / f"test_{topic}.py").read_text())
    found = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            marks = {d.func.attr: ast.literal_eval(d.args[0]) for d in node.decorator_list
                     if isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.args}
            found.append((node.name, marks, ast.get_docstring(node)))
    return found


def test_all_seven_topics_have_graders():
    assert available_topics() == ["activations", "initialization", "normalization", "residual", "clipping",
                                  "optimizers", "regularization"]


@pytest.mark.parametrize("topic", available_topics())
def test_points_total_100_and_every_check_is_named_and_visible_by_contract(topic):
    found = checks(topic)
    assert sum(marks.get("points", 0) for _, marks, _ in found) == 100
    for name, marks, doc in found:
        assert doc, f"{name} needs a docstring: its first line is the check's name"
        assert marks.get("points", 0) > 0, f"{name} has no points"
        assert marks.get("visibility", "visible") in VISIBILITIES, name
    visible = sum(marks.get("visibility", "visible") == "visible" for _, marks, _ in found)
    assert visible > len(found) / 2, "most checks should be visible to students"
