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


_KINDS: dict[object, str] = {}  # token type -> what it becomes; pygments' `in` walks the type tree


def _kind(kind: object) -> str:
    """'V', 'F', 'O', 'P' (one letter for the token), '' (dropped), 'S' (a string) or 'T' (kept)."""
    found = _KINDS.get(kind)
    if found is None:
        if kind in _VARIABLE:
            found = "V"
        elif kind in token.Name.Function:
            found = "F"
        elif kind in token.Name.Class:
            found = "O"
        elif kind in (token.Comment.Preproc, token.Comment.Hashbang):
            found = "P"
        elif kind in token.Text or kind in token.Comment:
            found = ""
        elif kind in token.Literal.String:
            found = "S"
        else:
            found = "T"
        _KINDS[kind] = found
    return found


def normalize(code: str) -> tuple[str, np.ndarray]:
    """(normalized text, spans): spans[i] = (start, end, token start) in ``code`` of what normalized
    character i stands for, so a match can be shown on the student's own lines."""
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    tokens: list[int] = []
    at = 0
    for _, kind, text in _LEXER.get_tokens_unprocessed(code):
        end = at + len(text)
        what = _kind(kind)
        if what == "T":
            out.append(text)
            starts.extend(range(at, end))
            ends.extend(range(at + 1, end + 1))
            tokens.extend([at] * len(text))
        elif what:
            # Quotes stay (as "), the rest of a string is one S, as in copydetect.
            out.append('"' if what == "S" and text in ("'", '"') else what)
            starts.append(at)
            ends.append(end)
            tokens.append(at)
        at = end
    return "".join(out), np.array([starts, ends, tokens], dtype=np.int64).T.reshape(-1, 3)


@dataclass
class Fingerprint:
    """One source's fingerprints, with what is needed to point back at its lines."""

    text: str  # the original source
    normalized: str
    spans: np.ndarray  # (start, end, token start) in text of each normalized character
    hashes: np.ndarray  # int64 fingerprint per kept position, starter code removed, in position order
    positions: np.ndarray  # where each starts in the normalized text (ascending)
    own: np.ndarray  # own[i] = normalized characters before i that are the student's, not the starter's
    coverage: int  # the student's own characters the fingerprints cover: the denominator of similarity


GIVEN_RUN = 12  # normalized characters: a stretch of the starter code at least this long is given


@dataclass(frozen=True)
class Starter:
    """The starter code as hashes: its k-grams (never fingerprinted) and its short runs (never
    counted: a signature with its docstring sits between two answers, shorter than a k-gram)."""

    kgrams: np.ndarray
    runs: np.ndarray


def starter_hashes(stub: str, k: int) -> Starter:
    """The hashes of the starter code: what no student is matched on."""
    normalized, _ = normalize(stub)

    def grams(n: int) -> np.ndarray:
        if len(normalized) < n:
            return np.array([], dtype=np.int64)
        return np.unique(cd.hashed_kgrams(normalized, n).astype(np.int64))

    return Starter(grams(k), grams(min(k, GIVEN_RUN)))


def fingerprint(text: str, k: int, window: int, starter: Starter) -> Fingerprint:
    """Winnowed k-gram fingerprints of ``text`` minus the starter code's.

    Characters inside a stretch of the starter code (GIVEN_RUN normalized characters or more)
    are the starter's: they are never counted as matched nor highlighted; only what the
    student wrote around them is.
    """
    normalized, spans = normalize(text)
    empty = np.array([], dtype=np.int64)
    q = min(k, GIVEN_RUN)
    given = np.zeros(len(normalized) + 1, dtype=np.int64)
    if len(normalized) >= q:
        starts = np.nonzero(np.isin(cd.hashed_kgrams(normalized, q).astype(np.int64), starter.runs))[0]
        np.add.at(given, starts, 1)
        np.add.at(given, starts + q, -1)
    mine = np.cumsum(given[:-1]) == 0
    if mine.size:  # a token the student changed is theirs whole ("return" where the stub had "raise")
        _, token = np.unique(spans[:, 2], return_inverse=True)
        mine = np.bincount(token, weights=mine)[token] > 0
    own = np.concatenate([[0], np.cumsum(mine)]).astype(np.int64)
    if len(normalized) < k:  # too short to hold one k-gram
        return Fingerprint(text, normalized, spans, empty, empty, own, 0)
    # The starter's k-grams are removed here, not by copydetect: its removal assumes each k-gram
    # occurs once per file, so a repeated one could survive (and which one, changed run to run).
    _, by_hash = cd.get_document_fingerprints(normalized, k, window)
    pairs = sorted((int(p), int(h)) for h, ps in by_hash.items() for p in ps)
    positions = np.array([p for p, _ in pairs], dtype=np.int64)
    hashes = np.array([h for _, h in pairs], dtype=np.int64)
    keep = ~np.isin(hashes, starter.kgrams)
    positions, hashes = positions[keep], hashes[keep]
    if not hashes.size:
        return Fingerprint(text, normalized, spans, empty, empty, own, 0)
    ends = _ends(positions, np.zeros(positions.size, dtype=np.int64), k)
    return Fingerprint(text, normalized, spans, hashes, positions, own, int((own[ends] - own[positions]).sum()))


