"""Jupyter notebooks in and out of deepgrade.

In: a student's ``<topic>.ipynb`` becomes the module that is graded. Its code cells are
joined in order into one source file; IPython-only lines (``%magic``, ``%%cell magic``,
``!shell``, ``obj?``) are dropped with a note; cells marked as public tests are left out
(they are the instructor's, and deepgrade runs its own checks). Nothing runs here: the
module is imported in the sandbox like any ``.py`` submission, top-level demo code and
plots included (the worker's matplotlib backend is the non-interactive Agg). The
conversion itself runs in a limited child process (``autograder.intake``), never in the
grading process, since neither ``compile`` nor a regular expression can be interrupted.

Out: a topic's stub becomes a student notebook: instructions in markdown, one code cell
per function or class with its docstring, the public tests in cells after them.
"""

from __future__ import annotations

import ast
import io
import json
import re
import tokenize
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from autograder.render import render

# autograder.build (what releases need) is imported where it is used: grading a notebook
# imports this module for ``submission_module`` alone.

if TYPE_CHECKING:
    import nbformat

NOTEBOOK_MAX_BYTES = 20_000_000  # outputs (plots) make notebooks big; only the code is kept (intake enforces it)
TESTS_ROLE = "public-tests"  # cell metadata deepgrade.role of a public-test cell
# Cell magics whose body is plain Python: the body is kept, the magic line dropped.
PYTHON_BODY_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug"}
GENERAL = "general"  # owner of checks and tests that belong to no single function
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


class NotebookError(ValueError):
    """The file is not a readable Jupyter notebook."""


# ---------------------------------------------------------------------------- notebook -> module


def read_notebook(data: bytes | str, name: str = "notebook.ipynb") -> nbformat.NotebookNode:
    """Parse notebook JSON (any nbformat version, upgraded to 4); NotebookError if it is not one."""
    if len(data) > NOTEBOOK_MAX_BYTES:
        raise NotebookError(f"{name} is larger than {NOTEBOOK_MAX_BYTES // 1_000_000} MB")
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise NotebookError(f"{name} is not valid JSON ({exc})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells", raw.get("worksheets")), list):
        raise NotebookError(f"{name} is JSON but not a Jupyter notebook (no list of cells)")
    import nbformat

    try:
        with warnings.catch_warnings():  # nbformat's warnings (missing cell ids) are not the student's concern
            warnings.simplefilter("ignore")
            nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds on malformed input
        raise NotebookError(f"{name} is not a Jupyter notebook nbformat can read ({exc})") from None
    for cell in nb.cells:
        if not isinstance(cell.get("source", ""), str) or not isinstance(cell.get("cell_type"), str):
            raise NotebookError(f"{name} has a malformed cell (source must be text)")
    return nb


def is_test_cell(cell: nbformat.NotebookNode) -> bool:
    """A public-test cell: deepgrade's own marker, or an nbgrader autograder-tests cell."""
    meta = cell.get("metadata", {})
    if isinstance(meta.get("deepgrade"), dict) and meta["deepgrade"].get("role") == TESTS_ROLE:
        return True
    nbg = meta.get("nbgrader")
    return isinstance(nbg, dict) and bool(nbg.get("grade")) and not nbg.get("solution")


# Matched against a stripped line, so no two neighbouring quantifiers can match the same
# characters: each test is linear in the line's length (a million spaces cost a million steps).
_HELP_LINE = re.compile(r"\?{1,2}[\w.]+|[\w.]+\?{1,2}")  # obj? / obj?? / ?obj
_CAPTURED = re.compile(r"\w[\w, ]*=[ \t]*[!%]")  # files = !ls, t = %timeit ...


