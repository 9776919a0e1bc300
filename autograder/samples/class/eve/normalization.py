"""Batch norm and layer norm (Eve): tries to exhaust the grader's time, memory and process table."""

from __future__ import annotations

import os
import time

import numpy as np


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mean, var = x.mean(axis=0), x.var(axis=0)
    x_hat = (x - mean) / np.sqrt(var + eps)
    return gamma * x_hat + beta, (x_hat, gamma, np.sqrt(var + eps))


def batchnorm_backward(dout, cache):
    while True:  # never returns: the per-call time limit must stop it
        pass


def layernorm_forward(x, gamma, beta, eps=1e-5):
    scratch = np.ones(10**11)  # 800 GB: the memory limit must refuse it
    return scratch[: x.size].reshape(x.shape), None


def layernorm_backward(dout, cache):
    return dout.copy(), dout.sum(axis=0), dout.sum(axis=0)


class BatchNorm1d:
    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.momentum, self.eps = momentum, eps

    def forward(self, x, training=True):
        # A bounded fork bomb: at most 64 children, each gone after 3 s; waiting for them
        # outlives the call's time limit even where forking is allowed.
        children = []
        for _ in range(64):
            pid = os.fork()
            if pid == 0:
                time.sleep(3)
                os._exit(0)
            children.append(pid)
        for pid in children:
            os.waitpid(pid, 0)
        return x
