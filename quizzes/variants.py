"""Rendering variants: a question's parameters drawn from a seed, its text and answers computed.

A variant depends only on (seed parts, question id), so it is the same on every
rebuild; rendering is cached by parameter values because many students share them.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import SecurityError

from . import codeoutput
from .errors import QuizError
from .model import Choice, Question, Tolerance, Variant
from .params import draw_all, rng_for, short_hash
from .render import evaluate, make_context, render_text

MAX_DRAWS = 200


def _fail(q: Question, key: str, exc: Exception, params: dict[str, Any]) -> QuizError:
    shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
    if isinstance(exc, SecurityError):
        message = f"sandbox refused {key!r}: {exc}"
    else:
        message = f"cannot evaluate {key!r}: {type(exc).__name__}: {exc}"
    if shown:
        message += f" (with {shown})"
    return QuizError(message, file=q.file, line=q.line_of(key), qid=q.id)


def _context(q: Question, params: dict[str, Any]) -> dict[str, Any]:
    ctx = make_context(params)
    for name, source in q.let:
        try:
            ctx[name] = evaluate(source, ctx)
        except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:
            raise _fail(q, "let", exc, params) from exc
    if q.code:
        _run_code(q, ctx, params)
    return ctx


# What a code question's expressions see besides its parameters: the printed values and how to
# compare and show them (numerically, never through NumPy's repr).
_CODE_HELPERS = {"same_output": codeoutput.same_output, "output_text": codeoutput.format_output,
                 "as_number": codeoutput.as_number}


def _run_code(q: Question, ctx: dict[str, Any], params: dict[str, Any]) -> None:
    """Render q's snippet, run it confined, and put what it printed into ctx (output = the last print)."""
    try:
        source = render_text(q.code, ctx)
        printed = codeoutput.run_snippet(source)
    except (TemplateError, codeoutput.SnippetError) as exc:
        raise _fail(q, "code", exc, params) from exc
    ctx.update(_CODE_HELPERS, code=source, outputs=printed, output=printed[-1])


def _satisfied(q: Question, ctx: dict[str, Any], params: dict[str, Any]) -> bool:
    for source in q.where:
        try:
            if not evaluate(source, ctx):
                return False
        except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:
            raise _fail(q, "where", exc, params) from exc
    return True


def collision(v: Variant) -> str | None:
    """Why a rendered variant is ambiguous, or None: a misconception or option equal (within
    tolerance) to the answer or to each other, or a tolerance so wide that 0 would pass."""
    tol = v.tolerance or Tolerance("rel", 1e-3)
    if v.answer is not None:
        abs_tol = tol.absolute(v.answer)
        if v.answer != 0 and abs_tol >= abs(v.answer):
            return f"tolerance ±{abs_tol:g} is as large as the answer {v.answer:g}: 0 would pass"
        seen = [v.answer]
        for value, _ in v.misconceptions:
            if tol.accepts(v.answer, value):
                return f"misconception {value:g} is within tolerance of the answer {v.answer:g}"
            if any(tol.accepts(o, value) or tol.accepts(value, o) for o in seen[1:]):
                return f"two misconceptions give the same value {value:g}"
            seen.append(value)
    valued = [(c.value, c.correct) for c in v.choices if c.value is not None]
    for i, (a, a_ok) in enumerate(valued):
        for b, b_ok in valued[i + 1:]:
            if tol.accepts(a, b) or tol.accepts(b, a):
                what = "a distractor equals the answer" if a_ok != b_ok else "two options have the same value"
                return f"{what} ({a:g} vs {b:g}) within tolerance"
    return None


