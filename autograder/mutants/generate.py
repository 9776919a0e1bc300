"""Single-point mutants of a reference solution, inside its solution regions only.

Each mutant changes one expression or statement of the reference: the kind of mistake a
student makes (a swapped operator, an off-by-one, a dropped ``eps``, a missing
``.copy()``). The mutated text is spliced into the original source, so everything else
(comments, layout, the code outside ``# BEGIN SOLUTION`` / ``# END SOLUTION``) is kept.

A mutant's key is stable across edits elsewhere in the file: (function, original snippet,
mutated snippet, occurrence of that pair within the function). Declarations of
equivalent mutants use that key, never a line number or a sequence number.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass

BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"

ARITH_SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
               ast.Pow: ast.Mult}
COMPARE_SWAPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
                 ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
NAME_SWAPS = {"mean": "sum", "sum": "mean", "max": "min", "min": "max", "maximum": "minimum",
              "minimum": "maximum", "argmax": "argmin", "argmin": "argmax", "amax": "amin", "amin": "amax"}
EPS_NAME = re.compile(r"(^|_)(eps|epsilon|tiny)($|_)", re.IGNORECASE)
OPERATORS = ("arithmetic", "comparison", "constant", "drop-eps", "unary-sign", "axis", "keepdims", "reduction",
             "sqrt", "transpose", "copy", "return-local", "statement", "negate-condition", "off-by-one", "ddof")


@dataclass(frozen=True)
class Mutant:
    """One single-point change of the reference."""

    function: str      # qualified name of the enclosing function, e.g. "Adam.update"
    operator: str      # one of OPERATORS
    original: str      # the original snippet (ast.unparse of the changed node)
    mutated: str       # the mutated snippet
    occurrence: int    # how many earlier mutants of this function have the same (original, mutated)
    line: int          # 1-based line of the change in the reference
    before: str        # that line of the reference, stripped
    after: str         # the mutated line(s), stripped
    source: str        # the whole mutated module

    @property
    def key(self) -> tuple[str, str, str, int]:
        """The stable identity used by declarations and baselines."""
        return (self.function, self.original, self.mutated, self.occurrence)

    @property
    def ident(self) -> str:
        """A short stable id (a hash of the key), usable as a file or student name."""
        return "m" + hashlib.sha256(repr(self.key).encode()).hexdigest()[:10]


def solution_regions(source: str) -> list[tuple[int, int]]:
    """Line ranges (1-based, exclusive of the marker lines) between the solution markers."""
    regions, start = [], None
    for number, line in enumerate(source.splitlines(), 1):
        text = line.strip()
        if text.startswith(BEGIN):
            start = number
        elif text.startswith(END) and start is not None:
            regions.append((start + 1, number - 1))
            start = None
    return regions


def _is_eps(node: ast.AST) -> bool:
    """An eps-like term: a small positive constant or a variable named like eps."""
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return 0 < abs(node.value) < 1e-3
    return isinstance(node, ast.Name) and bool(EPS_NAME.search(node.id))


def _num(value: float | int) -> ast.expr:
    return ast.UnaryOp(ast.USub(), ast.Constant(-value)) if value < 0 else ast.Constant(value)


def _plus(node: ast.expr, delta: int) -> ast.expr:
    """``node + delta`` (constants folded), for off-by-one mutants."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return _num(node.value + delta)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant) \
            and type(node.operand.value) is int:
        return _num(-node.operand.value + delta)
    return ast.BinOp(copy.deepcopy(node), ast.Add() if delta > 0 else ast.Sub(), ast.Constant(abs(delta)))


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _constant_variants(value: int | float) -> list[int | float]:
    if type(value) is int:
        return [value + 1, value - 1]
    if value == 0.0:
        return [1.0]
    if value == 1.0:
        return [0.0, 2.0]
    if 0 < abs(value) < 1e-3:
        return [0.0, value * 10]
    return [value * 2, value / 2]


