"""Regularization (Dev): min_delta ignored, and the classifier returns its last weights."""

from __future__ import annotations

import copy

import numpy as np


class EarlyStopping:
    def __init__(self, patience: int = 5, min_delta: float = 0.0, restore_best_weights: bool = True) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best_weights = restore_best_weights
        self.best_loss = float("inf")
        self.best_epoch = -1
        self.best_weights = None
        self.counter = 0
        self.n = 0

    def step(self, val_loss, weights):
        if val_loss < self.best_loss:
            self.best_loss = float(val_loss)
            self.best_epoch = self.n
            self.best_weights = copy.deepcopy(weights)
            self.counter = 0
        else:
            self.counter += 1
        self.n += 1
        return self.counter >= self.patience


def l2_penalty(weights, lam):
    return lam * sum(float(np.vdot(w, w)) for w in weights)


def l2_gradient(weights, lam):
    return [np.multiply(2.0 * lam, w) for w in weights]


def dropout_forward(x, p, rng, training=True):
    if not training:
        return x, None
    mask = np.where(rng.random(np.shape(x)) < p, 0.0, 1.0)
    return x * mask / (1.0 - p), mask


class Net:
    def __init__(self, rng, hidden=6):
        self.W1 = rng.normal(0, np.sqrt(2 / 9), (9, hidden))
        self.b1 = np.zeros(hidden)
        self.W2 = rng.normal(0, np.sqrt(2 / hidden), (hidden, 1))
        self.b2 = np.zeros(1)

    def params(self):
        return [self.W1, self.b1, self.W2, self.b2]

    def logits(self, X):
        self.h = np.maximum(0, X @ self.W1 + self.b1)
        return (self.h @ self.W2 + self.b2).ravel()

    def loss(self, X, y):
        z = self.logits(X)
        return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))


def train_vh_classifier(X_train, y_train, X_val, y_val, rng):
    net = Net(rng)
    initial = [p.copy() for p in net.params()]
    state = [(np.zeros_like(p), np.zeros_like(p)) for p in net.params()]
    stopper = EarlyStopping(patience=20)
    train_losses, val_losses = [], []
    for t in range(1, 201):
        z = net.logits(X_train)
        dz = ((1 / (1 + np.exp(-z)) - y_train) / len(y_train))[:, None]
        dh = dz @ net.W2.T * (net.h > 0)
        grads = [X_train.T @ dh, dh.sum(0), net.h.T @ dz, dz.sum(0)]
        new = []
        for (m, v), p, g in zip(state, net.params(), grads, strict=True):
            m[...] = 0.9 * m + 0.1 * g
            v[...] = 0.999 * v + 0.001 * g * g
            new.append(p - 0.05 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8))
        net.W1, net.b1, net.W2, net.b2 = new
        train_losses.append(net.loss(X_train, y_train))
        val_losses.append(net.loss(X_val, y_val))
        if stopper.step(val_losses[-1], net.params()):
            break
    return {"weights": net.params(), "initial_weights": initial,
            "config": {"hidden": net.W1.shape[1], "lr": 0.05, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
            "train_losses": train_losses, "val_losses": val_losses, "best_epoch": stopper.best_epoch}
