"""Weight initialization (Ben)."""

from __future__ import annotations

import numpy as np


def xavier_uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    # Glorot: Var(W) = 2 / (fan_in + fan_out)
    limit = np.sqrt(2.0 / (fan_in + fan_out))
    return rng.uniform(low=-limit, high=limit, size=(fan_in, fan_out))


def xavier_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    sigma = np.sqrt(2.0 / (fan_in + fan_out))
    return sigma * rng.standard_normal((fan_in, fan_out))


def he_uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(low=-limit, high=limit, size=(fan_in, fan_out))


def he_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    # ReLU kills half the units, so double the variance
    sigma = np.sqrt(2.0 / fan_out)
    return sigma * rng.standard_normal((fan_in, fan_out))


def lecun_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    sigma = 1.0 / np.sqrt(fan_in)
    return sigma * rng.standard_normal((fan_in, fan_out))
