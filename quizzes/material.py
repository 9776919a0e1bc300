"""Course documents as quiz text names them, from data the instructor controls.

Bank text says ``{{ doc.lecture }}`` (or ``{{ doc.lecture | cap }}`` at the start of a sentence)
where it refers to a course document; the names come from the course material's [documents]
table (autograder/reports/material.toml ships today's names: "the lecture", "the notebook",
...). `deepgrade quiz build --material FILE` renames them for one build, e.g. for a course whose
notes are "the week 5 slides".
"""

from __future__ import annotations

from pathlib import Path

from autograder.reports.material import Material, MaterialError, default_material, load_material_file

from .errors import QuizError
from .render import set_documents


def default_documents() -> dict[str, str]:
    """The document names deepgrade ships."""
    return dict(default_material().documents)


def use_material(material: Material | str | Path | None) -> None:
    """Render bank text with this material's document names (None: the shipped ones)."""
    from .variants import render_with_params  # late: variants imports render

    if material is not None and not isinstance(material, Material):
        try:
            material = load_material_file(material)
        except MaterialError as exc:
            raise QuizError(str(exc)) from None
    # Document names always fall back to the shipped ones: bank text needs every name it uses.
    set_documents({**default_documents(), **(material.documents if material else {})})
    render_with_params.cache_clear()  # variants rendered with the old names must not be reused
