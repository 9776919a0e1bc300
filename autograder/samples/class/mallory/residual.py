"""Residual block (mallory, hostile): tries to win without doing the work.

- patches numpy's comparison helpers, hoping the graders use the same numpy;
- tries to import or read the reference solution and forward to it;
- returns an ndarray subclass whose comparisons are always True;
- exits the worker from backward, hoping an abrupt exit counts as "no failures".
"""

from __future__ import annotations

import os

import numpy as np

np.allclose = lambda *args, **kwargs: True
np.array_equal = lambda *args, **kwargs: True
try:
    import numpy.testing

    numpy.testing.assert_allclose = lambda *args, **kwargs: None
except ImportError:
    pass


class Agreeable(np.ndarray):
    """An array equal to everything."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __bool__(self):
        return True


def _steal():
    try:
        from solutions import residual as ref  # noqa: F401 - the reference, if visible

        return ref
    except Exception:
        pass
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [
        os.path.join(os.environ.get("DEEPGRADE_PROJECT", "/nonexistent"), "solutions", "residual.py"),
        os.path.join(here, "..", "..", "..", "..", "solutions", "residual.py"),
        "/work/main/solutions/residual.py",
    ]
    for path in candidates:
        try:
            source = open(path).read()
        except OSError:
            continue
        namespace = {}
        exec(compile(source, path, "exec"), namespace)
        return type("Stolen", (), {k: staticmethod(v) for k, v in namespace.items() if callable(v)})
    return None


def residual_forward(x, W1, b1, W2, b2):
    ref = _steal()
    if ref is not None:
        return ref.residual_forward(x, W1, b1, W2, b2)
    out = np.zeros(x.shape).view(Agreeable)
    return out, out


def residual_backward(dout, cache):
    os._exit(0)
