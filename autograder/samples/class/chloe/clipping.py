"""Gradient clipping (chloe): clips each entry / each tensor on its own instead of the whole."""

from __future__ import annotations

import numpy as np


def clip_by_value(grads, clip_value):
    return [np.clip(g, -clip_value, clip_value) for g in grads]


def clip_by_norm(grad, max_norm):
    # scale every component whose magnitude is above max_norm
    mags = np.abs(grad)
    scale = np.where(mags > max_norm, max_norm / np.maximum(mags, 1e-12), 1.0)
    return grad * scale


def clip_by_global_norm(grads, max_norm):
    clipped = []
    total = 0.0
    for g in grads:
        n = np.linalg.norm(g)
        total += n**2
        clipped.append(g * (max_norm / n) if n > max_norm else g.copy())
    return clipped, float(np.sqrt(total))


class AdaptiveClipper:
    def __init__(self, percentile=95, history=100, warmup=10):
        self.percentile = percentile
        self.history = history
        self.warmup = warmup
        self.norms = []

    def clip(self, grads):
        norm = float(np.sqrt(sum((g * g).sum() for g in grads)))
        self.norms = (self.norms + [norm])[-self.history:]
        if len(self.norms) > self.warmup:
            threshold = float(np.percentile(self.norms, self.percentile))
            if norm > threshold:
                return [g * threshold / norm for g in grads], True
        return [g.copy() for g in grads], False
