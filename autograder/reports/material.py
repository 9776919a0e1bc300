"""Where in the course material each check's idea is taught, and how quizzes name the course's documents.

This is data the instructor controls. deepgrade ships today's references in material.toml beside
this module ("Lecture notes week 5, §1.5 ..."); a course overrides or extends them in
deepgrade.toml, and outside a course a file given with ``--material FILE`` does the same::

    [material]
    defaults = true            # keep the shipped references for what is not listed (false: only these)

    [material.review]          # feedback's "Review:" line for a failed check
    activations = "Unit 3 notes, §2"                      # the topic's fallback
    "activations.sigmoid_derivative" = { text = "Unit 3 notes, §2.4", url = "https://example.edu/u3#2.4" }

    [material.documents]       # names quiz questions use: {{ doc.lecture }} in a stem or explanation
    lecture = "the week 5 slides"

A review key is a topic, or ``topic.prefix`` for the checks whose id starts with prefix; the
longest matching prefix wins, and the course's own entries come before the shipped ones (a
course that sets ``activations`` points every activations check there). Pointers are text, not paths: students have the material, not this
repository's copy of it. A url becomes a link only when it is http or https; any other scheme is
refused when the material is loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

DEFAULT_FILE = Path(__file__).with_name("material.toml")
_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]*(\.[A-Za-z0-9_]+)?$")
_DOC_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_URL = re.compile(r"^https?://[^\s<>\"']+$", re.IGNORECASE)


class MaterialError(ValueError):
    """A [material] table or --material file that cannot be used; the message names where."""


@dataclass(frozen=True)
class Reference:
    """One place in the material: text to show and, optionally, an http(s) link."""

    text: str
    url: str = ""

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Material:
    """Review pointers by ``topic`` / ``topic.prefix`` and document names by key."""

    review: dict[str, Reference] = field(default_factory=dict)
    documents: dict[str, str] = field(default_factory=dict)
    fallback: Material | None = None  # consulted for checks this material's own entries do not cover

    def pointer(self, topic: str, check_id: str) -> Reference | None:
        """Where to review a check: the longest ``topic.prefix`` that starts check_id, else the topic's own;
        then the same in the fallback (the shipped references)."""
        best: tuple[int, Reference] | None = None
        for key, ref in self.review.items():
            t, _, prefix = key.partition(".")
            if t == topic and check_id.startswith(prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), ref)
        if best:
            return best[1]
        return self.fallback.pointer(topic, check_id) if self.fallback else None

    def over(self, base: Material) -> Material:
        """This material's entries first, base's for the rest (document names merged, these win)."""
        return Material(self.review, {**base.documents, **self.documents}, base)


def _reference(value: Any, where: str) -> Reference:
    if isinstance(value, str):
        text, url = value.strip(), ""
        if _URL.match(text):  # a bare link: show the address itself
            url = text
    elif isinstance(value, dict) and set(value) <= {"text", "url"} and "text" in value:
        text, url = str(value["text"]).strip(), str(value.get("url", "")).strip()
    else:
        raise MaterialError(f"{where}: give text, or {{text = \"...\", url = \"https://...\"}}")
    if not text:
        raise MaterialError(f"{where}: the text is empty")
    if url and not _URL.match(url):
        raise MaterialError(f"{where}: {url!r} is not an http(s) link; only http:// and https:// links are allowed")
    return Reference(text, url)


def parse_material(table: dict[str, Any], where: str) -> tuple[Material, bool]:
    """A [material] table as (material, keep_defaults); MaterialError names the bad key."""
    unknown = set(table) - {"defaults", "review", "documents"}
    if unknown:
        raise MaterialError(f"{where}: unknown key {sorted(unknown)[0]!r} (allowed: defaults, review, documents)")
    keep = table.get("defaults", True)
    if not isinstance(keep, bool):
        raise MaterialError(f"{where}: 'defaults' must be true or false")
    review_raw = table.get("review", {})
    docs_raw = table.get("documents", {})
    if not isinstance(review_raw, dict) or not isinstance(docs_raw, dict):
        raise MaterialError(f"{where}: [review] and [documents] are tables")
    review = {}
    for key, value in review_raw.items():
        if isinstance(value, dict) and "text" not in value:  # a dotted key read as a nested table
            for sub, v in value.items():
                review_raw_key = f"{key}.{sub}"
                review[review_raw_key] = _check_key(review_raw_key, v, where)
            continue
        review[key] = _check_key(key, value, where)
    documents = {}
    for key, value in docs_raw.items():
        if not _DOC_KEY.match(key) or not isinstance(value, str) or not value.strip():
            raise MaterialError(f"{where}: documents.{key} must be a lowercase name with some text")
        documents[key] = value.strip()
    return Material(review, documents), keep


def _check_key(key: str, value: Any, where: str) -> Reference:
    if not _KEY.match(key):
        raise MaterialError(f"{where}: review key {key!r} is not 'topic' or 'topic.check_prefix'")
    return _reference(value, f"{where} review.{key}")


@lru_cache(maxsize=1)
def default_material() -> Material:
    """The references deepgrade ships (material.toml beside this module)."""
    return parse_material(tomllib.loads(DEFAULT_FILE.read_text(encoding="utf-8")), str(DEFAULT_FILE))[0]


def material_from_table(table: dict[str, Any] | None, where: str) -> Material:
    """The material a course (or file) sets: the shipped defaults with its entries on top."""
    if not table:
        return default_material()
    own, keep = parse_material(table, where)
    return own.over(default_material()) if keep else own


def load_material_file(path: str | Path) -> Material:
    """A --material file: a TOML file with a [material] table (or the table's keys at top level)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MaterialError(f"{path}: cannot read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MaterialError(f"{path}: not valid TOML: {exc}") from None
    table = data.get("material", data)
    if not isinstance(table, dict):
        raise MaterialError(f"{path}: [material] must be a table")
    return material_from_table(table, f"{path} [material]")


def pointer(topic: str, check_id: str, material: Material | None = None) -> str:
    """The part of the course material a check is about, as text ('' when the topic has none)."""
    ref = (material or default_material()).pointer(topic, check_id)
    return ref.text if ref else ""


__all__ = ["Material", "MaterialError", "Reference", "default_material", "load_material_file",
           "material_from_table", "parse_material", "pointer"]
