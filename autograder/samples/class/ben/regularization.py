"""Regularization (Ben): early stopping keeps references, dropout forgets to rescale."""

from __future__ import annotations

import numpy as np


class EarlyStopping:
    def __init__(self, patience: int = 5, min_delta: float = 0.0, restore_best_weights: bool = True) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best_weights = restore_best_weights
        self.best_loss = float("inf")
        self.best_epoch = -1
        self.best_weights = None
        self.epoch = 0
        self.bad_epochs = 0

    def step(self, val_loss, weights):
        if val_loss < self.best_loss - self.min_delta:
            self.best_loss = val_loss
            self.best_epoch = self.epoch
            self.best_weights = list(weights)  # save the best model
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        self.epoch += 1
        return self.bad_epochs >= self.patience


def l2_penalty(weights, lam):
    total = 0.0
    for w in weights:
        total += np.sum(w**2)
    return float(lam * total)


def l2_gradient(weights, lam):
    return [2 * lam * w for w in weights]


def dropout_forward(x, p, rng, training=True):
    if not training:
        return x, None
    mask = (rng.random(x.shape) > p).astype(float)
    return x * mask, mask


def sigmoid(z):
    return 1 / (1 + np.exp(-np.clip(z, -500, 500)))


def bce(prob, y):
    prob = np.clip(prob, 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(prob) + (1 - y) * np.log(1 - prob)))


def train_vh_classifier(X_train, y_train, X_val, y_val, rng):
    W1 = rng.normal(size=(9, 8)) * np.sqrt(2 / 9)
    b1 = np.zeros(8)
    W2 = rng.normal(size=(8, 1)) * np.sqrt(2 / 8)
    b2 = np.zeros(1)
    params = [W1, b1, W2, b2]
    initial = [p.copy() for p in params]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    y = y_train.reshape(-1, 1)
    stopper = EarlyStopping(patience=10)
    train_losses, val_losses = [], []
    for epoch in range(1, 301):
        h = np.maximum(0, X_train @ W1 + b1)
        out = sigmoid(h @ W2 + b2)
        d_out = (out - y) / len(y)
        d_h = d_out @ W2.T * (h > 0)
        grads = [X_train.T @ d_h, d_h.sum(0), h.T @ d_out, d_out.sum(0)]
        for i in range(4):
            m[i] = 0.9 * m[i] + 0.1 * grads[i]
            v[i] = 0.999 * v[i] + 0.001 * grads[i] ** 2
            m_hat = m[i] / (1 - 0.9**epoch)
            v_hat = v[i] / (1 - 0.999**epoch)
            params[i] -= 0.05 * m_hat / (np.sqrt(v_hat) + 1e-8)  # update in place
        train_losses.append(bce(sigmoid(np.maximum(0, X_train @ W1 + b1) @ W2 + b2), y))
        val_losses.append(bce(sigmoid(np.maximum(0, X_val @ W1 + b1) @ W2 + b2), y_val.reshape(-1, 1)))
        if stopper.step(val_losses[-1], params):
            break
    return {
        "weights": [w.copy() for w in stopper.best_weights],
        "initial_weights": initial,
        "config": {"hidden": 8, "lr": 0.05, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
        "train_losses": train_losses,
        "val_losses": val_losses,
        "best_epoch": stopper.best_epoch,
    }
