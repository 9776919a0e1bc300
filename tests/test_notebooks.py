"""Notebook submissions and notebook releases."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from autograder.build import STUB_HEADER, make_stub, topics
from autograder.demo import make_class
from autograder.grading import available_topics, grade_jobs, jobs_for_folder
from autograder.notebooks import (
    assignment_parts,
    clean_cell,
    is_test_cell,
    notebook_from_source,
    notebook_source,
    release_notebook,
)
from cli import main
from tests.conftest import SOLUTIONS, reference_source


def write_nb(folder: Path, name: str, cells: list) -> Path:
    """A notebook of ``cells``: strings are code cells, ("md", text) markdown cells."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(c[1]) if isinstance(c, tuple) else nbformat.v4.new_code_cell(c)
                for c in cells]
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / name))
    return folder / name


def grade_folder_results(folder: Path, topics_: list[str]) -> dict:
    results = grade_jobs(jobs_for_folder(folder, topics_), workers=2, hide=[folder])
    return {(r.student_id, r.topic): r for r in results}


# ---------------------------------------------------------------------------- notebook -> module


def test_ipython_lines_are_dropped_with_a_note_and_python_is_kept():
    code, dropped = clean_cell("%matplotlib inline\n!pip install numpy\nx = (1\n% 2)\nfor i in range(2):\n"
                               "    %time y = i\nnp.linspace?\n?np.sum\nfiles = !ls\ns = '''\n%kept\n'''\n")
    assert dropped == ["%matplotlib inline", "!pip install numpy", "%time y = i", "np.linspace?", "?np.sum",
                       "files = !ls"]
    ns: dict = {}
    exec(compile(code, "cell", "exec"), ns)  # still valid Python; the continuation and the string survived
    assert ns["x"] == 1 and "y" not in ns and ns["s"] == "\n%kept\n"
    assert clean_cell("%%bash\necho hi\n") == (None, ["%%bash"])
    body, dropped = clean_cell("%%time\nz = 3\n")
    assert "z = 3" in body and dropped == ["%%time"]
    _, dropped = clean_cell('s = """\n' + "%x\n" * 50_000)  # pathological: stays fast (bounded re-reading)
    assert len(dropped) > 40_000


def test_module_from_cells_hoists_future_imports_and_shims_display(tmp_path):
    path = write_nb(tmp_path, "t.ipynb", [("md", "# Title"), "import numpy as np",
                                          "from __future__ import annotations\ndef f(x: np.ndarray) -> int:\n    return 1",
                                          "display(f(0))"])
    module = notebook_source(nbformat.read(str(path), as_version=4), "t.ipynb")
    ns: dict = {}
    exec(compile(module.source, "t.py", "exec"), ns)  # future import first, display defined
    assert ns["f"].__annotations__["x"] == "np.ndarray" and module.code_cells == 3
    assert "# %% [cell 2]" in module.source and "# Title" not in module.source




def test_notebook_with_magics_demo_code_and_plots_grades_full_marks_in_the_sandbox(tmp_path):
    subs = tmp_path / "subs"
    reference = reference_source("activations").replace("from __future__ import annotations\n", "")
    write_nb(subs / "nora", "activations.ipynb", [
        ("md", "# My activations"), "%matplotlib inline\n!pip install numpy", reference,
        "for epoch in range(3):\n    print(f'epoch {epoch}: loss {1 / (epoch + 1):.3f}')",
    ])
    write_nb(subs / "pia", "activations.ipynb", [
        "%matplotlib inline", reference,
        "import matplotlib\nimport matplotlib.pyplot as plt\nimport numpy as np\nz = np.linspace(-5, 5, 50)\n"
        "plt.plot(z, sigmoid(z))\nplt.savefig('sigmoid.png')\nplt.show()\nprint('backend:', matplotlib.get_backend())",
    ])
    write_nb(subs / "bothy", "activations.ipynb", ["raise SystemExit('the notebook must not be graded')"])
    shutil.copy(SOLUTIONS / "activations.py", subs / "bothy" / "activations.py")
    results = grade_folder_results(subs, ["activations"])
    nora = results[("nora", "activations")]
    assert nora.score == nora.max_score == 100, nora.failures_text()
    assert "%matplotlib inline" in nora.output and "!pip install numpy" in nora.output
    assert "epoch 2: loss 0.333" in nora.output
    bothy = results[("bothy", "activations")]
    assert bothy.score == 100 and "both activations.py and activations.ipynb" in bothy.output
    pia = results[("pia", "activations")]
    assert pia.score == 100 and "backend: agg" in pia.output.lower(), pia.failures_text()


