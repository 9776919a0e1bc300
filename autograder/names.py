"""Student-controlled names made safe where deepgrade puts them: file names and terminals.

Student ids come from folder names, which students (through an LMS download or an
unzipped archive) effectively choose. Three rules, decided once:

- ``student_id_from_folder``: a folder name that is not valid UTF-8 (a 0xff byte) becomes
  its UTF-8 text with the bad bytes written ``\\xff``, so every writer (CSV, JSON, SQLite,
  HTML) gets valid text.
- ``output_name``: an id is its own file name when it is a plain one (letters, digits and
  ``. _ @ + -``, starting with a letter or digit, at most 100 characters, not a name the
  batch writes such as ``grades.csv``); any other id becomes ``_<readable part>-<16 hex
  digits of its SHA-256>``. Plain names never start with ``_``, so the two kinds never
  collide, and the hash keeps encoded ids apart: the mapping is injective.
- ``printable``: control characters (ANSI escapes, carriage returns, bidi overrides) are
  shown escaped (``\\x1b``) in every terminal table and message.
"""

from __future__ import annotations

import hashlib
import re

# Names the batch writes next to student folders, and names some file systems reserve.
RESERVED = {"grades.csv", "summary.json"}
_DEVICE_NAMES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
_PLAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._@+-]{0,98}[A-Za-z0-9_@+-])?")
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]+")


def student_id_from_folder(name: str) -> str:
    """A folder name as a student id that is valid UTF-8 text (undecodable bytes as ``\\xNN``)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def output_name(student_id: str) -> str:
    """The file or folder name for a student's outputs (see the module docstring)."""
    lowered = student_id.lower()
    if _PLAIN.fullmatch(student_id) and lowered not in RESERVED and lowered.split(".")[0] not in _DEVICE_NAMES:
        return student_id
    readable = _UNSAFE.sub("-", student_id)[:40].strip("-.")
    digest = hashlib.sha256(student_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"_{readable}-{digest}" if readable else f"_{digest}"


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with every non-printable character (controls, format, surrogates) escaped."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)
