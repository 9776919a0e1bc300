"""Code-output questions: run a short NumPy snippet at build time and keep what it prints.

A bank question with ``code:`` shows the snippet and asks what it prints; its key is what the
snippet really printed when the quiz was built, so a key can never disagree with NumPy.

The snippet is bank data, so it runs confined by a statement allow-list, checked on the
parsed tree before anything runs:

- statements: assignments (also ``x[i] = ...`` and ``+=``), ``for`` (with break/continue),
  ``if``, and expression statements; no import, def, lambda, class, while, with, try, del,
  global, f-strings or names/attributes starting with ``_``;
- names: ``np`` (a few dozen NumPy functions, listed in NUMPY below, no I/O, no random state of
  its own), ``print`` and harmless builtins (``range``, ``len``, ``min``, ``max``, ``round``, ...);
- limits: every array a snippet creates holds at most MAX_ELEMENTS numbers, ``**`` exponents
  are capped, ``str * n`` and ``range`` are bounded, and the snippet may run at most MAX_LINES
  traced lines (a loop cannot hang a build).

What it prints is kept as values, not text: ``print(x)`` records x converted to plain Python
(floats, ints, bools, strings, nested lists, tuples for shapes). Keys and options are
compared numerically (same_output), and options are shown with our own formatter
(format_output), so neither depends on NumPy's repr or print options, which change between
NumPy versions.
"""

from __future__ import annotations

import ast
import builtins
import math
import sys
from collections.abc import Callable, Sequence
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

import numpy as np

MAX_ELEMENTS = 1000
MAX_LINES = 20_000
MAX_RANGE = 10_000
MAX_POWER_EXPONENT = 1000
SNIPPET_FILE = "<snippet>"


