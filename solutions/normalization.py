"""Batch normalization and layer normalization, forward and backward.

As a network trains, the distribution of each layer's inputs keeps moving (internal
covariate shift), and activations can drift into ranges where gradients vanish or explode.
Normalization layers re-centre and re-scale activations at every step:

    x_hat = (x - mean) / sqrt(var + eps)        out = gamma * x_hat + beta

`gamma` (scale) and `beta` (shift) are learned, so the layer can still represent any
distribution it needs. The two layers differ only in WHICH numbers they average over:

- Batch norm: for each feature, the mean and variance over the batch (axis 0). In training
  it uses the statistics of the current batch and keeps exponential running averages of
  them; at test time it uses those running averages, so a prediction does not depend on
  the other samples in the batch.
- Layer norm: for each sample, the mean and variance over its features (the last axis).
  It behaves the same in training and testing and works with a batch of one sample, which
  is why transformers and RNNs use it.

You implement each layer as a pair of functions in the CS231n style:
`*_forward(x, ...) -> (out, cache)` and `*_backward(dout, cache) -> (dx, dgamma, dbeta)`.
The cache is whatever your backward pass needs (any tuple or dict you like); the grader
passes it from your forward to your backward unchanged. Then you wrap batch norm in a small
layer class, `BatchNorm1d`, that behaves like `torch.nn.BatchNorm1d`.

Conventions:

- Arrays are float64. A batch is rows: `x` has shape (N, D), N samples with D features;
  `gamma` and `beta` have shape (D,).
- Variances in the forward passes are the biased ones (divide by N, or by D for layer
  norm), like `np.var`. Only `BatchNorm1d.running_var` stores the unbiased estimate
  (divide by N - 1), as PyTorch does.
- Do not modify your inputs in place (`x`, `gamma`, `beta`, `dout`): return new arrays.
"""

from __future__ import annotations

import numpy as np


def batchnorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5
) -> tuple[np.ndarray, object]:
    """Batch normalization forward pass, training mode (statistics of this batch).

    Args:
        x: (N, D) input, N samples with D features.
        gamma: (D,) scale.
        beta: (D,) shift.
        eps: added to the variance before the square root, for numerical stability.

    Returns:
        out: (N, D), gamma * (x - mean) / sqrt(var + eps) + beta, where mean and var are
            the per-feature mean and BIASED variance over the batch (axis 0).
            With N == 1 every x - mean is 0, so out equals beta (no NaN).
        cache: anything your `batchnorm_backward` needs.
    """
    # BEGIN SOLUTION
    mean = x.mean(axis=0)
    xc = x - mean
    var = (xc**2).mean(axis=0)
    std = np.sqrt(var + eps)
    x_hat = xc / std
    out = gamma * x_hat + beta
    cache = (x_hat, gamma.copy(), std)
    return out, cache
    # END SOLUTION


def batchnorm_backward(dout: np.ndarray, cache: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batch normalization backward pass.

    Remember that the batch mean and variance depend on every sample, so each x[i]
    influences every output in its column, not only out[i].

    Args:
        dout: (N, D) upstream gradient dL/dout.
        cache: what `batchnorm_forward` returned.

    Returns:
        dx: (N, D) gradient with respect to x.
        dgamma: (D,) gradient with respect to gamma.
        dbeta: (D,) gradient with respect to beta.
    """
    # BEGIN SOLUTION
    x_hat, gamma, std = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma
    # Compact form: project out the directions the batch mean and variance remove.
    dx = (dx_hat - dx_hat.mean(axis=0) - x_hat * (dx_hat * x_hat).mean(axis=0)) / std
    return dx, dgamma, dbeta
    # END SOLUTION


def layernorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5
) -> tuple[np.ndarray, object]:
    """Layer normalization forward pass (the same in training and testing).

    Args:
        x: (N, D) input, N samples with D features.
        gamma: (D,) scale, one per feature.
        beta: (D,) shift, one per feature.
        eps: added to the variance before the square root, for numerical stability.

    Returns:
        out: (N, D), gamma * (x - mean) / sqrt(var + eps) + beta, where mean and var are
            the mean and BIASED variance of each sample over its D features (the last
            axis), one pair per row.
        cache: anything your `layernorm_backward` needs.
    """
    # BEGIN SOLUTION
    mean = x.mean(axis=-1, keepdims=True)
    xc = x - mean
    var = (xc**2).mean(axis=-1, keepdims=True)
    std = np.sqrt(var + eps)
    x_hat = xc / std
    out = gamma * x_hat + beta
    cache = (x_hat, gamma.copy(), std)
    return out, cache
    # END SOLUTION


def layernorm_backward(dout: np.ndarray, cache: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layer normalization backward pass.

    Args:
        dout: (N, D) upstream gradient dL/dout.
        cache: what `layernorm_forward` returned.

    Returns:
        dx: (N, D) gradient with respect to x.
        dgamma: (D,) gradient with respect to gamma (gamma is shared by all samples).
        dbeta: (D,) gradient with respect to beta.
    """
    # BEGIN SOLUTION
    x_hat, gamma, std = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma
    # The same projection as batch norm, but each row is its own group.
    dx = (
        dx_hat
        - dx_hat.mean(axis=-1, keepdims=True)
        - x_hat * (dx_hat * x_hat).mean(axis=-1, keepdims=True)
    ) / std
    return dx, dgamma, dbeta
    # END SOLUTION


class BatchNorm1d:
    """Batch normalization layer for (N, D) inputs, behaving like `torch.nn.BatchNorm1d`.

    Attributes:
        gamma: (D,) scale, initialised to ones.
        beta: (D,) shift, initialised to zeros.
        running_mean: (D,) running estimate of the mean, initialised to zeros.
        running_var: (D,) running estimate of the variance, initialised to ones.
        momentum: weight of the new batch in the running estimates.
        eps: added to the variance before the square root.
    """

    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        self.num_features = num_features
        self.momentum = momentum
        self.eps = eps
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        """Normalize a batch.

        Training mode (`training=True`):
            - normalize with the batch mean and BIASED batch variance (like
              `batchnorm_forward`), then scale by `gamma` and shift by `beta`;
            - update the running statistics with the UNBIASED batch variance:
              running = (1 - momentum) * running + momentum * batch_statistic;
            - a batch of a single sample has no variance to estimate: raise ValueError
              (PyTorch does the same).
        Evaluation mode (`training=False`):
            - normalize with `running_mean` and `running_var`; do not change them. Works
              for any N >= 1.

        Args:
            x: (N, D) input.
            training: True for training mode, False for evaluation mode.

        Returns:
            out: (N, D) normalized, scaled and shifted input (x itself is not modified).
        """
        # BEGIN SOLUTION
        if training:
            n = x.shape[0]
            if n < 2:
                raise ValueError(f"Expected more than 1 value per channel when training, got {n} sample(s)")
            mean = x.mean(axis=0)
            var = x.var(axis=0)
            m = self.momentum
            self.running_mean = (1 - m) * self.running_mean + m * mean
            self.running_var = (1 - m) * self.running_var + m * var * n / (n - 1)
        else:
            mean, var = self.running_mean, self.running_var
        return self.gamma * (x - mean) / np.sqrt(var + self.eps) + self.beta
        # END SOLUTION
