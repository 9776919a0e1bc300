"""Winnowed fingerprints of Python source (the MOSS method, through copydetect) and the matched
regions of two of them.

copydetect does the fingerprinting: k-grams of the normalized token text, hashed and winnowed,
with the starter code's k-grams removed. The normalizing follows copydetect's rules (names
become ``V``, function names ``F``, class names ``O``, strings ``S``; comments and whitespace
are dropped) but is done here, because a highlight needs each normalized character's place in
the original text, and copydetect's own table misplaces everything after a class name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from copydetect import utils as cd
from pygments import token
from pygments.lexers.python import PythonLexer

# stripnl/ensurenl off: the lexer must see (and hand back) exactly the student's characters.
_LEXER = PythonLexer(stripnl=False, ensurenl=False)
_VARIABLE = {token.Name, token.Name.Variable, token.Name.Attribute}


def _letter(kind: object) -> str | None:
    if kind in _VARIABLE:
        return "V"
    if kind in token.Name.Function:
        return "F"
    if kind in token.Name.Class:
        return "O"
    if kind in (token.Comment.Preproc, token.Comment.Hashbang):
        return "P"
    return None


def normalize(code: str) -> tuple[str, np.ndarray]:
    """(normalized text, spans): spans[i] = (start, end) in ``code`` of what normalized character
    i stands for, so a match can be shown on the student's own lines."""
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    at = 0
    for kind, text in _LEXER.get_tokens(code):
        end = at + len(text)
        letter = _letter(kind)
        if letter is not None:
            out.append(letter)
            spans.append((at, end))
        elif kind in token.Text or kind in token.Comment:
            pass
        elif kind in token.Literal.String:
            # Quotes stay (as "), the rest of a string is one S, as in copydetect.
            out.append('"' if text in ("'", '"') else "S")
            spans.append((at, end))
        else:
            out.append(text)
            spans.extend((at + j, at + j + 1) for j in range(len(text)))
        at = end
    return "".join(out), np.array(spans, dtype=np.int64).reshape(-1, 2)


@dataclass
class Fingerprint:
    """One source's fingerprints, with what is needed to point back at its lines."""

    text: str  # the original source
    normalized: str
    spans: np.ndarray  # (start, end) in text of each normalized character
    hashes: np.ndarray  # int64 fingerprint per kept position, starter code removed, in position order
    positions: np.ndarray  # where each starts in the normalized text (ascending)
    coverage: int  # normalized characters the fingerprints cover: the denominator of similarity


def starter_hashes(stub: str, k: int) -> np.ndarray:
    """Every k-gram hash of the starter code: what no student is matched on."""
    normalized, _ = normalize(stub)
    if len(normalized) < k:
        return np.array([], dtype=np.int64)
    hashes, _ = cd.get_document_fingerprints(normalized, k, 1)
    return np.unique(np.fromiter(hashes, dtype=np.int64, count=len(hashes)))


def fingerprint(text: str, k: int, window: int, starter: np.ndarray) -> Fingerprint:
    """Winnowed k-gram fingerprints of ``text`` minus the starter code's."""
    normalized, spans = normalize(text)
    empty = np.array([], dtype=np.int64)
    if len(normalized) < k:  # too short to hold one k-gram
        return Fingerprint(text, normalized, spans, empty, empty, 0)
    _, by_hash = cd.get_document_fingerprints(normalized, k, window, starter)
    if not by_hash:
        return Fingerprint(text, normalized, spans, empty, empty, 0)
    pairs = sorted((int(p), int(h)) for h, ps in by_hash.items() for p in ps)
    positions = np.array([p for p, _ in pairs], dtype=np.int64)
    hashes = np.array([h for _, h in pairs], dtype=np.int64)
    return Fingerprint(text, normalized, spans, hashes, positions, covered(positions, k))


def covered(positions: np.ndarray, k: int) -> int:
    """Characters covered by k-grams starting at sorted ``positions`` (overlaps counted once)."""
    if positions.size == 0:
        return 0
    return int(np.minimum(np.diff(positions), k).sum()) + k


def shared_matrix(prints: list[Fingerprint], k: int) -> np.ndarray:
    """M[i, j] = normalized characters of source j also found in source i (M[i, i] = 0).

    One pass per source over every fingerprint of every source, vectorized: no pair is
    compared on its own, so 400 submissions take seconds, not minutes.
    """
    n = len(prints)
    hashes = np.concatenate([p.hashes for p in prints]) if n else np.array([], dtype=np.int64)
    positions = np.concatenate([p.positions for p in prints]) if n else np.array([], dtype=np.int64)
    owner = np.concatenate([np.full(p.hashes.size, j, dtype=np.int64) for j, p in enumerate(prints)]) \
        if n else np.array([], dtype=np.int64)
    out = np.zeros((n, n), dtype=np.int64)
    for i, p in enumerate(prints):
        if p.hashes.size == 0:
            continue
        hit = np.isin(hashes, np.unique(p.hashes))
        pos, who = positions[hit], owner[hit]
        if pos.size == 0:
            continue
        # Each matched k-gram adds the characters up to the next matched one of the same
        # source, at most k; the last one of each source adds k (the union of the k-grams).
        step = np.full(pos.size, k, dtype=np.int64)
        same = who[1:] == who[:-1]
        step[:-1][same] = np.minimum(np.diff(pos)[same], k)
        out[i] = np.bincount(who, weights=step, minlength=n).astype(np.int64)
        out[i, i] = 0
    return out


def _raw(slices: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """Normalized [start, end) slices -> [start, end) in the original text: from the first
    character's token to the last one's, never over the comments or blank lines around them."""
    if slices.size == 0 or spans.size == 0:
        return slices
    return np.vstack([spans[slices[0], 0], spans[slices[1] - 1, 1]])


def regions(a: Fingerprint, b: Fingerprint, k: int) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """The matched regions of a and of b as (start, end, block) in each original text.

    Regions that share a fingerprint get one block number, so a reader can find the other half.
    """
    shared = np.intersect1d(a.hashes, b.hashes)
    in_a, in_b = np.isin(a.hashes, shared), np.isin(b.hashes, shared)
    slices_a = cd.get_copied_slices(a.positions[in_a], k).astype(np.int64)
    slices_b = cd.get_copied_slices(b.positions[in_b], k).astype(np.int64)
    n_a = slices_a.shape[1]
    parent = list(range(n_a + slices_b.shape[1]))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if n_a:
        block_a = np.searchsorted(slices_a[0], a.positions[in_a], side="right") - 1
        block_b = n_a + np.searchsorted(slices_b[0], b.positions[in_b], side="right") - 1
        first_b: dict[int, int] = {}
        for h, j in zip(b.hashes[in_b].tolist(), block_b.tolist()):
            first_b.setdefault(h, j)
            parent[find(j)] = find(first_b[h])
        for h, i in zip(a.hashes[in_a].tolist(), block_a.tolist()):
            parent[find(i)] = find(first_b[h])
    roots: dict[int, int] = {}
    block = [roots.setdefault(find(i), len(roots)) for i in range(len(parent))]
    raw_a, raw_b = _raw(slices_a, a.spans), _raw(slices_b, b.spans)
    return ([(int(s), int(e), block[i]) for i, (s, e) in enumerate(zip(*raw_a))],
            [(int(s), int(e), block[n_a + i]) for i, (s, e) in enumerate(zip(*raw_b))])
