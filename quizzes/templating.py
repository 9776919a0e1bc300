"""The Jinja environment for everything the quiz package renders (pages, keys, reports, feedback).

These are our own trusted templates, kept in quizzes/templates/ and sharing base.html.j2;
bank text never runs here, it arrives already rendered by the sandbox.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from .exports.text import html_block, html_inline, md_block, md_inline, plain
from .model import LETTERS
from .render import fmt_num

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


def _points(x: float) -> str:
    return f"{x:g} pt" if x == 1 else f"{x:g} pts"


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The shared template environment: HTML templates autoescaped, Markdown ones not."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )
    env.filters.update(para=html_block, inline=html_inline, md=md_block, mdi=md_inline, plain=plain,
                       mdcell=lambda t: md_inline(t, table=True),
                       num=fmt_num, points=_points)
    env.globals.update(LETTERS=LETTERS)
    return env


def render(template: str, **context: Any) -> str:
    """Render one of the package templates."""
    return environment().get_template(template).render(**context)
