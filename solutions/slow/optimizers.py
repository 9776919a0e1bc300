"""A correct optimizers solution that updates every parameter entry in a Python loop (slow, not wrong)."""

import math

import numpy as np


class SGD:
    def __init__(self, lr=0.01, momentum=0.0):
        self.lr = lr
        self.momentum = momentum
        self.buffers = {}

    def update(self, params, grads):
        new_params = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            p, g = np.asarray(p, dtype=float), np.asarray(g, dtype=float)
            buf = self.buffers.get(i)
            new_buf = np.empty(g.shape)
            out = np.empty(p.shape)
            for index in np.ndindex(p.shape):
                step = g[index]
                if self.momentum != 0.0:
                    step = g[index] if buf is None else self.momentum * buf[index] + g[index]
                    new_buf[index] = step
                out[index] = p[index] - self.lr * step
            if self.momentum != 0.0:
                self.buffers[i] = new_buf
            new_params.append(out)
        return new_params


class RMSProp:
    def __init__(self, lr=0.01, alpha=0.99, eps=1e-8):
        self.lr = lr
        self.alpha = alpha
        self.eps = eps
        self.square_avg = {}

    def update(self, params, grads):
        new_params = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            p, g = np.asarray(p, dtype=float), np.asarray(g, dtype=float)
            old = self.square_avg.get(i)
            v = np.empty(g.shape)
            out = np.empty(p.shape)
            for index in np.ndindex(p.shape):
                before = 0.0 if old is None else old[index]
                v[index] = self.alpha * before + (1.0 - self.alpha) * g[index] * g[index]
                out[index] = p[index] - self.lr * g[index] / (math.sqrt(v[index]) + self.eps)
            self.square_avg[i] = v
            new_params.append(out)
        return new_params


class Adam:
    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.m = {}
        self.v = {}
        self.t = 0

    def update(self, params, grads):
        self.t += 1
        correction1 = 1.0 - self.beta1**self.t
        correction2 = 1.0 - self.beta2**self.t
        new_params = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            p, g = np.asarray(p, dtype=float), np.asarray(g, dtype=float)
            old_m, old_v = self.m.get(i), self.v.get(i)
            m, v, out = np.empty(g.shape), np.empty(g.shape), np.empty(p.shape)
            for index in np.ndindex(p.shape):
                m[index] = self.beta1 * (0.0 if old_m is None else old_m[index]) + (1.0 - self.beta1) * g[index]
                v[index] = self.beta2 * (0.0 if old_v is None else old_v[index]) + (1.0 - self.beta2) * g[index] * g[index]
                m_hat = m[index] / correction1
                v_hat = v[index] / correction2
                out[index] = p[index] - self.lr * m_hat / (math.sqrt(v_hat) + self.eps)
            self.m[i], self.v[i] = m, v
            new_params.append(out)
        return new_params
