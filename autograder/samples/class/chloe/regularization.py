"""Regularization (Chloe): patience counted one step late, L2 gradient without the factor 2."""

from __future__ import annotations

import numpy as np
from optimizers import Adam  # my own optimizers.py, next to this file


class EarlyStopping:
    def __init__(self, patience: int = 5, min_delta: float = 0.0, restore_best_weights: bool = True) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best_weights = restore_best_weights
        self.best_loss = np.inf
        self.best_epoch = -1
        self.best_weights = None
        self.history = []
        self.wait = 0

    def step(self, val_loss, weights):
        self.history.append(val_loss)
        if val_loss < self.best_loss - self.min_delta:
            self.best_loss = val_loss
            self.best_epoch = len(self.history) - 1
            self.best_weights = [np.copy(w) for w in weights]
            self.wait = 0
            return False
        self.wait += 1
        return self.wait > self.patience


def l2_penalty(weights, lam):
    return lam * float(sum((w * w).sum() for w in weights))


def l2_gradient(weights, lam):
    # derivative of lam * w^2
    return [lam * w for w in weights]


def dropout_forward(x, p, rng, training=True):
    if training:
        keep = rng.uniform(size=x.shape) < 1 - p
        mask = keep.astype(np.float64)
        return x * mask / (1 - p), mask
    return x, None


def _forward(params, X):
    W1, b1, W2, b2 = params
    h = np.maximum(X @ W1 + b1, 0)
    z = h @ W2 + b2
    return h, 1 / (1 + np.exp(-z))


def _loss(params, X, y):
    _, p = _forward(params, X)
    p = np.clip(p[:, 0], 1e-10, 1 - 1e-10)
    return float(np.mean(-y * np.log(p) - (1 - y) * np.log(1 - p)))


def train_vh_classifier(X_train, y_train, X_val, y_val, rng):
    hidden = 10
    params = [rng.standard_normal((9, hidden)) * np.sqrt(2 / 9), np.zeros(hidden),
              rng.standard_normal((hidden, 1)) * np.sqrt(2 / hidden), np.zeros(1)]
    initial = [p.copy() for p in params]
    opt = Adam(lr=0.03)
    stopper = EarlyStopping(patience=15)
    train_losses, val_losses = [], []
    n = len(X_train)
    for _ in range(250):
        h, p = _forward(params, X_train)
        dz = (p[:, 0] - y_train)[:, None] / n
        dh = (dz @ params[2].T) * (h > 0)
        grads = [X_train.T @ dh, dh.sum(axis=0), h.T @ dz, dz.sum(axis=0)]
        params = opt.update(params, grads)
        train_losses.append(_loss(params, X_train, y_train))
        val_losses.append(_loss(params, X_val, y_val))
        if stopper.step(val_losses[-1], params):
            break
    return {"weights": stopper.best_weights, "initial_weights": initial,
            "config": {"hidden": hidden, "lr": opt.lr, "beta1": opt.beta1, "beta2": opt.beta2, "eps": opt.eps},
            "train_losses": train_losses, "val_losses": val_losses, "best_epoch": stopper.best_epoch}
