"""Regularization: early stopping, L2 weight decay, dropout, and a V/H line classifier.

A network with enough parameters can memorize its training set: training loss keeps
falling while validation loss turns around and rises (overfitting). This assignment builds
the three remedies from the course notebook and then uses them on the notebook's V/H line
dataset (3x3 images of a vertical line, label 1, or a horizontal line, label 0, plus noise):

- **Early stopping** watches the validation loss after every epoch, remembers the best
  weights seen so far, and stops once `patience` epochs pass without an improvement.
  Training then *restores* the best weights, not the last ones.
- **L2 regularization** adds `lam * sum(w**2)` to the loss, so every weight also gets the
  gradient `2 * lam * w` (weight decay): large, memorizing weights are penalized.
- **Dropout** zeroes each activation with probability `p` during training. We use
  *inverted* dropout: kept activations are divided by `(1 - p)` during training so their
  expected value is unchanged, and at evaluation time the layer is the identity. (The
  notebook's description, scaling by `(1 - p)` at inference instead, gives the same
  expected activations; inverted dropout is what PyTorch and Keras do.)

Finally `train_vh_classifier` puts it together: a one-hidden-layer ReLU network with a
sigmoid output, He initialization, full-batch Adam and early stopping.

Conventions: arrays are float64; a batch is rows (`X` has shape `(N, 9)` for 3x3 images);
weights are used as `X @ W` with `W` of shape `(fan_in, fan_out)`; all randomness comes
from the `numpy.random.Generator` argument named `rng` (never `np.random.seed` or the
global `np.random` functions). You may import your own other assignment files when they
sit in the same submission folder (e.g. `from optimizers import Adam`).
"""

from __future__ import annotations

import numpy as np


class EarlyStopping:
    """Stop training when the validation loss stops improving; remember the best weights.

    Call `step(val_loss, weights)` once per epoch. A step is an *improvement* when
    `val_loss < best_loss - min_delta` (the very first step always is, since `best_loss`
    starts at infinity). On an improvement, `best_loss`, `best_epoch` and `best_weights`
    are updated and the count of steps without improvement is reset to 0; otherwise that
    count grows by 1. `step` returns True once `patience` steps in a row have passed
    without an improvement (e.g. with patience=2: improve, no, no -> False, False, True).

    `best_weights` holds **copies** of the arrays passed at the best step, so a training
    loop that later updates its weight arrays in place cannot change them. They are kept
    whatever `restore_best_weights` says; that flag only tells the training loop whether
    to put them back into the model when training stops.

    Attributes:
        patience, min_delta, restore_best_weights: the constructor arguments.
        best_loss: lowest validation loss that counted as an improvement (float, inf
            before the first step).
        best_epoch: 0-based index of the `step` call that set `best_loss` (-1 before the
            first step).
        best_weights: list of copies of the weights at `best_epoch` (None before the first
            step).
    """

    def __init__(self, patience: int = 5, min_delta: float = 0.0, restore_best_weights: bool = True) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best_weights = restore_best_weights
        self.best_loss = float("inf")
        self.best_epoch = -1
        self.best_weights: list[np.ndarray] | None = None
        # BEGIN SOLUTION
        self.steps_taken = 0
        self.steps_without_improvement = 0
        # END SOLUTION

    def step(self, val_loss: float, weights: list[np.ndarray]) -> bool:
        """Record one epoch's validation loss and weights.

        Args:
            val_loss: this epoch's validation loss (a float).
            weights: list of weight arrays at this epoch. Not modified; copied on an
                improvement.

        Returns:
            True when training should stop (`patience` steps in a row without
            improvement), else False.
        """
        # BEGIN SOLUTION
        epoch = self.steps_taken
        self.steps_taken += 1
        if val_loss < self.best_loss - self.min_delta:
            self.best_loss = float(val_loss)
            self.best_epoch = epoch
            self.best_weights = [np.array(w, dtype=float, copy=True) for w in weights]
            self.steps_without_improvement = 0
        else:
            self.steps_without_improvement += 1
        return self.steps_without_improvement >= self.patience
        # END SOLUTION


def l2_penalty(weights: list[np.ndarray], lam: float) -> float:
    """L2 penalty `lam * sum of w**2 over every entry of every array` (the notebook's λΣw²).

    Args:
        weights: list of arrays of any shapes.
        lam: regularization strength λ ≥ 0.

    Returns:
        the penalty as a Python float.
    """
    # BEGIN SOLUTION
    return float(lam * sum(np.sum(np.square(w)) for w in weights))
    # END SOLUTION


def l2_gradient(weights: list[np.ndarray], lam: float) -> list[np.ndarray]:
    """Gradient of `l2_penalty` with respect to each array: `2 * lam * w`.

    Args:
        weights: list of arrays of any shapes. Not modified.
        lam: regularization strength λ ≥ 0.

    Returns:
        list of new arrays, one per weight array, same shapes.
    """
    # BEGIN SOLUTION
    return [2.0 * lam * np.asarray(w, dtype=float) for w in weights]
    # END SOLUTION


