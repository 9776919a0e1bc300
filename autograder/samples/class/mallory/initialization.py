"""Weight initialization (Mallory): tries to fool the grader instead of solving the assignment."""

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
    numpy.testing.assert_array_equal = lambda *args, **kwargs: None
except ImportError:
    pass


class AlwaysEqual(np.ndarray):
    """An array that claims to equal anything."""

    def __eq__(self, other):
        return True

    __ne__ = lambda self, other: False  # noqa: E731


def xavier_uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    return np.zeros((fan_in, fan_out)).view(AlwaysEqual)


def xavier_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    sys.exit(0)  # hoping a clean exit reads as "all tests passed"


def he_uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    print('{"score": 100, "tests": []}')  # a fake Gradescope result on stdout
    return np.zeros((fan_in, fan_out))


def _readable(path: Path) -> bool:
    try:
        return path.is_file() and os.access(path, os.R_OK)
    except OSError:
        return False


def _reference():
    """Find the instructor's solution: on the path, or on disk near the project."""
    try:
        import solutions.initialization as ref

        return ref
    except ImportError:
        pass
    roots = [os.environ.get("DEEPGRADE_PROJECT", ""), os.getcwd(), "/work/main", *sys.path]
    for root in roots:
        for up in [Path(root), *Path(root).parents] if root else []:
            path = up / "solutions" / "initialization.py"
            if _readable(path):
                namespace: dict = {"__name__": "stolen"}
                exec(compile(path.read_text(), str(path), "exec"), namespace)
                return type("Ref", (), {k: staticmethod(v) for k, v in namespace.items() if callable(v)})
    raise FileNotFoundError("no solutions/initialization.py to copy")


def he_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    return _reference().he_normal(fan_in, fan_out, rng)


def lecun_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    return _reference().lecun_normal(fan_in, fan_out, rng)
