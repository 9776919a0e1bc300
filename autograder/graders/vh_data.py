"""The course notebook's V/H line dataset, ported to a seeded ``numpy.random.Generator``.

Not a solution: graders and tests use it to make fresh training, validation and held-out
data. Same construction as the notebook's ``generate_line_dataset`` (003, part 8): the
first half of the samples are vertical lines (label 1), the second half horizontal lines
(label 0), Gaussian pixel noise clipped to [0, 1], then a shuffle.
"""

from __future__ import annotations

import numpy as np


def generate_line_dataset(
    n_samples: int, noise_level: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Return (X, y): X (n_samples, 9) float64 flattened 3x3 images, y (n_samples,) float64."""
    X = np.zeros((n_samples, 9))
    y = np.zeros(n_samples)
    for i in range(n_samples):
        image = np.zeros((3, 3))
        line = rng.integers(0, 3)
        if i < n_samples // 2:
            image[:, line] = 1.0
            y[i] = 1.0
        else:
            image[line, :] = 1.0
        if noise_level > 0:
            image = np.clip(image + rng.standard_normal((3, 3)) * noise_level, 0.0, 1.0)
        X[i] = image.ravel()
    order = rng.permutation(n_samples)
    return X[order], y[order]