def test_unreadable_notebooks_score_zero_with_a_clear_message_and_the_batch_goes_on(tmp_path):
    subs = tmp_path / "subs"
    for student, data in {"jay": b'{"cells": [ oops', "kim": b'{"hello": "world"}',
                          "lou": b'{"cells": [{"cell_type": "code", "source": 42, "metadata": {}, "outputs": [], '
                                 b'"execution_count": null}], "nbformat": 4, "nbformat_minor": 5, "metadata": {}}',
                          "max": b"\x89PNG\r\n\x1a\n binary"}.items():
        (subs / student).mkdir(parents=True)
        (subs / student / "activations.ipynb").write_bytes(data)
    (subs / "ada").mkdir()
    shutil.copy(SOLUTIONS / "activations.py", subs / "ada" / "activations.py")
    results = grade_folder_results(subs, ["activations"])
    assert results[("ada", "activations")].score == 100
    for student, reason in {"jay": "not valid JSON", "kim": "not a Jupyter notebook", "lou": "malformed cell",
                            "max": "not valid JSON"}.items():
        r = results[(student, "activations")]
        assert r.score == 0 and reason in r.output, (student, r.output)
        assert all(reason in c.output for c in r.checks), r.failures_text()


def test_sample_class_notebooks_grade_exactly_as_their_py_versions(tmp_path):
    """Every sample student (and the references), every topic: .py and .ipynb, check by check."""
    class_dir = make_class(tmp_path)
    for student in sorted(p for p in class_dir.iterdir() if p.is_dir()):
        twin = class_dir / f"{student.name}-nb"
        twin.mkdir()
        for path in student.glob("*.py"):
            nbformat.write(notebook_from_source(path.read_text()), str(twin / f"{path.stem}.ipynb"))
    results = grade_folder_results(class_dir, available_topics())
    compared = 0
    for (student, topic), r in results.items():
        if student.endswith("-nb"):
            continue
        twin = results[(f"{student}-nb", topic)]
        assert [(c.check_id, c.score, c.status) for c in twin.checks] == \
               [(c.check_id, c.score, c.status) for c in r.checks], (student, topic)
        compared += 1
    assert compared == 6 * len(available_topics())
    assert results[("ada-nb", "activations")].score == 100


# ---------------------------------------------------------------------------- release


@pytest.mark.parametrize("topic", topics())
def test_release_notebook_is_the_stub_as_cells(topic):
    nb = release_notebook(topic)
    nbformat.validate(nb)
    stub = make_stub(reference_source(topic), topic).removeprefix(STUB_HEADER.format(topic=topic))
    stub_defs = {n.name: ast.dump(n) for n in ast.parse(stub).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    cells = [c for c in nb.cells if c.cell_type == "code"]
    function_cells = [c for c in cells if c.metadata["deepgrade"]["role"] == "function"]
    assert [c.metadata["deepgrade"]["name"] for c in function_cells] == list(stub_defs)
    for cell in function_cells:  # one cell per function or class, its docstring included
        (node,) = ast.parse(cell.source).body
        assert ast.dump(node) == stub_defs[node.name] and ast.get_docstring(node)
    module = notebook_source(nb, f"{topic}.ipynb")
    assert {n.name: ast.dump(n) for n in ast.parse(module.source).body
            if isinstance(n, (ast.FunctionDef, ast.ClassDef))} == stub_defs
    first_test = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and is_test_cell(c))
    assert first_test > nb.cells.index(function_cells[-1]) and module.skipped_test_cells >= 2
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


def test_release_notebook_public_tests_pass_on_the_reference():
    """The public-test cells run as written in a kernel-like namespace once the answers are in."""
    ns: dict = {"__name__": "__main__"}
    for part in assignment_parts("normalization", solution=True):
        if part.cell_type == "code":
            exec(compile(part.text, f"<{part.role} {part.name}>", "exec"), ns)
    assert any(k.startswith("test_batchnorm") for k in ns)


def test_release_command_writes_a_notebook_or_the_py_handout(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["release", "activations", "--format", "ipynb", "--out", str(tmp_path / "nb")])
    assert result.exit_code == 0, result.output
    nb = nbformat.read(str(tmp_path / "nb" / "activations.ipynb"), as_version=4)
    assert any(c.cell_type == "code" and "def sigmoid(" in c.source for c in nb.cells)
    result = runner.invoke(main, ["release", "activations", "--format", "py", "--out", str(tmp_path / "py")])
    assert result.exit_code == 0, result.output
    assert {p.name for p in (tmp_path / "py").iterdir()} == {"activations.py", "README.md", "test_activations.py"}
    bad = runner.invoke(main, ["release", "nonsense"])
    assert bad.exit_code != 0 and "unknown topic" in bad.output
