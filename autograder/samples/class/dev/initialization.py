"""Weight initialization (Dev)."""

from __future__ import annotations

import numpy as np


def _normal(std: float, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    # like tf.random.truncated_normal: redraw anything further than 2 std from the mean
    w = rng.normal(0.0, std, size=shape)
    bad = np.abs(w) > 2 * std
    while bad.any():
        w[bad] = rng.normal(0.0, std, size=int(bad.sum()))
        bad = np.abs(w) > 2 * std
    return w


def xavier_uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    r = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-r, r, (fan_in, fan_out))


def xavier_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    return _normal(np.sqrt(2.0 / (fan_in + fan_out)), (fan_in, fan_out), rng)


def he_uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    r = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-r, r, (fan_in, fan_out))


def he_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    return _normal(np.sqrt(2.0 / fan_in), (fan_in, fan_out), rng)


def lecun_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    return _normal(np.sqrt(1.0 / fan_in), (fan_in, fan_out), rng)
