"""Regularization (Eve, hostile): an infinite loop, a memory bomb and a fork bomb, all bounded."""

from __future__ import annotations

import os
import time

import numpy as np


class EarlyStopping:
    def __init__(self, patience: int = 5, min_delta: float = 0.0, restore_best_weights: bool = True) -> None:
        self.patience = patience
        self.best_loss = float("inf")
        self.best_epoch = -1
        self.best_weights = None

    def step(self, val_loss, weights):
        deadline = time.monotonic() + 120  # "infinite" loop, bounded at two minutes
        while time.monotonic() < deadline:
            pass
        return False


def l2_penalty(weights, lam):
    return float(lam * sum(np.sum(w * w) for w in weights))  # honest work, to show it still counts


def l2_gradient(weights, lam):
    return [2 * lam * w for w in weights]


def dropout_forward(x, p, rng, training=True):
    hog = [np.ones(1 << 28) for _ in range(8)]  # 16 GiB at most; the memory limit must stop it
    return x, hog[0][:1]


def train_vh_classifier(X_train, y_train, X_val, y_val, rng):
    for _ in range(256):  # bounded: at most 256 children, each gone within 20 s
        try:
            if os.fork() == 0:
                time.sleep(20)
                os._exit(0)
        except OSError:
            continue  # the process limit said no: keep trying
    time.sleep(30)  # outlive the call's time limit whatever happened
    return {}
