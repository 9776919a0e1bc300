"""Weight initialization: Xavier (Glorot), He (Kaiming) and LeCun.

A deep network multiplies its input by one weight matrix per layer. If each layer scales
the variance of its activations by a factor a little above 1, the signal (and, on the way
back, the gradient) explodes after a few dozen layers; a little below 1 and it vanishes.
Good initializers pick the weight variance so that this factor is about 1 from the start:

- Xavier/Glorot (sigmoid, tanh): Var(W) = 2 / (fan_in + fan_out), a compromise between
  keeping forward activations (needs 1/fan_in) and backward gradients (needs 1/fan_out)
  steady.
- He/Kaiming (ReLU and its variants): Var(W) = 2 / fan_in. ReLU zeroes half of its
  inputs, which halves the variance; the factor 2 puts it back.
- LeCun (SELU, and the classic choice for tanh): Var(W) = 1 / fan_in.

Each initializer comes in a normal flavour (mean 0, standard deviation sqrt(Var); a plain
normal, NOT truncated) and, for Xavier and He, a uniform flavour. A uniform distribution
on [-b, b] has variance b^2 / 3, so the bound for a target variance is b = sqrt(3 * Var):
sqrt(6 / (fan_in + fan_out)) for Xavier, sqrt(6 / fan_in) for He.

Conventions (the same in every assignment of this course):

- A layer computes `x @ W` where `x` has shape (N, fan_in) (one sample per row) and `W`
  has shape (fan_in, fan_out). Every function here returns an array of shape
  (fan_in, fan_out), float64. (PyTorch stores weights the other way round, as
  (fan_out, fan_in), and computes `x @ W.T`; the variances are the same.)
- All randomness comes from the `rng` argument, a `numpy.random.Generator`
  (e.g. `np.random.default_rng(0)`). Never use `np.random.seed`, `np.random.randn` or
  other global-state functions: with the same generator state you must return the same
  array.
"""

from __future__ import annotations

import numpy as np


def xavier_uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """Xavier/Glorot uniform initialization.

    Args:
        fan_in: number of inputs of the layer (rows of W).
        fan_out: number of outputs of the layer (columns of W).
        rng: the random generator to draw from.

    Returns:
        W: (fan_in, fan_out) float64, i.i.d. uniform on [-b, b] with
        b = sqrt(6 / (fan_in + fan_out)), so that Var(W) = 2 / (fan_in + fan_out).
    """
    # BEGIN SOLUTION
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=(fan_in, fan_out))
    # END SOLUTION


def xavier_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """Xavier/Glorot normal initialization.

    Args:
        fan_in: number of inputs of the layer (rows of W).
        fan_out: number of outputs of the layer (columns of W).
        rng: the random generator to draw from.

    Returns:
        W: (fan_in, fan_out) float64, i.i.d. normal with mean 0 and variance
        2 / (fan_in + fan_out) (a plain normal, not truncated).
    """
    # BEGIN SOLUTION
    std = np.sqrt(2.0 / (fan_in + fan_out))
    return rng.normal(0.0, std, size=(fan_in, fan_out))
    # END SOLUTION


def he_uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """He/Kaiming uniform initialization (for ReLU layers).

    Args:
        fan_in: number of inputs of the layer (rows of W).
        fan_out: number of outputs of the layer (columns of W).
        rng: the random generator to draw from.

    Returns:
        W: (fan_in, fan_out) float64, i.i.d. uniform on [-b, b] with b = sqrt(6 / fan_in),
        so that Var(W) = 2 / fan_in.
    """
    # BEGIN SOLUTION
    bound = np.sqrt(6.0 / fan_in)
    return rng.uniform(-bound, bound, size=(fan_in, fan_out))
    # END SOLUTION


def he_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """He/Kaiming normal initialization (for ReLU layers).

    Args:
        fan_in: number of inputs of the layer (rows of W).
        fan_out: number of outputs of the layer (columns of W).
        rng: the random generator to draw from.

    Returns:
        W: (fan_in, fan_out) float64, i.i.d. normal with mean 0 and variance 2 / fan_in
        (a plain normal, not truncated).
    """
    # BEGIN SOLUTION
    std = np.sqrt(2.0 / fan_in)
    return rng.normal(0.0, std, size=(fan_in, fan_out))
    # END SOLUTION


def lecun_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """LeCun normal initialization (for SELU layers).

    Args:
        fan_in: number of inputs of the layer (rows of W).
        fan_out: number of outputs of the layer (columns of W).
        rng: the random generator to draw from.

    Returns:
        W: (fan_in, fan_out) float64, i.i.d. normal with mean 0 and variance 1 / fan_in
        (a plain normal, not truncated).
    """
    # BEGIN SOLUTION
    std = np.sqrt(1.0 / fan_in)
    return rng.normal(0.0, std, size=(fan_in, fan_out))
    # END SOLUTION