def draw_params(q: Question, *seed_parts: object) -> tuple[tuple[str, Any], ...]:
    """The parameter values of q for this seed.

    Draws are repeated until q's 'where' constraints hold and the rendered variant is unambiguous
    (see collision), so no student ever gets a distractor equal to the answer.
    """
    if not q.params:
        return ()
    rng = rng_for(*seed_parts, q.id)
    reason = "'where' never held"
    for _ in range(MAX_DRAWS):
        params = draw_all(q.params, rng)
        if q.where and not _satisfied(q, _context(q, params), params):
            continue
        key = tuple(params.items())
        problem = collision(render_with_params(q, key))
        if problem is None:
            return key
        reason = problem
    raise QuizError(f"no usable parameter draw in {MAX_DRAWS} tries: {reason}", file=q.file,
                    line=q.line_of("where" if "where" in q.field_lines else "params"), qid=q.id)


def render_variant(q: Question, *seed_parts: object) -> Variant:
    """The variant of q for a seed (e.g. spec seed and student id)."""
    return render_with_params(q, draw_params(q, *seed_parts))


@lru_cache(maxsize=65536)
def render_with_params(q: Question, params_key: tuple[tuple[str, Any], ...]) -> Variant:
    """Render q for given parameter values: stem, options, answer, feedback, explanation."""
    params = dict(params_key)
    ctx = _context(q, params)
    key = "answer"
    try:
        answer = None
        if q.type == "numeric":
            answer = float(evaluate(q.answer, ctx))  # type: ignore[arg-type]
            if not math.isfinite(answer):
                raise ValueError(f"answer is {answer}")
            ctx["answer"] = answer
        key = "choices"
        choices = []
        for spec in q.choices:
            correct = spec.correct if isinstance(spec.correct, bool) else bool(evaluate(spec.correct, ctx))
            value = None if spec.value is None else float(evaluate(spec.value, ctx))
            choices.append(Choice(render_text(spec.text, ctx), correct, render_text(spec.feedback, ctx), value))
        key = "misconceptions"
        misconceptions = tuple((float(evaluate(m.value, ctx)), render_text(m.feedback, ctx))
                               for m in q.misconceptions)
        key = "pairs"
        prompts = tuple(render_text(p, ctx) for p in q.prompts)
        key = "stem"
        stem = render_text(q.stem, ctx)
        if q.code:  # the snippet is shown after the question, as a fenced block every format renders
            stem += "\n\n```\n" + ctx["code"] + "\n```"
        key = "explanation"
        explanation = render_text(q.explanation, ctx)
    except codeoutput.SnippetError as exc:
        raise _fail(q, "code" if key == "answer" else key, exc, params) from exc
    except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:
        raise _fail(q, key, exc, params) from exc
    return Variant(
        qid=q.id, vid=f"{q.id}@{short_hash(q.id, params_key)}" if params_key else q.id, topic=q.topic,
        type=q.type, difficulty=q.difficulty, points=q.points, stem=stem, explanation=explanation,
        choices=tuple(choices), answer=answer, tolerance=q.tolerance, misconceptions=misconceptions,
        params=params_key, shuffle=q.shuffle, prompts=prompts, matches=q.matches, code=ctx.get("code", ""),
    )


def choice_order(variant: Variant, shuffle: bool, *seed_parts: object) -> tuple[int, ...]:
    """The presented order of a variant's options (canonical indices), shuffled per seed when allowed.

    Ordering and matching questions are always shuffled, and never left in their right order
    (that order is the key), whatever the spec says.
    """
    n = len(variant.choices)
    arranged = variant.type in ("ordering", "matching")
    if (not arranged and (not shuffle or not variant.shuffle)) or n < 2:
        return tuple(range(n))
    order = tuple(int(i) for i in rng_for(*seed_parts, variant.qid, "choices").permutation(n))
    if arranged and _gives_key_away(variant, order):
        order = order[1:] + order[:1]  # a rotation is never the identity again (n >= 2)
    return order


def _gives_key_away(variant: Variant, order: tuple[int, ...]) -> bool:
    if variant.type == "ordering":
        return order == tuple(range(len(order)))
    # matching: prompt k's answer printed as letter k for every prompt
    return all(k < len(order) and order[k] == i for k, i in enumerate(variant.matches))