def _ipython_line(line: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(("%", "!")) or bool(_HELP_LINE.fullmatch(stripped) or _CAPTURED.match(stripped))


def _inside_statement(text: str) -> bool:
    """Does ``text`` (complete lines of code) end inside a bracket, string or backslash continuation?"""
    if text.rstrip("\n").endswith("\\"):
        return True
    try:
        for _ in tokenize.generate_tokens(io.StringIO(text).readline):
            pass
    except tokenize.TokenError:
        return True  # EOF in a multi-line statement or string
    except (SyntaxError, ValueError):
        return False
    return False


TOKENIZE_BUDGET = 2_000_000  # characters re-read per cell to tell a magic from a continuation line


def clean_cell(source: str) -> tuple[str | None, list[str]]:
    """A code cell as plain Python, or None when the whole cell is IPython-only; plus what was dropped."""
    lines = source.splitlines(keepends=True)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return "", []
    dropped: list[str] = []
    head = lines[first].strip()
    if head.startswith("%%"):
        magic = head[2:].split()[0] if head[2:].split() else ""
        if magic not in PYTHON_BODY_CELL_MAGICS:
            return None, [head]
        lines[first] = f"# (IPython) {head}\n"
        dropped.append(head)
    out: list[str] = []
    settled = 0  # out[:settled] ends at a statement boundary: only what follows needs reading
    budget = TOKENIZE_BUDGET
    for line in lines:
        if _ipython_line(line):
            pending = "".join(out[settled:])
            budget -= len(pending)
            # Past the budget (a pathological cell) the line is taken for a magic without looking back.
            if budget < 0 or not _inside_statement(pending):
                indent = line[: len(line) - len(line.lstrip())]
                # `pass` keeps an indented block valid where a magic was its only line.
                out.append(f"{indent}pass  # (IPython) {line.strip()}\n")
                dropped.append(line.strip())
                settled = len(out)
                continue
        out.append(line)
    return "".join(out), dropped


@dataclass
class ExtractedModule:
    """A notebook's code as a module, and what the student should be told about it."""

    source: str
    dropped: list[str] = field(default_factory=list)  # "cell 3: %matplotlib inline"
    skipped_test_cells: int = 0
    code_cells: int = 0


def notebook_source(nb: nbformat.NotebookNode, name: str = "notebook.ipynb") -> ExtractedModule:
    """Join the code cells of ``nb`` into module source (public-test cells left out)."""
    parts = [f"# The code cells of {name}, extracted by deepgrade (markdown and IPython-only lines left out).\n"]
    result = ExtractedModule("")
    for number, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        if is_test_cell(cell):
            result.skipped_test_cells += 1
            continue
        code, dropped = clean_cell(cell.source)
        result.dropped += [f"cell {number}: {d}" for d in dropped]
        if code is None:
            continue
        result.code_cells += 1
        parts.append(f"\n# %% [cell {number}]\n{code.rstrip()}\n")
    source = "".join(parts)
    source = _hoist_future_imports(source)
    result.source = _with_display_shim(source)
    return result


_FUTURE = re.compile(r"from __future__ import [\w, ()]+")  # fullmatch on a stripped line: linear


def _hoist_future_imports(source: str) -> str:
    """Jupyter compiles each cell alone, so a `from __future__` import may sit in any cell;
    a module needs it first."""
    if "__future__" not in source:  # nothing to move; skips compiling the whole notebook
        return source
    try:
        compile(source, "<notebook>", "exec", dont_inherit=True)  # the placement is checked by the compiler
        return source
    except SyntaxError as exc:
        if "__future__" not in str(exc.msg):
            return source
    except (RecursionError, MemoryError, ValueError):
        return source  # too deep or too big to compile: importing it in the sandbox says so
    lines = source.splitlines(keepends=True)
    moved = [not line[:1].isspace() and bool(_FUTURE.fullmatch(line.strip())) for line in lines]
    future = [line for line, m in zip(lines, moved) if m]
    rest = ["pass  # (moved to the top)\n" if m else line for line, m in zip(lines, moved)]
    return rest[0] + "".join(future) + "".join(rest[1:])


def _with_display_shim(source: str) -> str:
    """IPython's `display` is a builtin in Jupyter; outside it, demo code calling it must not fail."""
    if "display" not in source:  # no name `display` anywhere; skips parsing the whole notebook
        return source
    try:
        tree = ast.parse(source)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return source  # the import in the sandbox reports the error to the student
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    if "display" not in used:
        return source
    defined = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    for n in ast.walk(tree):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            defined |= {(a.asname or a.name).split(".")[0] for a in n.names}
    if "display" in defined:
        return source
    body = tree.body
    i = 0
    while i < len(body) and (_is_docstring(body, i) or
                             (isinstance(body[i], ast.ImportFrom) and body[i].module == "__future__")):
        i += 1
    line = min([body[i].lineno, *(d.lineno for d in getattr(body[i], "decorator_list", []))]) if i < len(body) \
        else len(source.splitlines()) + 1
    lines = source.splitlines(keepends=True)
    shim = "def display(*objs, **kwargs): print(*objs)  # stands in for IPython's display outside Jupyter\n"
    return "".join(lines[: line - 1]) + shim + "".join(lines[line - 1:])


def _is_docstring(body: list[ast.stmt], i: int) -> bool:
    node = body[i]
    return i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
        and isinstance(node.value.value, str)


class _Cell(dict):
    """A notebook cell read as plain JSON, with NotebookNode's attribute access."""

    __getattr__ = dict.__getitem__


class _Notebook:
    def __init__(self, cells: list[_Cell]) -> None:
        self.cells = cells


def _read_v4_json(data: bytes | str) -> _Notebook | None:
    """An nbformat 4 notebook read as plain JSON, without nbformat (importing it and its
    validator costs ~0.3 s per grading process); None where nbformat must read it (another
    version, or anything unusual), so both readers agree on what they accept."""
    if len(data) > NOTEBOOK_MAX_BYTES:
        return None
    try:
        raw = json.loads(data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(raw, dict) or raw.get("nbformat") != 4 or not isinstance(raw.get("cells"), list):
        return None
    cells = []
    for cell in raw["cells"]:
        if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str):
            return None
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(line, str) for line in source):
            source = "".join(source)
        if not isinstance(source, str) or not isinstance(cell.get("metadata", {}), dict):
            return None
        cells.append(_Cell(cell, source=source, metadata=cell.get("metadata", {})))
    return _Notebook(cells)


