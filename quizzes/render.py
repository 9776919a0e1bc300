"""The sandbox that bank text and expressions run in, and the number formatting they share.

A bank file is data: its templates and expressions run in Jinja's
ImmutableSandboxedEnvironment, which refuses underscore attributes (so no
``''.__class__.__mro__``), mutation of lists and dicts, and every name that is
not in FUNCTIONS below. We also cap ``**`` so a bank cannot hang a build with
``10 ** 10 ** 10``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from .formulas import FUNCTIONS

MAX_POWER_EXPONENT = 1000


def fmt_num(x: Any, sig: int = 4) -> str:
    """A number as a student would write it: 4 significant digits, 1.2e-6 for very small or large."""
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    x = float(x)
    if not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if x == 0:
        return "0"
    if 1e-4 <= abs(x) < 1e6:
        text = f"{x:.{sig}g}"
        if "e" in text:  # .g switches to exponent form near 1e4 with small sig; force positional
            text = f"{x:.{max(0, sig - 1 - int(math.floor(math.log10(abs(x)))))}f}"
        return text
    mantissa, exp = f"{x:.{sig - 1}e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exp)}"


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def fmt_sci(x: Any, sig: int = 3) -> str:
    """A number in readable scientific form, 1.2 × 10⁻⁶; plain for moderate magnitudes."""
    x = float(x)
    if x == 0 or not math.isfinite(x) or 1e-3 <= abs(x) < 1e4:
        return fmt_num(x, sig)
    mantissa, exp = f"{x:.{sig - 1}e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    power = "10" + str(int(exp)).translate(_SUPERSCRIPT)
    return power if mantissa == "1" else f"{mantissa} × {power}"


def fmt_vec(xs: Sequence[Any], sig: int = 4) -> str:
    """A vector as [1, -2.5, 3]."""
    return "[" + ", ".join(fmt_num(x, sig) for x in xs) + "]"


def fmt_seq(xs: Sequence[Any], sig: int = 4) -> str:
    """A sequence as 1, 2.5, 3 (no brackets), for lists of losses or norms in prose."""
    return ", ".join(fmt_num(x, sig) for x in xs)


class BankSandbox(ImmutableSandboxedEnvironment):
    """ImmutableSandboxedEnvironment plus a cap on ``**`` exponents."""

    intercepted_binops = frozenset(["**"])

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, (int, float)) and abs(right) > MAX_POWER_EXPONENT:
                raise SecurityError(f"exponent {right} is larger than {MAX_POWER_EXPONENT}")
            return operator.pow(left, right)
        return super().call_binop(context, operator_name, left, right)


def _safe_range(*args: int) -> range:
    r = range(*args)
    if len(r) > 10_000:
        raise SecurityError("range is too large for a bank expression")
    return r


@lru_cache(maxsize=1)
def sandbox() -> BankSandbox:
    """The one sandboxed environment all bank text is compiled in."""
    env = BankSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
    env.globals.clear()  # drop Jinja's default range/dict/lipsum/cycler/joiner/namespace
    env.globals.update(FUNCTIONS)
    env.globals.update(
        sqrt=math.sqrt, exp=math.exp, tanh=math.tanh, log=math.log, log10=math.log10, abs=abs, min=min, max=max,
        sum=sum, len=len, round=round, int=int, float=float, range=_safe_range, pi=math.pi,
        isfinite=math.isfinite, sorted=sorted, zip=lambda *a: [list(t) for t in zip(*a, strict=False)],
    )
    env.filters.update(num=fmt_num, sci=fmt_sci, vec=fmt_vec, seq=fmt_seq, cap=_cap, poss=_possessive)
    return env


def _cap(text: Any) -> str:
    """First letter upper-cased, the rest kept (Jinja's capitalize would lower-case 'Q&A')."""
    text = str(text)
    return text[:1].upper() + text[1:]


def _possessive(text: Any) -> str:
    """'the lecture' -> "the lecture's", 'the week 5 slides' -> "the week 5 slides'"."""
    text = str(text)
    return text + ("'" if text.endswith("s") else "'s")


# How bank text names the course's documents: {{ doc.lecture }}. Set per build from the course's
# [material] table or a --material file (quizzes/material.py); the default is the shipped names.
_DOCUMENTS: dict[str, str] = {}


def set_documents(documents: dict[str, str]) -> None:
    """Use these document names in bank text from now on (callers clear the variant cache)."""
    _DOCUMENTS.clear()
    _DOCUMENTS.update(documents)


@lru_cache(maxsize=8192)
def compile_expression(source: str) -> Any:
    """Compile one sandboxed expression to a template that stores it in `result` (cached).

    This is what Environment.compile_expression does; keeping the Template lets evaluate() run
    it in a prepared context instead of rebuilding one (with every global) per call.
    """
    env = sandbox()
    env.parse("{{ " + source + " }}")  # syntax errors name the expression, not our wrapper
    return env.from_string("{% set result = " + source + " %}")


@lru_cache(maxsize=8192)
def compile_template(source: str) -> Any:
    """Compile one sandboxed text template (cached)."""
    return sandbox().from_string(source)


def make_context(values: dict[str, Any]) -> dict[str, Any]:
    """The variables a bank expression sees: the sandbox's functions plus the given values."""
    if not _DOCUMENTS:
        from .material import default_documents  # late: the defaults live with the course material

        _DOCUMENTS.update(default_documents())
    return {**sandbox().globals, "doc": dict(_DOCUMENTS), **values}


def evaluate(source: str | int | float | bool, context: dict[str, Any]) -> Any:
    """Evaluate a bank expression in a context from make_context; literals pass through unchanged."""
    if not isinstance(source, str):
        return source
    template = compile_expression(source)
    ctx = template.new_context(context, shared=True)
    for _ in template.root_render_func(ctx):
        pass
    return ctx.vars["result"]


def render_text(source: str, context: dict[str, Any]) -> str:
    """Render a bank text template in a context from make_context; plain text is returned as is."""
    if "{{" not in source and "{%" not in source and "{#" not in source:
        return source.strip()
    template = compile_template(source)
    return "".join(template.root_render_func(template.new_context(context, shared=True))).strip()


__all__ = [
    "SecurityError",
    "TemplateError",
    "compile_expression",
    "compile_template",
    "evaluate",
    "fmt_num",
    "fmt_sci",
    "fmt_seq",
    "fmt_vec",
    "render_text",
    "sandbox",
]
