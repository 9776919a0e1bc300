"""Batch norm and layer norm (Ben)."""

from __future__ import annotations

import numpy as np


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mu = np.mean(x, axis=0)
    var = np.var(x, axis=0)
    x_norm = (x - mu) / np.sqrt(var + eps)
    out = gamma * x_norm + beta
    cache = (x, x_norm, mu, var, gamma, eps)
    return out, cache


def batchnorm_backward(dout, cache):
    x, x_norm, mu, var, gamma, eps = cache
    N = x.shape[0]
    inv_std = 1.0 / np.sqrt(var + eps)
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * x_norm, axis=0)
    dx_norm = dout * gamma
    dvar = np.sum(dx_norm * (x - mu) * -0.5 * inv_std**3, axis=0)
    dmu = np.sum(-dx_norm * inv_std, axis=0) + dvar * np.mean(-2.0 * (x - mu), axis=0)
    dx = dx_norm * inv_std + dvar * 2.0 * (x - mu) / N + dmu / N
    return dx, dgamma, dbeta


def layernorm_forward(x, gamma, beta, eps=1e-5):
    # same as batch norm: normalize then scale and shift
    mu = np.mean(x, axis=0)
    var = np.var(x, axis=0)
    x_norm = (x - mu) / np.sqrt(var + eps)
    out = gamma * x_norm + beta
    return out, (x, x_norm, mu, var, gamma, eps)


def layernorm_backward(dout, cache):
    return batchnorm_backward(dout, cache)


class BatchNorm1d:
    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        self.num_features = num_features
        self.momentum = momentum
        self.eps = eps
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)

    def forward(self, x, training=True):
        if training:
            if len(x) == 1:
                raise ValueError("need more than one sample in training mode")
            out, _ = batchnorm_forward(x, self.gamma, self.beta, self.eps)
            mu, var = np.mean(x, axis=0), np.var(x, axis=0)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var
            return out
        x_norm = (x - self.running_mean) / np.sqrt(self.running_var + self.eps)
        return self.gamma * x_norm + self.beta
