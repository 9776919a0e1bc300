"""How students disguise a copy, as source-to-source edits: the planted cases of the similarity
tests and the submissions of bench/bench_similarity.py.

Each edit keeps the program valid Python and changes what a text diff sees; none of them
changes what the code does (inlining a helper is topic-specific and written out in the tests).
"""

from __future__ import annotations

import ast
import io
import keyword
import random
import tokenize

_KEEP = {"self", "cls", "np", "math", "rng"} | set(dir(__builtins__ if isinstance(__builtins__, dict) else
                                                        __builtins__))


def _local_names(source: str) -> set[str]:
    """Arguments and assigned names: what a student renames (not functions the graders call)."""
    tree = ast.parse(source)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    top = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    return {n for n in names - top - _KEEP if not keyword.iskeyword(n)}


def rename_identifiers(source: str, seed: int = 0) -> str:
    """Every argument and local variable gets a new name (consistently across the file)."""
    rnd = random.Random(seed)
    words = ["val", "tmp", "res", "acc", "cur", "arr", "buf", "item", "out", "data", "thing", "step"]
    mapping = {name: f"{rnd.choice(words)}_{i}" for i, name in enumerate(sorted(_local_names(source)))}
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    out = []
    for i, tok in enumerate(tokens):
        after_dot = i > 0 and tokens[i - 1].string == "."
        if tok.type == tokenize.NAME and tok.string in mapping and not after_dot:
            tok = tok._replace(string=mapping[tok.string])
        out.append(tok)
    return tokenize.untokenize(out)


def reorder_definitions(source: str, seed: int = 0) -> str:
    """Top-level functions and classes in another order (imports and constants stay first)."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    if len(defs) < 2:
        return source
    start = min((d.decorator_list[0].lineno if d.decorator_list else d.lineno) for d in defs) - 1
    head = lines[:start]
    chunks = ["".join(lines[(d.decorator_list[0].lineno if d.decorator_list else d.lineno) - 1:d.end_lineno]).rstrip()
              for d in defs]
    order = list(range(len(chunks)))
    rnd = random.Random(seed)
    while order == sorted(order):
        rnd.shuffle(order)
    return "".join(head) + "\n\n\n".join(chunks[i] for i in order) + "\n"


def restyle_comments(source: str, seed: int = 0) -> str:
    """Comments removed, other comments added, blank lines moved: the layout a diff notices."""
    rnd = random.Random(seed)
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type != tokenize.COMMENT]
    text = tokenize.untokenize(tokens)
    notes = ["# compute it step by step", "# edge case first", "# TODO: tidy up", "# see lecture notes",
             "# vectorized", "# keep the shapes straight"]
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue  # drop every blank line ...
        indent = line[: len(line) - len(line.lstrip())]
        if line.lstrip().startswith(("return ", "for ", "if ")) and rnd.random() < 0.5:
            out.append(f"{indent}{rnd.choice(notes)}")
        out.append(line.rstrip())
        if line.lstrip().startswith(("def ", "class ")) and rnd.random() < 0.3:
            out.append("")  # ... and put some where nobody puts them
    return "\n".join(out) + "\n"


def disguise(source: str, seed: int = 0) -> str:
    """All three edits at once."""
    return restyle_comments(reorder_definitions(rename_identifiers(source, seed), seed), seed)