class SnippetError(ValueError):
    """A snippet that is not allowed, or that failed when run; names the snippet's line."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"code line {line}: {message}" if line else message)
        self.line = line


# --------------------------------------------------------------------------- the allow-list

_STATEMENTS = (ast.Module, ast.Assign, ast.AugAssign, ast.Expr, ast.For, ast.If, ast.Pass, ast.Break, ast.Continue)
_EXPRESSIONS = (
    ast.Name, ast.Constant, ast.Attribute, ast.Subscript, ast.Slice, ast.Tuple, ast.List, ast.Call,
    ast.keyword, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.ListComp,
    ast.comprehension, ast.Load, ast.Store,
)
_OPERATORS = (
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.MatMult, ast.USub, ast.UAdd,
    ast.Not, ast.And, ast.Or, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Is, ast.IsNot, ast.In,
    ast.NotIn,
)
_ALLOWED = _STATEMENTS + _EXPRESSIONS + _OPERATORS


def check(source: str) -> ast.Module:
    """Parse a snippet and refuse anything outside the allow-list (SnippetError names the line)."""
    try:
        tree = ast.parse(source, filename=SNIPPET_FILE)
    except SyntaxError as exc:
        raise SnippetError(f"syntax error: {exc.msg}", exc.lineno) from None
    names = set(_GLOBALS_NAMES)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", None)
        if not isinstance(node, _ALLOWED):
            raise SnippetError(f"{type(node).__name__} is not allowed in a quiz snippet "
                               "(allowed: assignments, for, if, expressions, print)", line)
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise SnippetError(f"name {node.id!r} is not allowed (no leading underscores)", line)
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise SnippetError(f"attribute {node.attr!r} is not allowed (no leading underscores)", line)
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            raise SnippetError("attributes cannot be assigned", line)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            if node.id in _GLOBALS_NAMES:
                raise SnippetError(f"{node.id!r} cannot be reassigned", line)
            names.add(node.id)
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)) and len(node.value) > 200:
            raise SnippetError("string constants are limited to 200 characters", line)
    if not any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"
               for n in ast.walk(tree)):
        raise SnippetError("the snippet prints nothing: end it with print(...)")
    return tree


class _Guard(ast.NodeTransformer):
    """Routes every binary operator and attribute read through bounded helpers.

    Applied after check(), so snippet code itself can never name the helpers (they start with '_').
    """

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        call = ast.Call(func=ast.Name("_dg_bin", ast.Load()),
                        args=[ast.Constant(type(node.op).__name__), node.left, node.right], keywords=[])
        return ast.copy_location(call, node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        target = node.target
        fields = {f: getattr(target, f) for f in target._fields}
        load = ast.copy_location(type(target)(**{**fields, "ctx": ast.Load()}), target)
        value = self.visit(ast.copy_location(ast.BinOp(load, node.op, node.value), node))
        self.generic_visit(target)
        return ast.copy_location(ast.Assign(targets=[target], value=value), node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        call = ast.Call(func=ast.Name("_dg_attr", ast.Load()), args=[node.value, ast.Constant(node.attr)],
                        keywords=[])
        return ast.copy_location(call, node)


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "Add": lambda a, b: a + b, "Sub": lambda a, b: a - b, "Mult": lambda a, b: a * b,
    "Div": lambda a, b: a / b, "FloorDiv": lambda a, b: a // b, "Mod": lambda a, b: a % b,
    "Pow": lambda a, b: a**b, "MatMult": lambda a, b: a @ b,
}


def _binop(op: str, a: Any, b: Any) -> Any:
    if op == "Pow" and isinstance(b, (int, float, np.number)) and abs(b) > MAX_POWER_EXPONENT:
        raise SnippetError(f"exponent {b} is larger than {MAX_POWER_EXPONENT}")
    if op == "Mult":
        for seq, n in ((a, b), (b, a)):
            if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_ELEMENTS:
                raise SnippetError(f"sequence repetition is limited to {MAX_ELEMENTS} elements")
    if op != "MatMult" and (isinstance(a, np.ndarray) or isinstance(b, np.ndarray)):
        try:  # broadcasting can multiply sizes: refuse before allocating
            shape = np.broadcast_shapes(np.shape(a), np.shape(b))
        except ValueError:
            shape = ()
        if math.prod(shape) > MAX_ELEMENTS:
            raise SnippetError(f"arrays are limited to {MAX_ELEMENTS} elements (broadcast to {shape})")
    return _BINOPS[op](a, b)


# Attributes a snippet may read: array properties and methods that neither write files nor grow arrays.
ARRAY_ATTRIBUTES = {
    "shape", "ndim", "size", "T", "sum", "mean", "max", "min", "argmax", "argmin", "std", "var", "reshape",
    "copy", "round", "clip", "dot", "item", "tolist", "flatten", "ravel", "cumsum", "prod", "astype", "all",
    "any", "transpose", "nonzero",
}
LIST_ATTRIBUTES = {"append", "index", "count"}


def _attr(obj: Any, name: str) -> Any:
    if isinstance(obj, SimpleNamespace) and name in vars(obj):
        return getattr(obj, name)
    if isinstance(obj, (np.ndarray, np.generic)) and name in ARRAY_ATTRIBUTES:
        return getattr(obj, name)
    if isinstance(obj, list) and name in LIST_ATTRIBUTES:
        return getattr(obj, name)
    raise SnippetError(f"attribute {name!r} of {type(obj).__name__} is not available in a quiz snippet")


# --------------------------------------------------------------------------- what a snippet sees

def _bounded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a NumPy function so no array it returns is larger than MAX_ELEMENTS."""

    def call(*args: Any, **kwargs: Any) -> Any:
        if fn.__name__ in _SHAPED:  # the shape arguments: refuse before allocating
            shape_args = [*args[:2 if fn.__name__ == "eye" else 1], kwargs.get("shape"), kwargs.get("N"),
                          kwargs.get("M")]
            size = math.prod(_size(a) for a in shape_args if a is not None)
            if fn.__name__ in ("eye", "identity") and len([a for a in shape_args if a is not None]) == 1:
                size *= size  # a square matrix
            if size > MAX_ELEMENTS:
                raise SnippetError(f"np.{fn.__name__}: arrays are limited to {MAX_ELEMENTS} elements")
        if fn.__name__ in ("arange", "linspace"):
            n = _range_length(fn.__name__, args, kwargs)
            if n > MAX_ELEMENTS:
                raise SnippetError(f"np.{fn.__name__}: arrays are limited to {MAX_ELEMENTS} elements")
        out = fn(*args, **kwargs)
        if isinstance(out, np.ndarray) and out.size > MAX_ELEMENTS:
            raise SnippetError(f"np.{fn.__name__}: arrays are limited to {MAX_ELEMENTS} elements")
        return out

    call.__name__ = fn.__name__
    return call