def submission_module(data: bytes, name: str) -> tuple[str, str]:
    """Module source for notebook ``data``, and a note for the student (NotebookError if unreadable)."""
    nb = _read_v4_json(data)
    extracted = notebook_source(nb if nb is not None else read_notebook(data, name), name)
    notes = [f"graded the {extracted.code_cells} code cell(s) of {name}"]
    if extracted.skipped_test_cells:
        notes.append(f"{extracted.skipped_test_cells} public-test cell(s) left out (the graders run their own checks)")
    if extracted.dropped:
        shown = "; ".join(extracted.dropped[:8]) + ("; ..." if len(extracted.dropped) > 8 else "")
        notes.append(f"IPython-only lines dropped (they do not run outside Jupyter): {shown}")
    return extracted.source, "; ".join(notes)


# ---------------------------------------------------------------------------- module -> cells


@dataclass
class Segment:
    """A run of top-level source: the module docstring, one def/class, or other statements."""

    kind: str  # "docstring", "def" or "code"
    name: str | None
    text: str


def source_segments(source: str) -> list[Segment]:
    """Split module source at top-level statements: one segment per function or class,
    consecutive other statements together. Comments go with the statement after them."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    segments: list[Segment] = []
    start = 0  # first line (0-based) not yet in a segment
    for i, node in enumerate(tree.body):
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))]) - 1
        end = node.end_lineno or node.lineno
        while end < len(lines) and re.match(r"^[ \t]+#", lines[end]):
            end += 1  # indented comments after the last statement (`# END SOLUTION`) belong to it
        if _is_docstring(tree.body, i):
            kind, name = "docstring", None
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            kind, name = "def", node.name
        else:
            kind, name = "code", None
        text = "".join(lines[start:end]) if kind != "docstring" else "".join(lines[first:end])
        if kind == "code" and segments and segments[-1].kind == "code" and not "".join(lines[start:first]).strip():
            segments[-1].text += text  # imports and constants stay together
        else:
            segments.append(Segment(kind, name, text.strip("\n") + "\n"))
        start = end
    tail = "".join(lines[start:]).strip()
    if tail:  # trailing comments
        segments.append(Segment("code", None, tail + "\n"))
    return segments


def notebook_from_source(source: str) -> nbformat.NotebookNode:
    """A notebook with one code cell per top-level segment of ``source`` (nothing dropped)."""
    import nbformat

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
    nb.cells = [nbformat.v4.new_code_cell(s.text.rstrip("\n")) for s in source_segments(source)]
    return nb


def normalized(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _words(name: str) -> set[str]:
    return set(re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower().split("_")) - {""}


def owner_of(test_name: str, used: set[str], names: list[str]) -> str:
    """The function or class a check or public test belongs to.

    The rule: the longest of ``names`` that the test's name contains (case and
    underscores ignored, so `adaptive_clipper_warmup` belongs to `AdaptiveClipper`);
    else the only one of ``names`` the test uses; else the only one it uses that shares
    a word with the test's name (`backward_dx` and `residual_backward`); else ``general``.
    """
    key = normalized(test_name)
    contained = [n for n in names if normalized(n) and normalized(n) in key]
    if contained:
        return max(contained, key=lambda n: len(normalized(n)))
    users = [n for n in names if n in used]
    if len(users) == 1:
        return users[0]
    sharing = [n for n in users if _words(n) & _words(test_name)]
    return sharing[0] if len(sharing) == 1 else GENERAL


def public_names(topic: str) -> list[str]:
    """The topic's public top-level functions and classes, in source order."""
    from autograder.build import SOLUTIONS, api_items

    return [i.signature.split("(")[0] for i in api_items((SOLUTIONS / f"{topic}.py").read_text())
            if "." not in i.signature.split("(")[0]]


