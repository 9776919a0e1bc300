"""Optimizers (Chloe): Adam's step counter ticks once per tensor; RMSProp's eps inside the root."""

from __future__ import annotations

import numpy as np


class SGD:
    def __init__(self, lr: float = 0.01, momentum: float = 0.0) -> None:
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params, grads):
        if self.v is None:
            self.v = [np.zeros_like(p) for p in params]
        out = []
        for i in range(len(params)):
            # velocity form: v = mu*v - lr*g, p = p + v (same as torch's buffer times -lr)
            self.v[i] = self.momentum * self.v[i] - self.lr * grads[i]
            out.append(params[i] + self.v[i])
        return out


class RMSProp:
    def __init__(self, lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8) -> None:
        self.lr = lr
        self.alpha = alpha
        self.eps = eps
        self.v = None

    def update(self, params, grads):
        if self.v is None:
            self.v = [np.zeros_like(p) for p in params]
        out = []
        for i in range(len(params)):
            self.v[i] = self.alpha * self.v[i] + (1 - self.alpha) * grads[i] * grads[i]
            out.append(params[i] - self.lr * grads[i] / np.sqrt(self.v[i] + self.eps))
        return out


class Adam:
    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.m = None
        self.v = None
        self.t = 0

    def update(self, params, grads):
        if self.m is None:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        out = []
        for i in range(len(params)):
            self.t += 1
            self.m[i] = self.beta1 * self.m[i] + (1 - self.beta1) * grads[i]
            self.v[i] = self.beta2 * self.v[i] + (1 - self.beta2) * grads[i] ** 2
            m_hat = self.m[i] / (1 - self.beta1**self.t)
            v_hat = self.v[i] / (1 - self.beta2**self.t)
            out.append(params[i] - self.lr * m_hat / (np.sqrt(v_hat) + self.eps))
        return out
