"""Gradient clipping (dev): the adaptive clipper checks the threshold before recording the norm, forever."""

from __future__ import annotations

import numpy as np


def clip_by_value(grads, clip_value):
    return [np.minimum(np.maximum(g, -clip_value), clip_value) for g in grads]


def clip_by_norm(grad, max_norm):
    norm = np.sqrt((grad**2).sum())
    if norm > max_norm:
        return grad * max_norm / norm
    return grad.copy()


def clip_by_global_norm(grads, max_norm):
    norm = np.sqrt(sum((g**2).sum() for g in grads))
    factor = max_norm / max(norm, max_norm)
    return [g * factor for g in grads], norm


class AdaptiveClipper:
    def __init__(self, percentile=95, history=100, warmup=10):
        self.percentile = percentile
        self.history = history
        self.warmup = warmup
        self.norms = []

    def clip(self, grads):
        norm = np.sqrt(sum((g**2).sum() for g in grads))
        clipped, was_clipped = [g.copy() for g in grads], False
        if len(self.norms) > self.warmup:
            threshold = np.percentile(self.norms, self.percentile)
            if norm > threshold:
                clipped, was_clipped = [g * (threshold / norm) for g in grads], True
        self.norms.append(norm)  # remember this step for next time
        return clipped, was_clipped
