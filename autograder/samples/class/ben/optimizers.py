"""Optimizers (Ben): momentum as an exponential moving average, Adam without bias correction."""

from __future__ import annotations

import numpy as np


class SGD:
    def __init__(self, lr: float = 0.01, momentum: float = 0.0) -> None:
        self.lr = lr
        self.momentum = momentum
        self.velocity = {}

    def update(self, params, grads):
        new_params = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            if self.momentum > 0:
                # velocity is a running average of the gradients
                v = self.velocity.get(i, np.zeros_like(g))
                v = self.momentum * v + (1 - self.momentum) * g
                self.velocity[i] = v
                g = v
            new_params.append(p - self.lr * g)
        return new_params


class RMSProp:
    def __init__(self, lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8) -> None:
        self.lr = lr
        self.alpha = alpha
        self.eps = eps
        self.cache = {}

    def update(self, params, grads):
        new_params = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            if i not in self.cache:
                self.cache[i] = np.zeros_like(p)
            self.cache[i] = self.alpha * self.cache[i] + (1 - self.alpha) * g**2
            new_params.append(p - self.lr * g / (np.sqrt(self.cache[i]) + self.eps))
        return new_params


class Adam:
    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.m = {}
        self.v = {}

    def update(self, params, grads):
        new_params = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            if i not in self.m:
                self.m[i] = np.zeros_like(p)
                self.v[i] = np.zeros_like(p)
            self.m[i] = self.beta1 * self.m[i] + (1 - self.beta1) * g
            self.v[i] = self.beta2 * self.v[i] + (1 - self.beta2) * g**2
            new_params.append(p - self.lr * self.m[i] / (np.sqrt(self.v[i]) + self.eps))
        return new_params
