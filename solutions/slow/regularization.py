"""A correct regularization solution with Python loops: L2 and dropout entry by entry, the capstone's
training sample by sample (slow, not wrong)."""

import math

import numpy as np


class EarlyStopping:
    def __init__(self, patience=5, min_delta=0.0, restore_best_weights=True):
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
            self.best_loss = float(val_loss)
            self.best_epoch = self.epoch
            self.best_weights = [np.array(w, dtype=float) for w in weights]
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        self.epoch += 1
        return self.bad_epochs >= self.patience


def l2_penalty(weights, lam):
    total = 0.0
    for w in weights:
        for value in np.asarray(w, dtype=float).flat:
            total += value * value
    return float(lam * total)


def l2_gradient(weights, lam):
    grads = []
    for w in weights:
        w = np.asarray(w, dtype=float)
        g = np.zeros(w.shape)
        for index in np.ndindex(w.shape):
            g[index] = 2.0 * lam * w[index]
        grads.append(g)
    return grads


def dropout_forward(x, p, rng, training=True):
    if not training:
        return x, None
    flat = np.asarray(x, dtype=float).reshape(-1)
    mask = np.zeros(flat.size)
    out = np.zeros(flat.size)
    for k in range(flat.size):
        if rng.random() >= p:  # kept with probability 1 - p
            mask[k] = 1.0
            out[k] = flat[k] / (1.0 - p)
    return out.reshape(np.shape(x)), mask.reshape(np.shape(x))


def _bce(z, y):
    # log(1 + e^z) - y z without overflow
    return max(z, 0.0) + math.log1p(math.exp(-abs(z))) - y * z


def _mean_loss(weights, X, y):
    W1, b1, W2, b2 = weights
    total = 0.0
    for n in range(len(X)):
        h = np.maximum(X[n] @ W1 + b1, 0.0)
        z = float(h @ W2[:, 0] + b2[0])
        total += _bce(z, y[n])
    return total / len(X)


def train_vh_classifier(X_train, y_train, X_val, y_val, rng):
    hidden, lr, beta1, beta2, eps = 8, 0.05, 0.9, 0.999, 1e-8
    X_train, X_val = np.asarray(X_train, dtype=float), np.asarray(X_val, dtype=float)
    y_train, y_val = np.asarray(y_train, dtype=float), np.asarray(y_val, dtype=float)
    W1 = rng.normal(0.0, np.sqrt(2 / 9), size=(9, hidden))
    W2 = rng.normal(0.0, np.sqrt(2 / hidden), size=(hidden, 1))
    weights = [W1, np.zeros(hidden), W2, np.zeros(1)]
    initial_weights = [w.copy() for w in weights]

    stopper = EarlyStopping(patience=10, min_delta=1e-4)
    m = [np.zeros_like(w) for w in weights]
    v = [np.zeros_like(w) for w in weights]
    train_losses, val_losses = [], []
    n_train = len(X_train)
    for epoch in range(200):
        W1, b1, W2, b2 = weights
        grads = [np.zeros_like(w) for w in weights]
        for n in range(n_train):  # forward and backward one sample at a time
            a = X_train[n] @ W1 + b1
            h = np.maximum(a, 0.0)
            z = float(h @ W2[:, 0] + b2[0])
            dz = (1.0 / (1.0 + math.exp(-z)) - y_train[n]) / n_train
            dh = W2[:, 0] * dz * (a > 0)
            grads[0] += np.outer(X_train[n], dh)
            grads[1] += dh
            grads[2][:, 0] += h * dz
            grads[3][0] += dz
        t = epoch + 1
        for i in range(4):
            m[i] = beta1 * m[i] + (1 - beta1) * grads[i]
            v[i] = beta2 * v[i] + (1 - beta2) * grads[i] ** 2
            m_hat = m[i] / (1 - beta1**t)
            v_hat = v[i] / (1 - beta2**t)
            weights[i] = weights[i] - lr * m_hat / (np.sqrt(v_hat) + eps)
        train_losses.append(_mean_loss(weights, X_train, y_train))
        val_losses.append(_mean_loss(weights, X_val, y_val))
        if stopper.step(val_losses[-1], weights):
            break

    return {
        "weights": stopper.best_weights,
        "initial_weights": initial_weights,
        "config": {"hidden": hidden, "lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps},
        "train_losses": train_losses,
        "val_losses": val_losses,
        "best_epoch": stopper.best_epoch,
    }
