"""Optimizers (Dev): updates the caller's arrays in place, and keys the state by shape."""

from __future__ import annotations

import numpy as np


class SGD:
    def __init__(self, lr: float = 0.01, momentum: float = 0.0) -> None:
        self.lr = lr
        self.momentum = momentum
        self.buf = {}

    def update(self, params, grads):
        for p, g in zip(params, grads, strict=True):
            if self.momentum:
                key = p.shape  # one buffer per parameter shape
                if key in self.buf:
                    self.buf[key] = self.momentum * self.buf[key] + g
                else:
                    self.buf[key] = g.copy()
                g = self.buf[key]
            p -= self.lr * g  # in place, saves memory
        return params


class RMSProp:
    def __init__(self, lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8) -> None:
        self.lr = lr
        self.alpha = alpha
        self.eps = eps
        self.sq = {}

    def update(self, params, grads):
        for p, g in zip(params, grads, strict=True):
            key = p.shape
            v = self.sq.get(key, np.zeros_like(g))
            v = self.alpha * v + (1 - self.alpha) * g * g
            self.sq[key] = v
            p -= self.lr * g / (np.sqrt(v) + self.eps)
        return params


class Adam:
    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.m = {}
        self.v = {}
        self.t = 0

    def update(self, params, grads):
        self.t += 1
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            m = self.beta1 * self.m.get(i, 0.0) + (1 - self.beta1) * g
            v = self.beta2 * self.v.get(i, 0.0) + (1 - self.beta2) * g * g
            self.m[i], self.v[i] = m, v
            m_hat = m / (1 - self.beta1**self.t)
            v_hat = v / (1 - self.beta2**self.t)
            p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        return params