def _ends(positions: np.ndarray, owner: np.ndarray, k: int) -> np.ndarray:
    """Where each k-gram's share of the union ends: at the next k-gram of the same source, at
    most k on; so the pieces [position, end) tile the union of the k-grams without overlap."""
    step = np.full(positions.size, k, dtype=np.int64)
    if positions.size > 1:
        same = owner[1:] == owner[:-1]
        step[:-1][same] = np.minimum(np.diff(positions)[same], k)
    return positions + step


def shared_matrix(prints: list[Fingerprint], k: int) -> np.ndarray:
    """M[i, j] = the characters of source j's own code also found in source i (M[i, i] = 0).

    One pass per source over every fingerprint of every source, vectorized: no pair is
    compared on its own, so 400 submissions take seconds, not minutes.
    """
    n = len(prints)
    out = np.zeros((n, n), dtype=np.int64)
    if n == 0:
        return out
    hashes = np.concatenate([p.hashes for p in prints])
    positions = np.concatenate([p.positions for p in prints])
    owner = np.concatenate([np.full(p.hashes.size, j, dtype=np.int64) for j, p in enumerate(prints)])
    own = np.concatenate([p.own for p in prints])  # every source's prefix counts, one after another
    base = np.concatenate([[0], np.cumsum([p.own.size for p in prints])[:-1]]).astype(np.int64)
    # Every fingerprint sorted once; a source's matches are then ranges found by binary search.
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    hit = np.zeros(hashes.size, dtype=bool)
    for i, p in enumerate(prints):
        if p.hashes.size == 0:
            continue
        mine = np.unique(p.hashes)
        lo, hi = np.searchsorted(ordered, mine, "left"), np.searchsorted(ordered, mine, "right")
        lengths = hi - lo
        if not lengths.sum():
            continue
        hit[:] = False
        hit[order[np.repeat(lo - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())]] = True
        pos, who = positions[hit], owner[hit]
        if pos.size == 0:
            continue
        ends = _ends(pos, who, k)
        counts = own[base[who] + ends] - own[base[who] + pos]
        out[i] = np.bincount(who, weights=counts, minlength=n).astype(np.int64)
        out[i, i] = 0
    return out


def _own_runs(slices: np.ndarray, own: np.ndarray) -> np.ndarray:
    """The [start, end) slices cut down to the student's own characters (starter text left out)."""
    mine = np.diff(own).astype(bool)  # mine[i]: character i is the student's
    keep = np.zeros(mine.size, dtype=bool)
    for s, e in zip(*slices):
        keep[s:e] = True
    keep &= mine
    edges = np.diff(np.concatenate([[0], keep.astype(np.int8), [0]]))
    return np.vstack([np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]]).astype(np.int64)


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
    slices_a = _own_runs(cd.get_copied_slices(a.positions[in_a], k).astype(np.int64), a.own)
    slices_b = _own_runs(cd.get_copied_slices(b.positions[in_b], k).astype(np.int64), b.own)
    n_a = slices_a.shape[1]
    parent = list(range(n_a + slices_b.shape[1]))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def run_of(slices: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """The own run each k-gram reaches into (-1: it holds starter text only)."""
        idx = np.searchsorted(slices[1], starts, side="right")
        ok = idx < slices.shape[1]
        ok[ok] &= slices[0][idx[ok]] < starts[ok] + k
        return np.where(ok, idx, -1)

    if n_a and slices_b.shape[1]:
        block_a = run_of(slices_a, a.positions[in_a])
        block_b = run_of(slices_b, b.positions[in_b])
        first_b: dict[int, int] = {}
        for h, j in zip(b.hashes[in_b].tolist(), block_b.tolist()):
            if j >= 0:
                first_b.setdefault(h, n_a + j)
                parent[find(n_a + j)] = find(first_b[h])
        for h, i in zip(a.hashes[in_a].tolist(), block_a.tolist()):
            if i >= 0 and h in first_b:
                parent[find(i)] = find(first_b[h])
    roots: dict[int, int] = {}
    block = [roots.setdefault(find(i), len(roots)) for i in range(len(parent))]
    raw_a, raw_b = _raw(slices_a, a.spans), _raw(slices_b, b.spans)
    return ([(int(s), int(e), block[i]) for i, (s, e) in enumerate(zip(*raw_a))],
            [(int(s), int(e), block[n_a + i]) for i, (s, e) in enumerate(zip(*raw_b))])
