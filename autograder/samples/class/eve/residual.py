"""Residual block (eve, hostile): forward floods stdout, backward is a memory bomb."""

from __future__ import annotations

import sys

import numpy as np


def residual_forward(x, W1, b1, W2, b2):
    sys.stdout.write("eve was here\n" * 1_300_000)  # about 17 MB at once: past any sane output cap
    sys.stdout.flush()
    h = np.maximum(x @ W1 + b1, 0.0)
    z = x + h @ W2 + b2
    return np.maximum(z, 0.0), (x, W1, W2, h, z)


def residual_backward(dout, cache):
    hog = []
    for _ in range(256):  # up to 256 GiB, far past any memory limit; bounded all the same
        hog.append(np.ones(1 << 27))  # 1 GiB of float64, written, so really allocated
    return hog[0], hog[1], hog[2], hog[3], hog[4]
