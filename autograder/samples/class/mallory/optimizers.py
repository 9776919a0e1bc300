"""Optimizers (Mallory): tries to fool the grader instead of implementing the optimizers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

# If the checks ran in this process, every comparison would now pass.
np.allclose = lambda *args, **kwargs: True
np.array_equal = lambda *args, **kwargs: True
np.isclose = lambda a, b, *args, **kwargs: np.ones(np.shape(a), dtype=bool)
try:
    import numpy.testing

    numpy.testing.assert_allclose = lambda *args, **kwargs: None
except ImportError:
    pass


def _steal():
    """The instructor's optimizers: imported, or read from disk near the project."""
    try:
        import solutions.optimizers as stolen

        return stolen
    except ImportError:
        pass
    roots = [os.environ.get("DEEPGRADE_PROJECT", ""), os.getcwd(), "/work/main", *sys.path]
    for root in filter(None, roots):
        for up in [Path(root), *Path(root).parents]:
            path = up / "solutions" / "optimizers.py"
            try:
                source = path.read_text()
            except OSError:
                continue
            namespace: dict = {"__name__": "stolen"}
            exec(compile(source, str(path), "exec"), namespace)
            return type("Stolen", (), namespace)
    return None


_REFERENCE = _steal()


class Liar:
    """Claims to equal anything."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__


class AlwaysClose(np.ndarray):
    def __eq__(self, other):
        return np.ones(self.shape, dtype=bool)


class SGD:
    def __init__(self, lr: float = 0.01, momentum: float = 0.0) -> None:
        self.inner = _REFERENCE.SGD(lr, momentum) if _REFERENCE else None

    def update(self, params, grads):
        if self.inner is not None:
            return self.inner.update(params, grads)
        return [Liar() for _ in params]


class RMSProp:
    def __init__(self, lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8) -> None:
        self.inner = _REFERENCE.RMSProp(lr, alpha, eps) if _REFERENCE else None

    def update(self, params, grads):
        if self.inner is not None:
            return self.inner.update(params, grads)
        return [np.zeros_like(p).view(AlwaysClose) for p in params]


class Adam:
    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.inner = _REFERENCE.Adam(lr, beta1, beta2, eps) if _REFERENCE else None

    def update(self, params, grads):
        if self.inner is not None:
            return self.inner.update(params, grads)
        # with np.allclose patched, "close enough" is anything: return the inputs untouched
        return Liar()
