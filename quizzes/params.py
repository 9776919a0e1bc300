"""Drawing a question's parameters, deterministically, from a seed string.

Seeds are strings such as "2024:s123:init-he" hashed with SHA-256 (never Python's
hash(), which changes between processes), so a rebuild gives every student the
same variant on any machine.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

from .model import ParamSpec


def rng_for(*parts: object) -> np.random.Generator:
    """A numpy Generator seeded from the SHA-256 of the parts joined with ':'."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode("utf-8")).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


def short_hash(*parts: object, length: int = 8) -> str:
    """A short stable hex id of the parts (variant ids, paper codes)."""
    return hashlib.sha256(":".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:length]


def _round(x: float, spec: ParamSpec) -> float:
    if spec.digits is not None:
        x = round(x, spec.digits)
    if spec.sig is not None and x != 0:
        x = float(f"{x:.{spec.sig}g}")
    return float(x)


def _scalar(spec: ParamSpec, rng: np.random.Generator) -> Any:
    kind = spec.kind.rstrip("s") if spec.kind != "choice" else spec.kind
    if kind == "int":
        lo, hi = int(spec.low), int(spec.high)
        n = (hi - lo) // spec.step
        return lo + spec.step * int(rng.integers(0, n + 1))
    if kind == "float":
        return _round(float(rng.uniform(spec.low, spec.high)), spec)
    if kind == "logfloat":
        return _round(math.exp(float(rng.uniform(math.log(spec.low), math.log(spec.high)))), spec)
    raise AssertionError(spec.kind)


def draw(spec: ParamSpec, rng: np.random.Generator) -> Any:
    """One value of a parameter: an element of its list, a number in its range, or a vector of them."""
    if spec.kind == "choice":
        return spec.values[int(rng.integers(0, len(spec.values)))]
    if spec.size is None:
        return _scalar(spec, rng)
    n = int(rng.integers(spec.size[0], spec.size[1] + 1))
    return tuple(_scalar(spec, rng) for _ in range(n))


def draw_all(specs: tuple[ParamSpec, ...], rng: np.random.Generator) -> dict[str, Any]:
    """All parameters of a question, in declared order (so adding one at the end keeps earlier draws)."""
    return {spec.name: draw(spec, rng) for spec in specs}