# ---------------------------------------------------------------------------- the assignment notebook


@dataclass
class Part:
    """One cell of an assignment notebook, before it gets format-specific metadata."""

    role: str  # "intro", "heading", "setup", "function", "code", "test-helpers", "tests"
    name: str | None
    text: str
    cell_type: str = "code"


def _public_tests(topic: str, names: list[str]) -> tuple[str, dict[str, list[str]]]:
    """The public tests as notebook code: (helpers cell, owner -> test cells' code)."""
    from autograder.build import ASSIGNMENTS

    path = ASSIGNMENTS / topic / f"test_{topic}.py"
    if not path.exists():
        return "", {}
    source = path.read_text()
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    helpers: list[str] = []
    tests: dict[str, list[str]] = {}
    for i, node in enumerate(tree.body):
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))]) - 1
        text = "".join(lines[first:node.end_lineno])
        if _is_docstring(tree.body, i):
            continue
        if isinstance(node, ast.ImportFrom) and node.module in (topic, "__future__"):
            continue  # the notebook defines the functions itself
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            owner = owner_of(node.name.removeprefix("test_"), used, names)
            tests.setdefault(owner, []).append(text.rstrip("\n") + "\n" + _call(node) + "\n")
        else:
            helpers.append(text.rstrip("\n") + "\n")
    return "\n\n".join(helpers), tests


def _call(node: ast.FunctionDef) -> str:
    """How a cell runs one pytest test function: a plain call, or a loop over its parameters."""
    for dec in node.decorator_list:
        if isinstance(dec, ast.Call) and ast.unparse(dec.func).endswith("mark.parametrize") and len(dec.args) >= 2:
            argnames = ast.literal_eval(dec.args[0])
            argnames = [a.strip() for a in argnames.split(",")] if isinstance(argnames, str) else list(argnames)
            values = ast.unparse(dec.args[1])
            if len(argnames) == 1:
                return f"for {argnames[0]} in {values}:\n    {node.name}({argnames[0]})\nprint('{node.name} passed')"
            joined = ", ".join(argnames)
            return f"for {joined} in {values}:\n    {node.name}({joined})\nprint('{node.name} passed')"
    return f"{node.name}()\nprint('{node.name} passed')"


def solution_text(topic: str) -> str:
    """The reference with nbgrader's solution delimiters (`### BEGIN SOLUTION`)."""
    from autograder.build import BEGIN, END, SOLUTIONS

    source = (SOLUTIONS / f"{topic}.py").read_text()
    lines = []
    for line in source.splitlines(keepends=True):
        m = BEGIN.match(line)
        if m:
            line = f"{m.group('indent')}### BEGIN SOLUTION\n"
        elif END.match(line):
            line = line[: len(line) - len(line.lstrip())] + "### END SOLUTION\n"
        lines.append(line)
    return "".join(lines)


