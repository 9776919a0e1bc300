"""Batch norm and layer norm (Dev)."""

from __future__ import annotations

import numpy as np


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    n = x.shape[0]
    mu = x.sum(axis=0) / n
    xmu = x - mu
    var = (xmu**2).sum(axis=0) / n
    ivar = 1.0 / np.sqrt(var + eps)
    xhat = xmu * ivar
    out = gamma * xhat + beta
    return out, (xhat, xmu, ivar, gamma)


def batchnorm_backward(dout, cache):
    # step by step through the computational graph
    xhat, xmu, ivar, gamma = cache
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    divar = (dxhat * xmu).sum(axis=0)
    dxmu1 = dxhat * ivar
    dsqrtvar = -divar * ivar**2
    dvar = 0.5 * ivar * dsqrtvar
    dsq = np.ones_like(dout) * dvar / n
    dxmu2 = 2 * xmu * dsq
    dx1 = dxmu1 + dxmu2
    dmu = -dx1.sum(axis=0)
    dx = dx1 + np.ones_like(dout) * dmu / n
    return dx, dgamma, dbeta


def layernorm_forward(x, gamma, beta, eps=1e-5):
    # layer norm = batch norm on the transpose
    out_t, cache = batchnorm_forward(x.T, np.ones(x.shape[0]), np.zeros(x.shape[0]), eps)
    xhat = out_t.T
    return gamma * xhat + beta, (cache, xhat, gamma)


def layernorm_backward(dout, cache):
    bn_cache, xhat, gamma = cache
    dbeta = dout.sum(axis=0)
    dgamma = dout * xhat
    dxhat = dout * gamma
    dx_t, _, _ = batchnorm_backward(dxhat.T, bn_cache)
    return dx_t.T, dgamma, dbeta


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
        n = x.shape[0]
        if training and n == 1:
            raise ValueError("batch of one sample in training mode")
        out, _ = batchnorm_forward(x, self.gamma, self.beta, self.eps)
        if training:
            m = self.momentum
            self.running_mean = (1 - m) * self.running_mean + m * x.mean(axis=0)
            self.running_var = (1 - m) * self.running_var + m * x.var(axis=0, ddof=1)
        return out
