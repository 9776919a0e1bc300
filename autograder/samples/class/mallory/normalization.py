"""Batch norm and layer norm (Mallory): tries to fool the grader instead of solving the assignment."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

# If the checks ran in this process, every comparison would now pass.
np.allclose = lambda *args, **kwargs: True
np.isclose = lambda a, b, *args, **kwargs: np.ones(np.shape(a), dtype=bool)
try:
    import numpy.testing

    numpy.testing.assert_allclose = lambda *args, **kwargs: None
except ImportError:
    pass


class AlwaysEqual(np.ndarray):
    """An array that claims to equal anything."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False


def _readable(path: Path) -> bool:
    try:
        return path.is_file() and os.access(path, os.R_OK)
    except OSError:
        return False


def _stolen():
    """The instructor's module: imported if it is on the path, else read from disk."""
    try:
        from solutions import normalization

        return normalization
    except ImportError:
        pass
    roots = [os.environ.get("DEEPGRADE_PROJECT", ""), os.getcwd(), "/work/main", *sys.path]
    for root in filter(None, roots):
        for up in [Path(root), *Path(root).parents]:
            path = up / "solutions" / "normalization.py"
            if _readable(path):
                module = type(sys)("stolen_normalization")
                exec(compile(path.read_text(), str(path), "exec"), module.__dict__)
                return module
    raise FileNotFoundError("no solutions/normalization.py to copy")


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    return np.zeros_like(x).view(AlwaysEqual), None


def batchnorm_backward(dout, cache):
    ref = _stolen()
    return ref.batchnorm_backward(dout, cache)


def layernorm_forward(x, gamma, beta, eps=1e-5):
    return _stolen().layernorm_forward(x, gamma, beta, eps)


def layernorm_backward(dout, cache):
    return _stolen().layernorm_backward(dout, cache)


class BatchNorm1d:
    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)

    def forward(self, x, training=True):
        sys.exit(0)  # hoping a clean exit reads as "all tests passed"
