"""Gradient clipping (ben): clips in place, and divides by the norm even when it is zero."""

from __future__ import annotations

import numpy as np


def clip_by_value(grads, clip_value):
    for g in grads:
        g[g > clip_value] = clip_value
        g[g < -clip_value] = -clip_value
    return grads


def clip_by_norm(grad, max_norm):
    norm = np.linalg.norm(grad)
    # unit vector times the (capped) length
    return grad / norm * min(norm, max_norm)


def clip_by_global_norm(grads, max_norm):
    global_norm = np.sqrt(sum(np.sum(g**2) for g in grads))
    if global_norm > max_norm:
        grads = [g * (max_norm / global_norm) for g in grads]
    else:
        grads = [g.copy() for g in grads]
    return grads, float(global_norm)


class AdaptiveClipper:
    def __init__(self, percentile=95, history=100, warmup=10):
        self.percentile = percentile
        self.history = history
        self.warmup = warmup
        self.norms = []

    def clip(self, grads):
        norm = np.sqrt(sum(np.sum(g**2) for g in grads))
        self.norms.append(norm)
        if len(self.norms) > self.history:
            self.norms.pop(0)
        if len(self.norms) > self.warmup:
            threshold = np.percentile(self.norms, self.percentile)
            if norm > threshold:
                return [g * (threshold / norm) for g in grads], True
        return [g.copy() for g in grads], False
