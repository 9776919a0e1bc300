"""A correct clipping solution written with Python loops over every entry (slow, not wrong)."""

import math

import numpy as np


def _sum_squares(grads):
    total = 0.0
    for g in grads:
        for value in np.asarray(g, dtype=float).flat:
            total += value * value
    return total


def _scaled(g, scale):
    out = np.empty(g.shape, dtype=float)
    for index in np.ndindex(g.shape):
        out[index] = g[index] * scale
    return out


def clip_by_value(grads, clip_value):
    clipped = []
    for g in grads:
        out = np.empty(g.shape, dtype=float)
        for index in np.ndindex(g.shape):
            out[index] = min(max(g[index], -clip_value), clip_value)
        clipped.append(out)
    return clipped


def clip_by_norm(grad, max_norm):
    norm = math.sqrt(_sum_squares([grad]))
    if norm <= max_norm:
        return _scaled(grad, 1.0)
    return _scaled(grad, max_norm / norm)


def clip_by_global_norm(grads, max_norm):
    global_norm = math.sqrt(_sum_squares(grads))
    scale = 1.0 if global_norm <= max_norm else max_norm / global_norm
    return [_scaled(g, scale) for g in grads], global_norm


class AdaptiveClipper:
    def __init__(self, percentile=95, history=100, warmup=10):
        self.percentile = percentile
        self.history = history
        self.warmup = warmup
        self.norms = []

    def clip(self, grads):
        norm = math.sqrt(_sum_squares(grads))
        self.norms.append(norm)
        while len(self.norms) > self.history:
            self.norms.pop(0)
        if len(self.norms) > self.warmup:
            threshold = float(np.percentile(self.norms, self.percentile))
            if norm > threshold:
                return [_scaled(g, threshold / norm) for g in grads], True
        return [_scaled(g, 1.0) for g in grads], False