def dropout_forward(
    x: np.ndarray, p: float, rng: np.random.Generator, training: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Inverted dropout.

    In training mode each entry of `x` is kept independently with probability `1 - p`
    (drawn from `rng`) and kept entries are scaled by `1 / (1 - p)`, so the expected value
    of every output equals the input. At evaluation time dropout does nothing.

    Args:
        x: activations, any shape, float64. Not modified.
        p: probability of DROPPING an entry, 0 <= p < 1.
        rng: the random generator to draw the mask from.
        training: True during training, False at evaluation time.

    Returns:
        (out, mask):
        training: mask is a float64 array shaped like x with 1.0 where the entry is kept
            and 0.0 where it is dropped; out = x * mask / (1 - p).
        not training: out = x (values unchanged) and mask is None; rng is not used.
    """
    # BEGIN SOLUTION
    if not training:
        return x, None
    mask = (rng.random(np.shape(x)) >= p).astype(float)  # kept with probability 1 - p
    return x * mask / (1.0 - p), mask
    # END SOLUTION


def train_vh_classifier(
    X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, rng: np.random.Generator
) -> dict:
    """Train a small MLP on V/H line images with He init, Adam and early stopping.

    The network: `h = relu(X @ W1 + b1)`, `prob = sigmoid(h @ W2 + b2)` = P(vertical),
    with W1 of shape (9, H), b1 (H,), W2 (H, 1), b2 (1,) for a hidden width H of your
    choice (8 is plenty). Initialize with He normal drawn from `rng`, as its first two
    draws: `W1 = rng.normal(0.0, sqrt(2 / 9), size=(9, H))`, then
    `W2 = rng.normal(0.0, sqrt(2 / H), size=(H, 1))`; biases start at zero. Train full
    batch with Adam on the mean binary cross-entropy of the training set: bias-corrected
    moments and one step counter t = 1, 2, ... per epoch, shared by all four parameters;
    the ReLU passes gradient only where its input is > 0 (relu'(0) = 0). After every epoch's
    update compute the mean binary cross-entropy on the training and on the validation
    set, and give the validation loss and the current weights to early stopping; when it
    says stop, restore the best weights.

    The width, learning rate, Adam's betas and eps, the number of epochs and early
    stopping's settings are yours to choose; report the ones the grader needs in "config":
    it replays your first epochs from your initial weights with them, so every part of the
    training (initialization, gradient, Adam step, losses) is checked, not only the result.
    Keep it quick: at most a few hundred epochs (the grader allows about a second).

    Args:
        X_train: (N, 9) float64 images (flattened 3x3, values in [0, 1]).
        y_train: (N,) labels, 1.0 for vertical, 0.0 for horizontal.
        X_val: (M, 9) validation images.
        y_val: (M,) validation labels.
        rng: random generator for the initialization (and anything else random).

    Returns:
        dict of plain data:
            "weights": [W1, b1, W2, b2], the best (restored) weights, float64 arrays;
            "initial_weights": [W1, b1, W2, b2] as initialized, before the first update
                (copies: later updates must not change them);
            "config": {"hidden": H, "lr": float, "beta1": float, "beta2": float,
                "eps": float}, the width and the Adam settings you trained with;
            "train_losses": list of floats, mean training BCE per epoch, after that epoch's
                update (train_losses[best_epoch] is the training loss of "weights");
            "val_losses": list of floats, mean validation BCE per epoch, the losses early
                stopping saw (val_losses[best_epoch] is the validation loss of "weights");
            "best_epoch": int, 0-based epoch whose weights are returned.
    """
    # BEGIN SOLUTION
    n_hidden, lr, beta1, beta2, eps = 8, 0.05, 0.9, 0.999, 1e-8
    max_epochs, patience, min_delta = 200, 10, 1e-4
    X_train, X_val = np.asarray(X_train, dtype=float), np.asarray(X_val, dtype=float)
    y_train = np.asarray(y_train, dtype=float).reshape(-1, 1)
    y_val = np.asarray(y_val, dtype=float).reshape(-1, 1)
    n_in = X_train.shape[1]

    weights = [
        rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_hidden)),  # He: std sqrt(2 / fan_in)
        np.zeros(n_hidden),
        rng.normal(0.0, np.sqrt(2.0 / n_hidden), size=(n_hidden, 1)),
        np.zeros(1),
    ]
    initial_weights = [w.copy() for w in weights]

    def forward(params: list[np.ndarray], X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        W1, b1, W2, b2 = params
        h = np.maximum(0.0, X @ W1 + b1)
        return h, h @ W2 + b2

    def bce(logits: np.ndarray, y: np.ndarray) -> float:
        # log(1 + e^z) - y z: the BCE of sigmoid(z), without overflow or log(0) for large |z|
        return float(np.mean(np.logaddexp(0.0, logits) - y * logits))

    stopper = EarlyStopping(patience=patience, min_delta=min_delta)
    m = [np.zeros_like(w) for w in weights]
    v = [np.zeros_like(w) for w in weights]
    train_losses: list[float] = []
    val_losses: list[float] = []
    h, logits = forward(weights, X_train)
    for t in range(1, max_epochs + 1):
        # backward pass of the mean BCE: d/dz = sigmoid(z) - y, then through W2 and the ReLU
        dz = (1.0 / (1.0 + np.exp(-logits)) - y_train) / len(X_train)
        dh = (dz @ weights[2].T) * (h > 0)
        grads = [X_train.T @ dh, dh.sum(axis=0), h.T @ dz, dz.sum(axis=0)]
        for i, g in enumerate(grads):  # Adam, one step counter t for all parameters
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            m_hat, v_hat = m[i] / (1 - beta1**t), v[i] / (1 - beta2**t)
            weights[i] = weights[i] - lr * m_hat / (np.sqrt(v_hat) + eps)

        h, logits = forward(weights, X_train)  # also next epoch's forward pass
        train_losses.append(bce(logits, y_train))
        val_losses.append(bce(forward(weights, X_val)[1], y_val))
        if stopper.step(val_losses[-1], weights):
            break

    return {
        "weights": [w.copy() for w in stopper.best_weights],  # restore the best epoch's weights
        "initial_weights": initial_weights,
        "config": {"hidden": n_hidden, "lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps},
        "train_losses": train_losses,
        "val_losses": val_losses,
        "best_epoch": int(stopper.best_epoch),
    }
    # END SOLUTION