def _locals_of(func: ast.AST) -> list[str]:
    """Parameter and assigned names of a function, in order of first appearance."""
    names: list[str] = []
    if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
        args = func.args
        names += [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs if a.arg not in ("self", "cls")]
    for node in ast.walk(func):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id not in names:
            names.append(node.id)
    return names


class _Sites:
    """Walks a module in source order and yields (function, node, operator, replacement)."""

    def __init__(self, tree: ast.Module, regions: list[tuple[int, int]]) -> None:
        self.tree, self.regions = tree, regions

    def inside(self, node: ast.AST) -> bool:
        lo, hi = getattr(node, "lineno", 0), getattr(node, "end_lineno", 0)
        return any(a <= lo and hi <= b for a, b in self.regions)

    def walk(self) -> Iterator[tuple[str, ast.AST, str, ast.AST]]:
        yield from self._visit(self.tree, [], None)

    def _visit(self, node: ast.AST, scope: list[str], func: ast.AST | None,
               parent: ast.AST | None = None, field: str = "") -> Iterator[tuple[str, ast.AST, str, ast.AST]]:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            scope = scope + [node.name]
            if not isinstance(node, ast.ClassDef):
                func = node
        if func is not None and self.inside(node):
            for operator, replacement in self._mutations(node, func, parent, field):
                yield ".".join(scope), node, operator, replacement
        for name, value in ast.iter_fields(node):
            children = value if isinstance(value, list) else [value]
            for child in children:
                if isinstance(child, ast.AST):
                    yield from self._visit(child, scope, func, node, name)

    def _mutations(self, node: ast.AST, func: ast.AST, parent: ast.AST | None,
                   field: str) -> Iterator[tuple[str, ast.AST]]:
        def changed(**fields) -> ast.AST:
            new = copy.deepcopy(node)
            for k, v in fields.items():
                setattr(new, k, v)
            return new

        if isinstance(node, ast.BinOp):
            swap = ARITH_SWAPS.get(type(node.op))
            if swap:
                yield "arithmetic", changed(op=swap())
            if isinstance(node.op, (ast.Add, ast.Sub)):
                if _is_eps(node.right):
                    yield "drop-eps", copy.deepcopy(node.left)
                elif _is_eps(node.left) and isinstance(node.op, ast.Add):
                    yield "drop-eps", copy.deepcopy(node.right)
            if isinstance(node.op, ast.MatMult) and not (isinstance(node.right, ast.Attribute)
                                                         and node.right.attr == "T"):
                yield "transpose", changed(right=ast.Attribute(copy.deepcopy(node.right), "T", ast.Load()))
        elif isinstance(node, ast.AugAssign):
            swap = ARITH_SWAPS.get(type(node.op))
            if swap:
                yield "arithmetic", changed(op=swap())
        elif isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                swap = COMPARE_SWAPS.get(type(op))
                if swap:
                    ops = list(node.ops)
                    ops[i] = swap()
                    yield "comparison", changed(ops=ops)
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
            if not self._owned_elsewhere(parent, field):
                for value in _constant_variants(node.value):
                    yield "constant", _num(value)
        elif isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub) and not isinstance(node.operand, ast.Constant):
                yield "unary-sign", copy.deepcopy(node.operand)
            elif isinstance(node.op, ast.Not):
                yield "negate-condition", copy.deepcopy(node.operand)
        elif isinstance(node, ast.Attribute):
            if node.attr in NAME_SWAPS and isinstance(node.ctx, ast.Load):
                yield "reduction", changed(attr=NAME_SWAPS[node.attr])
            elif node.attr == "T":
                yield "transpose", copy.deepcopy(node.value)
        elif isinstance(node, ast.Call):
            yield from self._call_mutations(node)
        elif isinstance(node, (ast.If, ast.While)):
            yield "negate-condition", ast.UnaryOp(ast.Not(), copy.deepcopy(node.test))
        elif isinstance(node, ast.IfExp):
            yield "negate-condition", changed(test=ast.UnaryOp(ast.Not(), copy.deepcopy(node.test)))
        elif isinstance(node, ast.Slice):
            for part in ("lower", "upper"):
                bound = getattr(node, part)
                if bound is not None:
                    for delta in (1, -1):
                        yield "off-by-one", changed(**{part: _plus(bound, delta)})
        elif isinstance(node, ast.Return) and node.value is not None:
            yield from self._return_mutations(node, func)
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Raise)) and not (
                isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            yield "statement", ast.Pass()

    @staticmethod
    def _owned_elsewhere(parent: ast.AST | None, field: str) -> bool:
        """Constants that another operator mutates (axis, ddof, range bounds, slice bounds, -c)."""
        if isinstance(parent, ast.keyword) and parent.arg in ("axis", "ddof", "keepdims"):
            return True
        if isinstance(parent, ast.Slice):
            return True
        if isinstance(parent, ast.Call) and _call_name(parent) == "range" and field == "args":
            return True
        return isinstance(parent, ast.UnaryOp)

    def _call_mutations(self, node: ast.Call) -> Iterator[tuple[str, ast.AST]]:
        name = _call_name(node)
        if name == "sqrt" and len(node.args) == 1:
            yield "sqrt", copy.deepcopy(node.args[0])
        if name == "copy" and isinstance(node.func, ast.Attribute) and not node.args:
            yield "copy", copy.deepcopy(node.func.value)
        if name == "copy" and isinstance(node.func, ast.Attribute) and len(node.args) == 1:  # np.copy(x)
            yield "copy", copy.deepcopy(node.args[0])
        if name == "array" and isinstance(node.func, ast.Attribute):  # np.array copies, np.asarray may not
            new = copy.deepcopy(node)
            new.func.attr = "asarray"
            new.keywords = [k for k in new.keywords if k.arg != "copy"]
            yield "copy", new
        if name == "range":
            for i, arg in enumerate(node.args[:2]):
                for delta in (1, -1):
                    new = copy.deepcopy(node)
                    new.args[i] = _plus(arg, delta)
                    yield "off-by-one", new
        if name == "where" and node.args:
            new = copy.deepcopy(node)
            new.args[0] = ast.UnaryOp(ast.Invert(), copy.deepcopy(node.args[0]))
            yield "negate-condition", new
        for i, kw in enumerate(node.keywords):
            if kw.arg == "axis":
                value = kw.value.value if isinstance(kw.value, ast.Constant) else "expr"
                if isinstance(kw.value, ast.UnaryOp) and isinstance(kw.value.operand, ast.Constant):
                    value = -kw.value.operand.value
                others = {0: [1, None], 1: [0, None], -1: [0, None], None: [0]}.get(value, [None])
                for other in others:
                    new = copy.deepcopy(node)
                    if other is None:
                        del new.keywords[i]
                    else:
                        new.keywords[i].value = _num(other)
                    yield "axis", new
            elif kw.arg == "keepdims":
                new = copy.deepcopy(node)
                del new.keywords[i]
                yield "keepdims", new
            elif kw.arg == "ddof" and isinstance(kw.value, ast.Constant) and type(kw.value.value) is int:
                new = copy.deepcopy(node)
                new.keywords[i].value = ast.Constant(1 - kw.value.value)
                yield "ddof", new
        if name in ("var", "std") and not any(k.arg == "ddof" for k in node.keywords):
            new = copy.deepcopy(node)
            new.keywords.append(ast.keyword("ddof", ast.Constant(1)))
            yield "ddof", new

    @staticmethod
    def _return_mutations(node: ast.Return, func: ast.AST) -> Iterator[tuple[str, ast.AST]]:
        """Return another local instead of a returned name (``return x`` or an item of a returned tuple)."""
        local_names = _locals_of(func)
        value = node.value
        items = value.elts if isinstance(value, (ast.Tuple, ast.List)) else value.values \
            if isinstance(value, ast.Dict) else [value]
        for i, item in enumerate(items):
            if not (isinstance(item, ast.Name) and item.id in local_names):
                continue
            for other in [n for n in local_names if n != item.id][-2:]:  # the two latest other locals
                new = copy.deepcopy(node)
                target = new.value if len(items) == 1 and item is value else (
                    new.value.values if isinstance(value, ast.Dict) else new.value.elts)
                if target is new.value:
                    new.value = ast.Name(other, ast.Load())
                else:
                    target[i] = ast.Name(other, ast.Load())
                yield "return-local", new


ATOMIC = (ast.Name, ast.Attribute, ast.Call, ast.Subscript, ast.List, ast.Tuple, ast.Dict)
PRECEDENCE = {ast.Add: 1, ast.Sub: 1, ast.Mult: 2, ast.Div: 2, ast.FloorDiv: 2, ast.Mod: 2, ast.MatMult: 2, ast.Pow: 3}


def _needs_parens(node: ast.AST, replacement: ast.AST) -> bool:
    """Whether the spliced text must be parenthesized to keep its meaning in the original context."""
    if isinstance(replacement, ATOMIC) or (isinstance(replacement, ast.Constant) and not (
            isinstance(replacement.value, (int, float)) and replacement.value < 0)):
        return False
    if type(replacement) is type(node) and not isinstance(node, ast.BinOp):
        return False
    return not (isinstance(node, ast.BinOp) and isinstance(replacement, ast.BinOp)
                and PRECEDENCE.get(type(node.op)) == PRECEDENCE.get(type(replacement.op)))


def _splice(lines: list[bytes], node: ast.AST, text: str) -> str:
    """The source with ``node``'s span replaced by ``text`` (AST columns are UTF-8 byte offsets)."""
    first, last = node.lineno - 1, node.end_lineno - 1
    head = lines[first][:node.col_offset]
    tail = lines[last][node.end_col_offset:]
    out = lines[:first] + [head + text.encode() + tail] + lines[last + 1:]
    return b"".join(out).decode()


def generate_mutants(source: str, *, seed: int = 0, limit: int | None = None,
                     operators: tuple[str, ...] = OPERATORS) -> list[Mutant]:
    """Every single-point mutant of ``source`` inside its solution regions, in source order.

    With ``limit``, a sample of that many, drawn with ``seed`` (same seed, same sample);
    the full set does not depend on the seed.
    """
    tree = ast.parse(source)
    regions = solution_regions(source)
    lines = source.encode().splitlines(keepends=True)
    text_lines = source.splitlines()
    original_dump = ast.dump(tree)
    seen_sources: set[str] = set()
    counts: dict[tuple[str, str, str], int] = {}
    mutants: list[Mutant] = []
    for function, node, operator, replacement in _Sites(tree, regions).walk():
        if operator not in operators:
            continue
        ast.fix_missing_locations(replacement)
        mutated = ast.unparse(replacement)
        is_statement = isinstance(node, ast.stmt)
        if is_statement and isinstance(node, (ast.If, ast.While)):  # negate only the test
            target, text = node.test, mutated
        else:
            target = node
            text = mutated if is_statement or not _needs_parens(node, replacement) else f"({mutated})"
        original = ast.unparse(target)
        if isinstance(node, (ast.If, ast.While)):
            original = ast.unparse(node.test)
        new_source = _splice(lines, target, text)
        try:
            new_tree = ast.parse(new_source)
        except SyntaxError:
            continue
        if ast.dump(new_tree) == original_dump or new_source in seen_sources:
            continue
        seen_sources.add(new_source)
        pair = (function, original, mutated)
        occurrence = counts.get(pair, 0)
        counts[pair] = occurrence + 1
        after = new_source.splitlines()[target.lineno - 1].strip()  # the spliced span is one line now
        mutants.append(Mutant(function, operator, original, mutated, occurrence, target.lineno,
                              text_lines[target.lineno - 1].strip(), after, new_source))
    if limit is not None and limit < len(mutants):
        picked = sorted(random.Random(seed).sample(range(len(mutants)), limit))
        mutants = [mutants[i] for i in picked]
    return mutants
