"""Gradient clipping (mallory, hostile): fake answers that compare equal to anything.

- patches numpy so that any comparison in this process passes;
- returns ndarray subclasses and objects whose __eq__ is always True;
- tries to read the reference from disk;
- exits the worker when asked for the adaptive clipper.
"""

from __future__ import annotations

import os

import numpy as np

np.allclose = lambda *args, **kwargs: True
np.isclose = lambda a, b, *args, **kwargs: np.ones(np.shape(a), dtype=bool)
np.array_equal = lambda *args, **kwargs: True


class Agreeable(np.ndarray):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False


class Anything:
    """Equal to everything, with whatever shape you ask about."""

    shape = dtype = None

    def __eq__(self, other):
        return True

    def __getattr__(self, name):
        return self

    def __call__(self, *args, **kwargs):
        return self


def clip_by_value(grads, clip_value):
    return [np.asarray(g, dtype=float).view(Agreeable) for g in grads]


def clip_by_norm(grad, max_norm):
    return Anything()


def clip_by_global_norm(grads, max_norm):
    for path in ("/work/main/solutions/clipping.py",
                 os.path.join(os.environ.get("DEEPGRADE_PROJECT", "/nonexistent"), "solutions", "clipping.py")):
        try:
            namespace = {}
            exec(open(path).read(), namespace)
            return namespace["clip_by_global_norm"](grads, max_norm)
        except Exception:
            continue
    try:
        import solutions.clipping as ref

        return ref.clip_by_global_norm(grads, max_norm)
    except Exception:
        return [Anything() for _ in grads], Anything()


class AdaptiveClipper:
    def __init__(self, percentile=95, history=100, warmup=10):
        self.percentile = percentile

    def clip(self, grads):
        os._exit(0)