def _size(value: Any) -> int:
    """The number of elements a shape argument asks for (an array argument: its own size)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (tuple, list)) and all(isinstance(v, (int, np.integer)) for v in value):
        return math.prod(int(v) for v in value)
    return int(np.size(value))


def _range_length(name: str, args: tuple, kwargs: dict) -> float:
    if name == "linspace":
        return float(args[2] if len(args) > 2 else kwargs.get("num", 50))
    nums = [float(a) for a in args[:3]]
    if len(nums) == 1:
        return nums[0]
    step = nums[2] if len(nums) > 2 else 1.0
    return abs((nums[1] - nums[0]) / step) if step else math.inf


# Functions that take a shape: their integer arguments are checked before anything is allocated.
_SHAPED = {"zeros", "ones", "full", "eye", "identity", "zeros_like", "ones_like"}

NUMPY = (
    "array", "asarray", "zeros", "ones", "full", "eye", "identity", "zeros_like", "ones_like", "arange",
    "linspace", "sqrt", "exp", "log", "log10", "tanh", "abs", "maximum", "minimum", "where", "clip", "sum",
    "mean", "var", "std", "max", "min", "argmax", "argmin", "dot", "matmul", "outer", "round", "sign",
    "isclose", "allclose", "isnan", "isfinite", "all", "any", "cumsum", "prod", "square", "reshape",
    "concatenate", "stack", "percentile", "quantile", "median", "float64", "float32", "int64", "mean",
    "count_nonzero", "sort", "argsort", "transpose", "floor", "ceil",
)
_CONSTANTS = {"pi": math.pi, "e": math.e, "inf": math.inf, "nan": math.nan, "newaxis": None}


def _numpy_namespace() -> SimpleNamespace:
    ns = SimpleNamespace(**{name: _bounded(getattr(np, name)) for name in NUMPY}, **_CONSTANTS)
    ns.linalg = SimpleNamespace(norm=_bounded(np.linalg.norm))
    return ns


def _safe_range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_RANGE:
        raise SnippetError(f"range is limited to {MAX_RANGE} steps")
    return r


_BUILTINS = {name: getattr(builtins, name) for name in (
    "len", "min", "max", "abs", "round", "float", "int", "bool", "sum", "sorted", "list", "tuple", "zip",
    "enumerate", "str", "reversed", "any", "all", "isinstance",
)}
_GLOBALS_NAMES = {"np", "print", "range", "True", "False", "None", *_BUILTINS}


def _numpy_import(name: str, *args: Any, **kwargs: Any) -> Any:
    """NumPy's C code imports its helpers lazily through the running frame's __import__ (e.g. on
    ``x.mean()``); only NumPy's own modules are importable that way. Snippet code cannot call this:
    check() refuses every name that starts with '_'."""
    if name == "numpy" or name.startswith("numpy."):
        return builtins.__import__(name, *args, **kwargs)
    raise SnippetError(f"importing {name!r} is not allowed in a quiz snippet")


def plain(value: Any) -> Any:
    """A printed value as plain Python data: arrays become nested lists, NumPy scalars numbers."""
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise SnippetError(f"printed a {type(value).__name__}; print numbers, arrays, booleans, strings or shapes")


# --------------------------------------------------------------------------- running

@lru_cache(maxsize=4096)
def _run_cached(source: str) -> tuple[Any, ...]:
    tree = _Guard().visit(check(source))
    ast.fix_missing_locations(tree)
    code = compile(tree, SNIPPET_FILE, "exec")
    printed: list[Any] = []

    def capture(*values: Any, **_: Any) -> None:
        printed.append(plain(values[0]) if len(values) == 1 else tuple(plain(v) for v in values))

    env: dict[str, Any] = {
        "__builtins__": {**_BUILTINS, "range": _safe_range, "print": capture, "__import__": _numpy_import},
        "np": _numpy_namespace(), "_dg_bin": _binop, "_dg_attr": _attr,
    }
    lines = 0

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        nonlocal lines
        if frame.f_code.co_filename != SNIPPET_FILE:
            return None  # our helpers and NumPy's Python code are not counted
        if event == "line":
            lines += 1
            if lines > MAX_LINES:
                raise SnippetError(f"the snippet ran more than {MAX_LINES} lines", frame.f_lineno)
        return tracer

    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        with np.errstate(all="ignore"):
            exec(code, env)  # noqa: S102 - confined by check() and the names above
    except Exception as exc:  # a refused operation or the snippet's own error: report it on its line
        tb, line = exc.__traceback__, None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == SNIPPET_FILE:
                line = tb.tb_lineno
            tb = tb.tb_next
        if isinstance(exc, SnippetError):
            if exc.line is not None or line is None:
                raise
            raise SnippetError(str(exc), line) from None
        raise SnippetError(f"{type(exc).__name__}: {exc}", line) from None
    finally:
        sys.settrace(old)
    if not printed:
        raise SnippetError("the snippet printed nothing")
    return tuple(printed)


def run_snippet(source: str) -> list[Any]:
    """Run a snippet confined (see the module doc) and return what each print() call printed."""
    return list(_run_cached(source.strip("\n")))


# --------------------------------------------------------------------------- comparing and showing

def same_output(a: Any, b: Any, rtol: float = 1e-3, atol: float = 1e-9) -> bool:
    """Whether two printed values agree: same structure and shape, numbers within rtol (or atol).

    Used for choice options: an option is correct when the value it claims equals what the
    snippet printed at the precision options are shown with, whatever NumPy's repr looks like.
    """
    if isinstance(a, str) or isinstance(b, str) or a is None or b is None:
        return a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, (bool, int)) and isinstance(b, (bool, int)) and bool(a) == bool(b) \
            and isinstance(a, bool) == isinstance(b, bool)
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        if not (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple))) or len(a) != len(b):
            return False
        return all(same_output(x, y, rtol, atol) for x, y in zip(a, b))
    try:
        x, y = float(a), float(b)
    except (TypeError, ValueError):
        return False
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return abs(x - y) <= max(atol, rtol * max(abs(x), abs(y)))


def _fmt_number(x: Any, sig: int) -> str:
    from .render import fmt_num  # render imports this module's caller chain; import late

    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float) and math.isfinite(x) and x == int(x) and abs(x) < 1e6:
        return f"{int(x)}."  # NumPy prints 1.0 in an array as "1.": keep the float visible
    return fmt_num(x, sig)


def format_output(value: Any, sig: int = 4) -> str:
    """A printed value as the quiz shows it: [0.5, 0.7311], (4, 3), True, 0.25 (sig significant digits).

    Our own rendering, not NumPy's: the same on every NumPy version.
    """
    if isinstance(value, tuple):
        inner = ", ".join(format_output(v, sig) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(format_output(v, sig) for v in value) + "]"
    if isinstance(value, str):
        return value
    if value is None:
        return "None"
    return _fmt_number(value, sig)


def as_number(value: Any) -> float:
    """The printed value of a numeric code question as a float (a SnippetError if it is not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        shown = format_output(value) if not isinstance(value, Sequence) or len(value) < 20 else "a sequence"
        raise SnippetError(f"the snippet printed {shown}; a numeric question needs it to print one number")
    return float(value)


__all__ = ["SnippetError", "as_number", "check", "format_output", "plain", "run_snippet", "same_output"]
