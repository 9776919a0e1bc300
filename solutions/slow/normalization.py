"""A correct normalization solution: batch and layer norm with Python loops over features and samples (slow, not wrong)."""

import math

import numpy as np


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    n, d = x.shape
    out = np.zeros((n, d))
    x_hat = np.zeros((n, d))
    std = np.zeros(d)
    for j in range(d):  # one feature (column) at a time: its statistics over the batch
        mean = 0.0
        for i in range(n):
            mean += x[i, j]
        mean /= n
        var = 0.0
        for i in range(n):
            var += (x[i, j] - mean) ** 2
        var /= n
        std[j] = math.sqrt(var + eps)
        for i in range(n):
            x_hat[i, j] = (x[i, j] - mean) / std[j]
            out[i, j] = gamma[j] * x_hat[i, j] + beta[j]
    cache = (x_hat, [float(g) for g in gamma], std)
    return out, cache


def batchnorm_backward(dout, cache):
    x_hat, gamma, std = cache
    n, d = dout.shape
    dx = np.zeros((n, d))
    dgamma = np.zeros(d)
    dbeta = np.zeros(d)
    for j in range(d):
        mean_dxhat = 0.0
        mean_dxhat_xhat = 0.0
        for i in range(n):
            dbeta[j] += dout[i, j]
            dgamma[j] += dout[i, j] * x_hat[i, j]
            mean_dxhat += dout[i, j] * gamma[j]
            mean_dxhat_xhat += dout[i, j] * gamma[j] * x_hat[i, j]
        mean_dxhat /= n
        mean_dxhat_xhat /= n
        for i in range(n):
            dxhat = dout[i, j] * gamma[j]
            dx[i, j] = (dxhat - mean_dxhat - x_hat[i, j] * mean_dxhat_xhat) / std[j]
    return dx, dgamma, dbeta


def layernorm_forward(x, gamma, beta, eps=1e-5):
    n, d = x.shape
    out = np.zeros((n, d))
    x_hat = np.zeros((n, d))
    std = np.zeros(n)
    for i in range(n):  # one sample (row) at a time: its statistics over the features
        mean = 0.0
        for j in range(d):
            mean += x[i, j]
        mean /= d
        var = 0.0
        for j in range(d):
            var += (x[i, j] - mean) ** 2
        var /= d
        std[i] = math.sqrt(var + eps)
        for j in range(d):
            x_hat[i, j] = (x[i, j] - mean) / std[i]
            out[i, j] = gamma[j] * x_hat[i, j] + beta[j]
    cache = (x_hat, [float(g) for g in gamma], std)
    return out, cache


def layernorm_backward(dout, cache):
    x_hat, gamma, std = cache
    n, d = dout.shape
    dx = np.zeros((n, d))
    dgamma = np.zeros(d)
    dbeta = np.zeros(d)
    for i in range(n):
        mean_dxhat = 0.0
        mean_dxhat_xhat = 0.0
        for j in range(d):
            dbeta[j] += dout[i, j]
            dgamma[j] += dout[i, j] * x_hat[i, j]
            mean_dxhat += dout[i, j] * gamma[j]
            mean_dxhat_xhat += dout[i, j] * gamma[j] * x_hat[i, j]
        mean_dxhat /= d
        mean_dxhat_xhat /= d
        for j in range(d):
            dxhat = dout[i, j] * gamma[j]
            dx[i, j] = (dxhat - mean_dxhat - x_hat[i, j] * mean_dxhat_xhat) / std[i]
    return dx, dgamma, dbeta


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
        n, d = x.shape
        if training and n < 2:
            raise ValueError("need at least 2 samples per batch in training mode")
        out = np.zeros((n, d))
        new_mean = np.zeros(d)
        new_var = np.zeros(d)
        for j in range(d):
            if training:
                mean = 0.0
                for i in range(n):
                    mean += x[i, j]
                mean /= n
                var = 0.0
                for i in range(n):
                    var += (x[i, j] - mean) ** 2
                var /= n
                m = self.momentum
                new_mean[j] = (1 - m) * self.running_mean[j] + m * mean
                new_var[j] = (1 - m) * self.running_var[j] + m * var * n / (n - 1)
            else:
                mean, var = self.running_mean[j], self.running_var[j]
            std = math.sqrt(var + self.eps)
            for i in range(n):
                out[i, j] = self.gamma[j] * (x[i, j] - mean) / std + self.beta[j]
        if training:
            self.running_mean = new_mean
            self.running_var = new_var
        return out
