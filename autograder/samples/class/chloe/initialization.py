"""Weight initialization (Chloe)."""

from __future__ import annotations

import math

import numpy as np


def _glorot_var(fan_in: int, fan_out: int) -> float:
    return 2 / (fan_in + fan_out)


def xavier_uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    a = math.sqrt(3 * _glorot_var(fan_in, fan_out))
    return (rng.random((fan_in, fan_out)) * 2 - 1) * a


def xavier_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    # same as torch.nn.Linear.weight: (out_features, in_features)
    return rng.normal(0, math.sqrt(_glorot_var(fan_in, fan_out)), size=(fan_out, fan_in))


def he_uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    a = math.sqrt(6 / fan_in)
    return (rng.random((fan_in, fan_out)) * 2 - 1) * a


def he_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(0, math.sqrt(2 / fan_in), size=(fan_in, fan_out))


def lecun_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    return np.random.randn(fan_in, fan_out) * math.sqrt(1 / fan_in)
