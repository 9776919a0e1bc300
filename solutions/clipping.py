"""Gradient clipping: a safety net against exploding gradients.

When gradients explode, one bad step can throw the weights so far that the loss becomes
NaN. Clipping caps the size of the step before the optimizer takes it. You implement the
three classic ways, and the adaptive clipper of the lecture notes:

- clip by value: cap every entry at ±clip_value. Simple, but it changes the direction of
  the gradient (a large entry is cut, a small one is not).
- clip by norm: if the gradient's L2 norm ||g|| exceeds max_norm, scale the WHOLE tensor
  by max_norm / ||g||. The direction is preserved, only the length changes.
- clip by global norm: the same, with ONE norm computed over all tensors together,
  sqrt(sum of squares of every entry of every tensor), and ONE scale factor applied to all
  of them, so the update keeps its direction in the space of all parameters (this is
  what `torch.nn.utils.clip_grad_norm_` does).
- adaptive clipping: the threshold is not fixed but the `percentile`-th percentile of the
  global norms seen recently, so only the unusual spikes are cut.

A gradient whose norm is within the limit is returned unchanged (as a new array), and an
all-zero gradient stays zero: never divide by a zero norm.

Conventions: gradients are float64 NumPy arrays of any shape, passed as a list (one array
per parameter tensor) except for `clip_by_norm`, which takes one array. Every function
returns new arrays and never modifies the arrays it is given.
"""

from __future__ import annotations

import numpy as np


def clip_by_value(grads: list[np.ndarray], clip_value: float) -> list[np.ndarray]:
    """Clip every entry of every gradient to the interval [-clip_value, clip_value].

    Args:
        grads: list of gradient arrays, any shapes.
        clip_value: positive bound.

    Returns:
        a new list of new arrays, same shapes as `grads`; `grads` is not modified.
    """
    # BEGIN SOLUTION
    return [np.clip(g, -clip_value, clip_value) for g in grads]
    # END SOLUTION


def clip_by_norm(grad: np.ndarray, max_norm: float) -> np.ndarray:
    """Rescale one gradient tensor so that its L2 norm is at most `max_norm`.

    The norm is taken over all entries of the tensor (the Frobenius norm for a matrix).
    If it exceeds `max_norm`, the whole tensor is multiplied by max_norm / norm (its
    direction is kept); otherwise the gradient is returned unchanged. A zero gradient
    stays zero.

    Args:
        grad: gradient array, any shape.
        max_norm: positive bound on the norm.

    Returns:
        a new array of the same shape; `grad` is not modified.
    """
    # BEGIN SOLUTION
    norm = np.sqrt(np.sum(grad * grad))
    if norm <= max_norm:  # also covers norm == 0: no division by zero
        return grad.copy()
    return grad * (max_norm / norm)
    # END SOLUTION


def clip_by_global_norm(grads: list[np.ndarray], max_norm: float) -> tuple[list[np.ndarray], float]:
    """Rescale a list of gradients together so that their global L2 norm is at most `max_norm`.

    The global norm is sqrt(sum over all tensors of the sum of their squared entries).
    If it exceeds `max_norm`, every tensor is multiplied by the same factor
    max_norm / global_norm; otherwise the gradients are returned unchanged. All-zero
    gradients stay zero (no NaN).

    Args:
        grads: list of gradient arrays, any shapes.
        max_norm: positive bound on the global norm.

    Returns:
        clipped: a new list of new arrays, same shapes as `grads`; `grads` is not modified.
        global_norm: the global norm BEFORE clipping, a float.
    """
    # BEGIN SOLUTION
    global_norm = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
    if global_norm <= max_norm:
        return [g.copy() for g in grads], global_norm
    scale = max_norm / global_norm
    return [g * scale for g in grads], global_norm
    # END SOLUTION


class AdaptiveClipper:
    """Clip by global norm with a threshold taken from the recent history of norms.

    As in the lecture notes' AdaptiveGradientClipper, each call to `clip`:

    1. computes the global norm of the gradients (as in `clip_by_global_norm`);
    2. appends it to the history FIRST, then drops the oldest norms so that the history
       keeps only the last `history` of them;
    3. if the history now holds MORE than `warmup` norms, computes the threshold
       np.percentile(history, percentile) and, if the current norm exceeds it, scales all
       gradients by threshold / norm and reports that it clipped;
    4. otherwise returns the gradients unchanged.

    Args:
        percentile: percentile of the recent norms used as the threshold, in [0, 100].
        history: how many recent norms to keep.
        warmup: no clipping while the history holds `warmup` norms or fewer.
    """

    def __init__(self, percentile: float = 95, history: int = 100, warmup: int = 10) -> None:
        self.percentile = percentile
        self.history = history
        self.warmup = warmup
        self.norms: list[float] = []  # recent global norms, oldest first

    def clip(self, grads: list[np.ndarray]) -> tuple[list[np.ndarray], bool]:
        """Clip one step's gradients.

        Args:
            grads: list of gradient arrays, any shapes.

        Returns:
            clipped: a new list of new arrays, same shapes as `grads`; `grads` is not modified.
            was_clipped: True if and only if the gradients were scaled down at this step.
        """
        # BEGIN SOLUTION
        norm = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
        self.norms.append(norm)
        if len(self.norms) > self.history:
            self.norms = self.norms[-self.history :]
        if len(self.norms) > self.warmup:
            threshold = float(np.percentile(self.norms, self.percentile))
            if norm > threshold:
                scale = threshold / norm
                return [g * scale for g in grads], True
        return [g.copy() for g in grads], False
        # END SOLUTION