def assignment_parts(topic: str, *, solution: bool = False) -> list[Part]:
    """The cells of ``topic``'s notebook: the stub's (or, with ``solution``, the reference's) code."""
    from autograder.build import SOLUTIONS, STUB_HEADER, make_stub

    reference = (SOLUTIONS / f"{topic}.py").read_text()
    stub = make_stub(reference, topic, f"solutions/{topic}.py").removeprefix(STUB_HEADER.format(topic=topic))
    stub_segments = source_segments(stub)
    segments = source_segments(solution_text(topic)) if solution else stub_segments
    if [(s.kind, s.name) for s in segments] != [(s.kind, s.name) for s in stub_segments]:
        raise ValueError(f"solutions/{topic}.py has a solution block outside any function; "
                         "a notebook needs every block inside a function or class")
    names = public_names(topic)
    doc = ast.get_docstring(ast.parse(reference)) or topic
    title, _, body = doc.partition("\n")
    parts = [Part("intro", None, render("notebook_intro.md.j2", topic=topic, title=title.strip(),
                                        body=body.strip()).strip(), "markdown")]
    setup_done = False
    for seg in segments:
        if seg.kind == "docstring":
            continue
        if seg.kind == "def" and seg.name in names:
            parts.append(Part("heading", seg.name, f"### `{seg.name}`", "markdown"))
            parts.append(Part("function", seg.name, seg.text.rstrip("\n")))
        else:
            parts.append(Part("code" if setup_done else "setup", seg.name, seg.text.rstrip("\n")))
            setup_done = True
    helpers, tests = _public_tests(topic, names)
    parts.append(Part("heading", None, render("notebook_tests.md.j2", topic=topic).strip(), "markdown"))
    if helpers:
        parts.append(Part("test-helpers", None, helpers.rstrip("\n")))
    for owner in [*names, GENERAL]:
        if owner in tests:
            parts.append(Part("tests", owner, "\n\n".join(tests[owner]).rstrip("\n")))
    return parts


def answered_notebook(released: nbformat.NotebookNode, source: str) -> nbformat.NotebookNode:
    """The released notebook with a student's module pasted in: their version of each function
    cell, and their other top-level code (imports, helpers) in the setup cell. For tests and
    benchmarks that need what a student would hand in."""
    import nbformat

    nb = nbformat.from_dict(released)
    segments = source_segments(source)
    defs = {s.name: s.text for s in segments if s.kind == "def"}
    for cell in nb.cells:
        role = cell.metadata.get("deepgrade", {}).get("role")
        if role == "function":
            cell.source = defs.pop(cell.metadata["deepgrade"]["name"])
        elif role == "setup":
            cell.source = "\n".join(s.text for s in segments if s.kind == "code")
    setup = next(c for c in nb.cells if c.metadata.get("deepgrade", {}).get("role") == "setup")
    setup.source += "\n\n" + "\n\n".join(defs.values())  # private helpers the answers call
    return nb


def release_notebook(topic: str) -> nbformat.NotebookNode:
    """The student notebook for ``topic``: the stub as cells, then the public tests."""
    import nbformat

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
    for part in assignment_parts(topic):
        make = nbformat.v4.new_markdown_cell if part.cell_type == "markdown" else nbformat.v4.new_code_cell
        nb.cells.append(make(part.text, metadata=deepgrade_metadata(part)))
    return nb


def deepgrade_metadata(part: Part) -> dict:
    """Cell metadata naming the cell's role, so grading can leave the public tests out."""
    role = TESTS_ROLE if part.role in ("tests", "test-helpers") else part.role
    meta = {"role": role, **({"name": part.name} if part.name else {})}
    return {"deepgrade": meta}


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> Path:
    """Validate and write a notebook (folders created)."""
    import nbformat

    nbformat.validate(nb)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def release(topic: str, out_dir: Path, fmt: str = "ipynb") -> list[Path]:
    """Write what students get for ``topic``: the notebook, or the stub, README and public tests."""
    from autograder.build import ASSIGNMENTS, expected_files

    out_dir = Path(out_dir)
    if fmt == "ipynb":
        return [write_notebook(release_notebook(topic), out_dir / f"{topic}.ipynb")]
    if fmt != "py":
        raise ValueError(f"unknown format {fmt!r}: choose ipynb or py")
    written = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for path, text in expected_files(topic).items():
        written.append(out_dir / path.name)
        written[-1].write_text(text)
    tests = ASSIGNMENTS / topic / f"test_{topic}.py"
    if tests.exists():
        written.append(out_dir / tests.name)
        written[-1].write_text(tests.read_text())
    return written
