"""The one Jinja environment for everything deepgrade renders for a person."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

TEMPLATES = Path(__file__).resolve().parent / "templates"


@cache
def environment(autoescape: bool = True) -> jinja2.Environment:
    """Templates from ``autograder/templates``; HTML is escaped, Markdown and text are not."""
    import jinja2  # here, not at the top: grading a notebook imports this module and renders nothing

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "htm", "xml"]) if autoescape else False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(name: str, **context: Any) -> str:
    """Render template ``name`` with ``context``."""
    return environment().get_template(name).render(**context)
