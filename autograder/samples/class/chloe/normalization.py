"""Batch norm and layer norm (Chloe)."""

from __future__ import annotations

import numpy as np


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=0)
    std = np.sqrt(x.var(axis=0) + eps)
    xhat = (x - mean) / std
    return gamma * xhat + beta, {"xhat": xhat, "std": std, "gamma": gamma}


def batchnorm_backward(dout, cache):
    xhat, std, gamma = cache["xhat"], cache["std"], cache["gamma"]
    dgamma = (dout * xhat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    # out = gamma * (x - mean) / std + beta
    dx = dout * gamma / std
    return dx, dgamma, dbeta


def layernorm_forward(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=1, keepdims=True)
    std = np.sqrt(x.var(axis=1, keepdims=True) + eps)
    xhat = (x - mean) / std
    return gamma * xhat + beta, {"xhat": xhat, "std": std, "gamma": gamma}


def layernorm_backward(dout, cache):
    xhat, std, gamma = cache["xhat"], cache["std"], cache["gamma"]
    D = xhat.shape[1]
    g = dout * gamma
    dx = (D * g - g.sum(axis=1, keepdims=True) - xhat * (g * xhat).sum(axis=1, keepdims=True)) / (D * std)
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


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
        if not training:
            return self.gamma * (x - self.running_mean) / np.sqrt(self.running_var + self.eps) + self.beta
        n = x.shape[0]
        if n < 2:
            raise ValueError("Expected more than 1 value per channel when training")
        mean = x.mean(axis=0)
        var = x.var(axis=0, ddof=1)
        # exponential moving average
        self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mean
        self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        out, _ = batchnorm_forward(x, self.gamma, self.beta, self.eps)
        return out
